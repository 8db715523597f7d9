#!/usr/bin/env bash
# The project's test command, run by CI as it is: formatting, go vet, the whole
# suite under the race detector, the end-to-end suite with real clients, then
# a short run of every fuzz target of the parsers and converters (their seed
# corpora already ran as plain tests).
#
#   FUZZTIME=30s scripts/test.sh    fuzz longer
#   FUZZTIME=0 scripts/test.sh      skip the fuzzing runs
#   E2E=0 scripts/test.sh           skip the end-to-end suite (needs Node 20+)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
# The Go files of the project: git's list in a checkout; outside one (a
# release tarball, a container build context) every .go file but testdata.
# stdin is closed so that gofmt never waits on it for an empty list.
gofiles=$(bash scripts/gofiles.sh </dev/null)
if [ -z "$gofiles" ]; then
	echo "no Go files found under $(pwd)"
	exit 1
fi
# shellcheck disable=SC2086 # one file name a word; none has blanks
unformatted=$(gofmt -l $gofiles </dev/null)
if [ -n "$unformatted" ]; then
	echo "files need gofmt:"
	echo "$unformatted"
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== go mod tidy -diff"
go mod tidy -diff

echo "== go test -race"
go test -race -timeout 20m ./...

# The deployment checks render and load deploy/ with kustomize, compose-go
# and the Kubernetes API libraries; they are a module of their own so that
# none of those becomes a dependency of the gateway.
echo "== deploy/check"
(cd deploy/check && go vet ./... && go test -count=1 -timeout 10m ./...)

# Real clients (Claude Code, the Vercel AI SDK, LangChain JS, the official
# SDKs) against the gateway and the mock upstream on loopback, installed
# from the committed lockfile. No install scripts run: the suite starts
# Claude Code's native binary from its platform package. E2E=0 skips it, for
# a machine without Node.
if [ "${E2E:-1}" != "0" ]; then
	echo "== end-to-end suite with real clients"
	(cd scripts/e2e && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && node run.mjs)
fi

fuzztime=${FUZZTIME:-3s}
if [ "$fuzztime" = "0" ]; then
	exit 0
fi
echo "== fuzzing each target for $fuzztime"
fuzz() { go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s "$pkg" 2>&1; }
for pkg in ./converter ./converter/sse ./bus; do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "-- $pkg $target"
		if ! out=$(fuzz); then
			# Go's fuzzing coordinator can end a short run with "context
			# deadline exceeded" when a worker is slow to stop, without any
			# failing input. That run is repeated once; a real failure
			# writes its input and fails again.
			if grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
				echo "   (fuzzing stopped without a failing input; once more)"
				out=$(fuzz) || { echo "$out"; exit 1; }
			else
				echo "$out"
				exit 1
			fi
		fi
	done
done
echo "all tests passed"
