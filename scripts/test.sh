#!/usr/bin/env bash
# The project's test command, run by CI as it is: formatting, go vet, the whole
# suite under the race detector, then a short run of every fuzz target of the
# parsers and converters (their seed corpora already ran as plain tests).
#
#   FUZZTIME=30s scripts/test.sh    fuzz longer
#   FUZZTIME=0 scripts/test.sh      skip the fuzzing runs
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "files need gofmt:"
	echo "$unformatted"
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -timeout 20m ./...

# The deployment checks render and load deploy/ with kustomize, compose-go
# and the Kubernetes API libraries; they are a module of their own so that
# none of those becomes a dependency of the gateway.
echo "== deploy/check"
(cd deploy/check && go vet ./... && go test -count=1 -timeout 10m ./...)

fuzztime=${FUZZTIME:-3s}
if [ "$fuzztime" = "0" ]; then
	exit 0
fi
echo "== fuzzing each target for $fuzztime"
for pkg in ./converter ./converter/sse ./bus; do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "-- $pkg $target"
		if ! out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s "$pkg" 2>&1); then
			echo "$out"
			exit 1
		fi
	done
done
echo "all tests passed"
