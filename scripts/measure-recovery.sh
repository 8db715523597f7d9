#!/usr/bin/env bash
# Measures how the gateway recovers from faults, with the tests of
# cmd/gateway/internal/app that provoke them (they log what they measure and assert
# no timing), and prints each figure and a summary per measurement:
#
#   nats-restart    an external NATS server restarted under an ingress and
#                   a worker process: time to the first successful requests
#                   (both APIs), two restarts per run
#   cluster-restart all three nodes of a NATS cluster stopped and started
#                   again with empty stores: time to the first successful
#                   requests once they are back
#   full-disk       the disk under the JetStream store filled, keyed requests
#                   refused with 503, the space freed: time until keyed
#                   requests are served again (needs root for a tmpfs mount)
#   slow-readers    64 clients that never read against 8 upstream slots, kept
#                   up for SLOW_READERS_FOR (default 5m): slots held by slow
#                   streams over time, normal requests served
#
#   scripts/measure-recovery.sh                 all, 3 runs of each restart
#   RUNS=10 scripts/measure-recovery.sh nats-restart full-disk
#   SLOW_READERS_FOR=1m scripts/measure-recovery.sh slow-readers
#
# Figures depend on the machine and on what else runs on it; the logs of
# every run are kept in $MEASURELOGS (default: a temporary directory).
set -uo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-3}
logs=${MEASURELOGS:-$(mktemp -d)}
mkdir -p "$logs"
which=("$@")
if [ ${#which[@]} -eq 0 ]; then
	which=(nats-restart cluster-restart full-disk slow-readers)
fi

# seconds converts Go durations (1m2.5s, 850ms, 12µs) read on stdin, one a
# line, to seconds.
seconds() {
	awk '{
		s = 0; d = $1
		while (match(d, /^[0-9.]+(h|ms|µs|us|ns|m|s)/)) {
			tok = substr(d, 1, RLENGTH); d = substr(d, RLENGTH + 1)
			match(tok, /[0-9.]+/); v = substr(tok, RSTART, RLENGTH); u = substr(tok, RLENGTH + 1)
			if (u == "h") s += v * 3600; else if (u == "m") s += v * 60; else if (u == "s") s += v
			else if (u == "ms") s += v / 1000; else if (u == "µs" || u == "us") s += v / 1e6; else s += v / 1e9
		}
		printf "%.3f\n", s
	}'
}

# summary prints count, min, median and max of the seconds on stdin.
summary() {
	sort -n | awk -v what="$1" '{ v[NR] = $1 } END {
		if (NR == 0) { printf "%-16s no figures\n", what; exit }
		printf "%-16s %d figures: min %.2fs, median %.2fs, max %.2fs\n", what, NR, v[1], v[int((NR + 1) / 2)], v[NR]
	}'
}

gotest() { # name, test, count, extra env...
	local name=$1 test=$2 count=$3
	shift 3
	local log="$logs/$name.log"
	env "$@" go test -count="$count" -timeout 60m -run "^${test}\$" -v ./cmd/gateway/internal/app >"$log" 2>&1
	local rc=$?
	if [ $rc -ne 0 ]; then
		echo "$name: go test failed (exit $rc), see $log" >&2
	fi
	echo "$log"
}

failed=0
for m in "${which[@]}"; do
	case $m in
	nats-restart)
		log=$(gotest "$m" TestSplitModeSurvivesNATSRestart "$runs") || failed=1
		grep -o 'first successful requests [^ ]* after the NATS server restarted' "$log" | sed 's/^/  /'
		grep -o 'first successful requests [^ ]*' "$log" | awk '{print $4}' | seconds | summary "$m"
		;;
	cluster-restart)
		log=$(gotest "$m" TestSplitModeSurvivesClusterRestart "$runs") || failed=1
		grep -o 'first successful requests .* after it stopped)' "$log" | sed 's/^/  /'
		grep -o 'first successful requests [^ ]*' "$log" | awk '{print $4}' | seconds | summary "$m"
		;;
	full-disk)
		log=$(gotest "$m" TestAccessStoreRecoversFromFullDisk "$runs") || failed=1
		grep -o 'served again [^ ]* after the disk was freed' "$log" | sed 's/^/  /'
		grep -o 'served again [^ ]*' "$log" | awk '{print $3}' | seconds | summary "$m"
		;;
	slow-readers)
		log=$(gotest "$m" TestSlowReadersCannotStarveUpstream 1 SLOW_READERS_FOR="${SLOW_READERS_FOR:-5m}") || failed=1
		grep -o '[0-9]* slow readers, [^:]*' "$log" | sed 's/^/  /'
		echo "  one-second samples of busy upstream slots (slots: samples):"
		grep -o '[0-9]* slow readers, .*' "$log" | tr ' ' '\n' | grep -E '^[0-9]+s:[0-9]+$' |
			awk -F: '{ n++; c[$2]++ } END { for (k in c) printf "    %s: %d of %d\n", k, c[k], n }' | sort -n -k1
		grep -o 'normal client served in [^ ]*' "$log" | awk '{print $5}' | seconds | summary "normal requests"
		;;
	*)
		echo "unknown measurement $m" >&2
		failed=1
		;;
	esac
done
echo "logs in $logs"
[ "$failed" -eq 0 ]
