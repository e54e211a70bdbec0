#!/bin/sh
# End-to-end throughput through Redis Streams: wrk posts a 4 KB
# message_created to 2 receivers (redis sink), one redis-server holds the
# stream, 2 workers (--worker, one consumer group) write each event to a
# file sink. Counts every event from wrk's first request to the moment
# the workers have processed all that the receivers accepted, and checks
# that none was lost or ran twice. Prints one line. Loopback only; each
# process is started here and stopped at the end.
#
# Environment: BUILD (build), BENCH_SECONDS (5), BENCH_CONNS (32, split
# over the receivers), BENCH_CONVERSATIONS (64: the requests cycle through
# that many conversations, see bench/post.lua), BENCH_SPOOL=1 to give the
# receivers a durable spool, BENCH_KEEP=1 to keep the work directory.
set -eu

BUILD=${BUILD:-build}
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNS:-32}
CONVS=${BENCH_CONVERSATIONS:-64}
top=$(cd "$(dirname "$0")/.." && pwd)
daemon=$top/$BUILD/livedesk-webhookd
payload=$top/bench/message_created_4k.json
work=$(mktemp -d /tmp/ld-bench-redis.XXXXXX)
PIDS=

say() { printf '%s\n' "$*" >&2; }

[ -x "$daemon" ] || { say "bench/redis.sh: $daemon is missing: make"; exit 1; }
for p in wrk redis-server redis-cli curl; do
	command -v $p >/dev/null || { say "bench/redis.sh: $p is missing"; exit 1; }
done

cleanup() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	[ "${BENCH_KEEP:-0}" = 1 ] && say "bench/redis.sh: kept $work" ||
	    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n 8192 2>/dev/null || true

# A port below the ephemeral range that nothing listens on.
next_port=$((23000 + $$ % 3000))
pick_port() {
	while :; do
		PORT=$next_port
		next_port=$((next_port + 1))
		rc=0
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/" || rc=$?
		[ $rc -ne 7 ] || return 0
	done
}

# wait_for TEST...: up to 10 s.
wait_for() {
	i=0
	until "$@"; do
		i=$((i + 1))
		[ $i -lt 200 ] || { say "bench/redis.sh: timed out: $*"; exit 1; }
		sleep 0.05
	done
}

pick_port
RPORT=$PORT
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --dir "$work" >"$work/redis.out" 2>&1 &
PIDS="$PIDS $!"
rcli() { redis-cli -p "$RPORT" "$@"; }
wait_for sh -c "redis-cli -p $RPORT PING 2>/dev/null | grep -q PONG"

spool=
[ "${BENCH_SPOOL:-0}" = 1 ] && spool="spool_dir = $work/spool-%s"

for n in 1 2; do
	pick_port
	eval "P$n=$PORT"
	# shellcheck disable=SC2059
	cat >"$work/recv$n.conf" <<EOF
[server]
listen = 127.0.0.1:$PORT
http_threads = 2
queue_size = 100000
queue_bytes = 1G
$(printf "$spool" "$n")

# Different conversations go to the stream side by side; one
# conversation's events one at a time, in order.
[sink stream]
type = redis
url = redis://127.0.0.1:$RPORT
concurrency = 4
retries = 1000
retry_base = 100ms
retry_cap = 5s
EOF
	"$daemon" -c "$work/recv$n.conf" >"$work/recv$n.out" 2>&1 </dev/null &
	PIDS="$PIDS $!"
	cat >"$work/work$n.conf" <<EOF
[server]
queue_size = 1000

[source]
url = redis://127.0.0.1:$RPORT
batch = 200

[sink archive]
type = file
path = $work/worker$n.jsonl
concurrency = 4
EOF
	: >"$work/worker$n.jsonl"
	"$daemon" -c "$work/work$n.conf" --worker="bench-$n" \
	    >"$work/worker$n.out" 2>&1 </dev/null &
	PIDS="$PIDS $!"
done
wait_for curl -s -o /dev/null "http://127.0.0.1:$P1/healthz"
wait_for curl -s -o /dev/null "http://127.0.0.1:$P2/healthz"
wait_for grep -q "as consumer" "$work/worker1.out"
wait_for grep -q "as consumer" "$work/worker2.out"

lines() { cat "$work/worker1.jsonl" "$work/worker2.jsonl" | wc -l; }
now_ms() { date +%s%3N; }

half=$((CONNS / 2))
[ "$half" -ge 1 ] || half=1
t0=$(now_ms)
for n in 1 2; do
	eval "port=\$P$n"
	BENCH_BODY=$payload BENCH_CONVERSATIONS=$CONVS wrk -t1 -c"$half" -d"${SECS}s" --timeout 10s \
	    -s "$top/bench/post.lua" "http://127.0.0.1:$port/webhook" \
	    >"$work/wrk$n.out" 2>&1 &
	eval "W$n=\$!"
done
wait "$W1" "$W2" || true
# Everything the receivers accepted is in the stream once their queues
# are empty; then wait for the workers (at most 120 s).
wait_for sh -c "[ \"\$(curl -s http://127.0.0.1:$P1/metrics | awk '\$1 == \"livedesk_queue_depth\" { print \$2 }')\" = 0 ]"
wait_for sh -c "[ \"\$(curl -s http://127.0.0.1:$P2/metrics | awk '\$1 == \"livedesk_queue_depth\" { print \$2 }')\" = 0 ]"
total=$(rcli XLEN livedesk:events)
i=0
while [ "$(lines)" -lt "$total" ] && [ $i -lt 2400 ]; do
	sleep 0.05
	i=$((i + 1))
done
t1=$(now_ms)
done_n=$(lines)
uniq_n=$(cat "$work/worker1.jsonl" "$work/worker2.jsonl" |
    sed -n 's/.*"delivery_id":"\([^"]*\)".*/\1/p' | sort -u | wc -l)
w1=$(wc -l <"$work/worker1.jsonl")
w2=$(wc -l <"$work/worker2.jsonl")
non2xx=0
for n in 1 2; do
	v=$(sed -n 's/.* non2xx=\([0-9]*\).*/\1/p' "$work/wrk$n.out")
	non2xx=$((non2xx + ${v:-0}))
done
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1000 }')
rate=$(awk -v n="$done_n" -v a="$t0" -v b="$t1" \
    'BEGIN { printf "%.0f", n * 1000 / (b - a) }')
printf 'redis end-to-end: %s events/s (%s events, %s conversations, in %s s through 2 receivers%s -> Redis -> 2 workers, file sink; worker split %s/%s; lost %s, ran twice %s, non-2xx %s)\n' \
    "$rate" "$done_n" "$CONVS" "$secs" "$([ -n "$spool" ] && echo ' with durable spools')" \
    "$w1" "$w2" "$((total - uniq_n))" "$((done_n - uniq_n))" "$non2xx"
