#!/usr/bin/env bash
# Runs the published benchmarks (docs/benchmarks.md) on this machine: the
# gateway in front of the mock upstream, measured by the repo's load tool in
# A/B rounds against the mock itself, so machine drift cancels out.
#
#   scripts/bench.sh [OUTDIR [GROUP...]]   # default OUTDIR: bench-results
#   DURATION=10s CONC=50 scripts/bench.sh
#   scripts/bench.sh /tmp/bench realistic  # one group only
#
# Groups, in the order a full run takes them (about 25 minutes with the
# defaults on a 2-core machine; it prints how long it took):
#   single     the single process: JSON and streams, each format and conversion, 50 and 1 connections
#   one-cpu    the same process limited to one CPU (GOMAXPROCS=1)
#   access     access control on
#   split      NATS, one worker process and one ingress process
#   overload   3x the upstream's capacity
#   held       memory per held stream at STREAMS (default 100 1000 10000) open streams
#   realistic  REALISTIC_STREAMS (default 200) concurrent streams of 200 events 20 ms apart:
#              CPU per event, memory per stream, delay added to each event
#
# Everything runs on loopback and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-results}
shift || true
all_groups="single one-cpu access split overload held realistic"
groups=${*:-$all_groups}
for g in $groups; do
	case " $all_groups " in
	*" $g "*) ;;
	*) echo "unknown group $g; groups: $all_groups" >&2; exit 2 ;;
	esac
done
duration=${DURATION:-10s}
conc=${CONC:-50}
rounds=${ROUNDS:-2}
mkdir -p "$out"
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$bin"' EXIT
ulimit -n 65536 2>/dev/null || true

echo "building..."
go build -o "$bin/gateway" ./cmd/gateway
go build -o "$bin/mockupstream" ./cmd/mockupstream
go build -o "$bin/loadgen" ./cmd/loadgen
go build -o "$bin/nats-server" github.com/nats-io/nats-server/v2

wait_http() { for _ in $(seq 100); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "$1 did not come up" >&2; return 1; }
# The mock echoes the prompt, one character per event at most: 200
# characters give 200 content events.
long_prompt=$(printf 'token %.0s' $(seq 34))
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

"$bin/mockupstream" -addr 127.0.0.1:9090 -chunks 20 >"$out/mock.log" 2>&1 &
mock_pid=$!
wait_http http://127.0.0.1:9090/health

# start_gateway NAME [ENV...]: the single-process gateway on :8080.
start_gateway() {
	local name=$1
	shift
	env GATEWAY_UPSTREAMS_OPENAI_URL=http://127.0.0.1:9090 GATEWAY_UPSTREAMS_ANTHROPIC_URL=http://127.0.0.1:9090 \
		GATEWAY_UPSTREAMS_OPENAI_CONCURRENCY=256 GATEWAY_UPSTREAMS_ANTHROPIC_CONCURRENCY=256 \
		GATEWAY_UPSTREAMS_OPENAI_QUEUE_SIZE=4096 GATEWAY_UPSTREAMS_ANTHROPIC_QUEUE_SIZE=4096 \
		GATEWAY_BUS_STORE_DIR="$bin/data-$name" GATEWAY_BUS_MONITOR= "$@" \
		"$bin/gateway" ${gw_config:+--config "$gw_config"} >"$out/gateway-$name.log" 2>&1 &
	gw_pid=$!
	wait_http http://127.0.0.1:8080/health
}
stop_gateway() { kill "$gw_pid"; wait "$gw_pid" 2>/dev/null || true; }

# scenario NAME PID LOADGEN-ARGS...: one A/B measurement, JSON in OUTDIR.
scenario() {
	local name=$1 pid=$2
	shift 2
	echo "== $name"
	local before after
	before=$(cpu_ticks "$pid")
	"$bin/loadgen" -direct http://127.0.0.1:9090 -rounds "$rounds" -duration "$duration" \
		-rss-pid "$pid" -json "$out/$name.json" "$@" | tee "$out/$name.txt"
	after=$(cpu_ticks "$pid")
	echo "gateway CPU ticks (1/100 s) during $name: $((after - before))" | tee -a "$out/$name.txt"
}

group_single() {
	start_gateway single
	scenario openai-c$conc "$gw_pid" -c "$conc"
	scenario openai-c1 "$gw_pid" -c 1
	scenario openai-stream-c$conc "$gw_pid" -c "$conc" -stream
	scenario openai-stream-c1 "$gw_pid" -c 1 -stream
	scenario anthropic-c$conc "$gw_pid" -c "$conc" -shape anthropic
	scenario anthropic-stream-c$conc "$gw_pid" -c "$conc" -shape anthropic -stream
	scenario openai-to-anthropic-c$conc "$gw_pid" -c "$conc" -path /anthropic/v1/chat/completions -direct-path /v1/chat/completions
	scenario openai-to-anthropic-c1 "$gw_pid" -c 1 -path /anthropic/v1/chat/completions -direct-path /v1/chat/completions
	scenario openai-to-anthropic-stream-c$conc "$gw_pid" -c "$conc" -stream -path /anthropic/v1/chat/completions -direct-path /v1/chat/completions
	scenario anthropic-to-openai-c$conc "$gw_pid" -c "$conc" -shape anthropic -path /openai/v1/messages -direct-path /v1/messages
	scenario anthropic-to-openai-stream-c$conc "$gw_pid" -c "$conc" -shape anthropic -stream -path /openai/v1/messages -direct-path /v1/messages
	echo "RSS of the gateway after load: $(grep VmRSS /proc/$gw_pid/status)" | tee "$out/rss-after.txt"
	stop_gateway
}

# The same gateway on one CPU, as in a container limited to one CPU (Go
# sizes GOMAXPROCS to the CPU quota): on a small machine shared with the
# load generator and the mock, hand-offs between goroutines stay on one core.
group_one_cpu() {
	start_gateway one-cpu GOMAXPROCS=1
	scenario one-cpu-openai-c$conc "$gw_pid" -c "$conc"
	scenario one-cpu-openai-c1 "$gw_pid" -c 1
	scenario one-cpu-openai-stream-c$conc "$gw_pid" -c "$conc" -stream
	scenario one-cpu-openai-stream-c1 "$gw_pid" -c 1 -stream
	scenario one-cpu-openai-to-anthropic-c$conc "$gw_pid" -c "$conc" -path /anthropic/v1/chat/completions -direct-path /v1/chat/completions
	scenario one-cpu-openai-to-anthropic-stream-c$conc "$gw_pid" -c "$conc" -stream -path /anthropic/v1/chat/completions -direct-path /v1/chat/completions
	echo "RSS of the gateway after load: $(grep VmRSS /proc/$gw_pid/status)" | tee "$out/rss-after-one-cpu.txt"
	stop_gateway
}

# Access control on: one key, limits far above the load.
group_access() {
	cat >"$bin/access.toml" <<'TOML'
[access]
enabled = true
[[access.keys]]
name = "bench"
key_env = "BENCH_KEY"
requests_per_minute = 100000000
tokens_per_minute = 100000000000
quota_tokens = 100000000000000
TOML
	sed "/^\[access\]/,/^\$/d" config/default.toml | cat - "$bin/access.toml" >"$bin/gateway-access.toml"
	gw_config="$bin/gateway-access.toml" start_gateway access BENCH_KEY=sk-bench-key
	scenario access-openai-c$conc "$gw_pid" -c "$conc" -header "Authorization:Bearer sk-bench-key"
	scenario access-openai-c1 "$gw_pid" -c 1 -header "Authorization:Bearer sk-bench-key"
	stop_gateway 2>/dev/null || true
}

# Split mode: NATS, one worker process and one ingress process on loopback.
group_split() {
	"$bin/nats-server" -a 127.0.0.1 -p 4222 -js -sd "$bin/nats-js" >"$out/nats.log" 2>&1 &
	nats_pid=$!
	sleep 0.5
	split_env=(GATEWAY_BUS_URL=nats://127.0.0.1:4222 GATEWAY_BUS_STORE_DIR="$bin/data-split"
		GATEWAY_UPSTREAMS_OPENAI_URL=http://127.0.0.1:9090 GATEWAY_UPSTREAMS_ANTHROPIC_URL=http://127.0.0.1:9090
		GATEWAY_UPSTREAMS_OPENAI_CONCURRENCY=256 GATEWAY_UPSTREAMS_OPENAI_QUEUE_SIZE=4096
		GATEWAY_UPSTREAMS_ANTHROPIC_CONCURRENCY=256 GATEWAY_UPSTREAMS_ANTHROPIC_QUEUE_SIZE=4096)
	env "${split_env[@]}" GATEWAY_SERVER_PORT=8091 "$bin/gateway" worker >"$out/gateway-split-worker.log" 2>&1 &
	worker_pid=$!
	env "${split_env[@]}" GATEWAY_SERVER_PORT=8080 "$bin/gateway" ingress >"$out/gateway-split-ingress.log" 2>&1 &
	gw_pid=$!
	wait_http http://127.0.0.1:8080/health
	sleep 1
	scenario split-openai-c$conc "$gw_pid" -c "$conc"
	scenario split-openai-c1 "$gw_pid" -c 1
	scenario split-openai-stream-c$conc "$gw_pid" -c "$conc" -stream
	stop_gateway
	kill "$worker_pid"; wait "$worker_pid" 2>/dev/null || true
	kill "$nats_pid"; wait "$nats_pid" 2>/dev/null || true
}

# Overload: capacity is 16 slots x 100 ms = 160 requests/s; offer 3x that
# for 20 s. Accepted requests must all complete; the rest are refused at once.
group_overload() {
	"$bin/mockupstream" -addr 127.0.0.1:9093 -latency 100ms >"$out/mock-overload.log" 2>&1 &
	overload_mock=$!
	wait_http http://127.0.0.1:9093/health
	env GATEWAY_UPSTREAMS_OPENAI_URL=http://127.0.0.1:9093 GATEWAY_UPSTREAMS_OPENAI_CONCURRENCY=16 \
		GATEWAY_UPSTREAMS_OPENAI_QUEUE_SIZE=32 GATEWAY_UPSTREAMS_OPENAI_QUEUE_TIMEOUT=2s \
		GATEWAY_BUS_STORE_DIR="$bin/data-overload" GATEWAY_BUS_MONITOR= "$bin/gateway" >"$out/gateway-overload.log" 2>&1 &
	gw_pid=$!
	wait_http http://127.0.0.1:8080/health
	echo "== overload: 480 requests/s against a capacity of 160/s"
	"$bin/loadgen" -rate 480 -c 600 -duration 20s -rss-pid "$gw_pid" -json "$out/overload.json" | tee "$out/overload.txt"
	stop_gateway
	kill "$overload_mock"
}

# Memory per held stream: streams that stay open a minute (200 events 300 ms
# apart), N at once; the measured window falls inside every stream's life, so
# the figure is what open streams cost, not what new ones do.
group_held() {
	"$bin/mockupstream" -addr 127.0.0.1:9092 -chunks 600 -gap 300ms >"$out/mock-slow.log" 2>&1 &
	local slow_mock=$!
	wait_http http://127.0.0.1:9092/health
	for n in ${STREAMS:-100 1000 10000}; do
		env GATEWAY_UPSTREAMS_OPENAI_URL=http://127.0.0.1:9092 GATEWAY_UPSTREAMS_OPENAI_CONCURRENCY=$((n + 16)) \
			GATEWAY_UPSTREAMS_OPENAI_QUEUE_SIZE=$((n + 16)) GATEWAY_BUS_STORE_DIR="$bin/data-held-$n" GATEWAY_BUS_MONITOR= \
			GATEWAY_SERVER_ACCESS_LOG=false "$bin/gateway" >"$out/gateway-held-$n.log" 2>&1 &
		gw_pid=$!
		wait_http http://127.0.0.1:8080/health
		idle=$(grep VmRSS /proc/$gw_pid/status | awk '{print $2}')
		echo "== held streams: $n"
		"$bin/loadgen" -c "$n" -stream -prompt "$long_prompt" -max-tokens 1000 -warmup 15s -duration 5s -timeout 120s -rss-pid "$gw_pid" -json "$out/held-$n.json" >"$out/held-$n.txt" 2>&1 || true
		peak=$(grep -o '"max_kb":[0-9]*' "$out/held-$n.json" | head -1 | cut -d: -f2)
		echo "streams=$n idle_rss_kb=$idle peak_rss_kb=${peak:-?} per_stream_kb=$(( (${peak:-0} - idle) / n ))" | tee -a "$out/held.txt"
		stop_gateway
	done
	kill "$slow_mock"
}

# Realistic streams: N streams at once, each 200 events 20 ms apart (4 s), as
# a model writing at 50 tokens/s; against the mock paced the same way, so the
# gap comparison is the delay the gateway adds to each event. CPU per event
# is the gateway's CPU in the measured window over the events received in it.
group_realistic() {
	local n=${REALISTIC_STREAMS:-200}
	"$bin/mockupstream" -addr 127.0.0.1:9094 -chunks 200 -gap 20ms >"$out/mock-realistic.log" 2>&1 &
	local paced_mock=$!
	wait_http http://127.0.0.1:9094/health
	env GATEWAY_UPSTREAMS_OPENAI_URL=http://127.0.0.1:9094 GATEWAY_UPSTREAMS_OPENAI_CONCURRENCY=$((n + 16)) \
		GATEWAY_UPSTREAMS_OPENAI_QUEUE_SIZE=$((n + 16)) GATEWAY_BUS_STORE_DIR="$bin/data-realistic" GATEWAY_BUS_MONITOR= \
		"$bin/gateway" >"$out/gateway-realistic.log" 2>&1 &
	gw_pid=$!
	wait_http http://127.0.0.1:8080/health
	local idle
	idle=$(grep VmRSS /proc/$gw_pid/status | awk '{print $2}')
	echo "== realistic streams: $n at once, 200 events 20 ms apart"
	"$bin/loadgen" -direct http://127.0.0.1:9094 -rounds "$rounds" -c "$n" -stream -prompt "$long_prompt" -max-tokens 1000 -warmup 5s -duration "${REALISTIC_DURATION:-20s}" \
		-timeout 60s -rss-pid "$gw_pid" -json "$out/realistic.json" | tee "$out/realistic.txt"
	local peak
	peak=$(grep -o '"max_kb":[0-9]*' "$out/realistic.json" | head -1 | cut -d: -f2)
	echo "streams=$n idle_rss_kb=$idle peak_rss_kb=${peak:-?} per_stream_kb=$(( (${peak:-0} - idle) / n ))" | tee -a "$out/realistic.txt"
	stop_gateway
	kill "$paced_mock"
}

for g in $groups; do
	"group_${g//-/_}"
done
kill "$mock_pid" 2>/dev/null || true
echo "took $((SECONDS / 60))m $((SECONDS % 60))s; results in $out/"
