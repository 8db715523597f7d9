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

echo "== go test -race"
go test -race -timeout 20m ./...

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
