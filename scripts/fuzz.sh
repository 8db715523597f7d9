#!/usr/bin/env bash
# Fuzzes every fuzz target in the repository, one after the other, for a
# chosen time each, and prints one line per target with the time it ran and
# its outcome. Not part of CI (scripts/test.sh runs a few seconds of the
# parser targets); meant for a long run before a release or after a change
# to a parser.
#
#   scripts/fuzz.sh                 5 minutes per target
#   FUZZTIME=2m scripts/fuzz.sh     2 minutes per target
#   scripts/fuzz.sh ./converter/... only the packages matching the pattern
#   FUZZPARALLEL=1 scripts/fuzz.sh  one fuzzing worker (default: all cores)
#   FUZZSKIP='^FuzzA$' scripts/fuzz.sh  leave out the targets matching the regexp
#
# A failing input is kept under the package's testdata/fuzz/<Target>/ by go
# test, so that it becomes a seed corpus entry once committed; the script
# goes on with the next target and exits 1 at the end if any target failed.
# Logs of each run are in $FUZZLOGS (default: a temporary directory).
set -uo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-5m}
logs=${FUZZLOGS:-$(mktemp -d)}
mkdir -p "$logs"
parallel=()
if [ -n "${FUZZPARALLEL:-}" ]; then
	parallel=(-parallel "$FUZZPARALLEL")
fi
patterns=("$@")
if [ ${#patterns[@]} -eq 0 ]; then
	patterns=(./...)
fi

failed=0
total=0
printf '%-34s %-44s %9s  %s\n' package target seconds result
for pkg in $(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' "${patterns[@]}"); do
	# -list runs no test, but it builds the package's tests once.
	for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		if [ -n "${FUZZSKIP:-}" ] && [[ $target =~ $FUZZSKIP ]]; then
			continue
		fi
		total=$((total + 1))
		log="$logs/$(basename "$pkg")-$target.log"
		start=$(date +%s)
		if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 30s "${parallel[@]}" "$pkg" >"$log" 2>&1; then
			result=ok
		else
			result="FAIL (see $log)"
			failed=$((failed + 1))
		fi
		printf '%-34s %-44s %9d  %s\n' "${pkg#github.com/aigateway/gateway/}" "$target" $(($(date +%s) - start)) "$result"
	done
done
echo "$total targets fuzzed for $fuzztime each, $failed failed; logs in $logs"
[ "$failed" -eq 0 ]
