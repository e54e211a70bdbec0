#!/bin/sh
# make bench: the daemon side by side with the floor (libmicrohttpd alone,
# bench/floor.c) and with adnanh/webhook, on loopback, driven by wrk posting
# a 4 KB message_created (bench/message_created_4k.json). Prints one table
# and writes it, with the machine's description and every run's figures, to
# bench/results/. Not a test: nothing here passes or fails on a timing.
#
# Environment: BUILD (build), BENCH_SECONDS per run (5), BENCH_REPEAT runs
# per row (3; the table shows the median), BENCH_CONNS (32), BENCH_ONLY (the
# parts to run, default "1 2 3 4 5 drain parse ready py"), BENCH_DAEMON
# (another build of the daemon, to measure a change), BENCH_DRAIN_MAX (the
# longest the drain row waits, 60 s), BENCH_KEEP=1 to keep the work
# directory.
#
# Scenarios 2 and 3 run with a spool: it is the queue (issue 14), so a flood
# is answered 200 and waits on disk; each run starts on an empty one, and
# the backlog it reached is scraped from /metrics when wrk ends.
#
# Every server is started fresh for each run, so that its peak RSS is that
# run's. Server CPU is utime+stime from /proc/PID/stat, from just before wrk
# starts to when the server has finished the work the run gave it (the
# daemon's queue empty, at most 10 s later). Peak RSS is VmHWM.
set -eu

BUILD=${BUILD:-build}
ONLY=${BENCH_ONLY:-1 2 3 4 5 drain parse ready py}
DRAIN_MAX=${BENCH_DRAIN_MAX:-60}
# scenario py: events to the Python handler in spawn and persistent mode
PY_SPAWN=${BENCH_PY_SPAWN:-200}
PY_PERSISTENT=${BENCH_PY_PERSISTENT:-2000}
SECS=${BENCH_SECONDS:-5}
REPEAT=${BENCH_REPEAT:-3}
CONNS=${BENCH_CONNS:-32}
MANY=1000			# scenario 5
# The requests name this many conversations in turn: the daemon keeps each
# conversation's events in order, and runs different ones side by side.
CONVERSATIONS=1000
PACE_MS=200			# scenario 3: each connection waits this long
SLOW_CONCURRENCY=4		# scenario 3: sleeps at once
EXEC_CONCURRENCY=4		# scenario 2, as in the example configuration
TICK_US=$((1000000 / $(getconf CLK_TCK)))

top=$(cd "$(dirname "$0")/.." && pwd)
daemon=${BENCH_DAEMON:-$top/$BUILD/livedesk-webhookd}
floor=$top/$BUILD/bench/floor
payload=$top/bench/message_created_4k.json
results=$top/bench/results
work=$(mktemp -d /tmp/ld-bench.XXXXXX)
runs=$work/runs.tsv
SPID=

for f in "$daemon" "$floor" "$top/$BUILD/bench/parse" "$top/$BUILD/bench/ready"; do
	[ -x "$f" ] || { echo "bench: $f is missing: run make bench" >&2; exit 1; }
done
for p in wrk webhook curl; do
	command -v $p >/dev/null || { echo "bench: $p is missing" >&2; exit 1; }
done

cleanup() {
	[ -z "$SPID" ] || kill -KILL "$SPID" 2>/dev/null || true
	[ "${BENCH_KEEP:-0}" = 1 ] && echo "bench: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# wrk at 1000 connections and the servers need more descriptors than 1024.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

say() { printf '%s\n' "$*" >&2; }
want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

# A port below the ephemeral range that nothing listens on (curl: exit 7,
# connection refused).
next_port=$((27000 + $$ % 3000))
pick_port() {
	while :; do
		PORT=$next_port
		next_port=$((next_port + 1))
		rc=0
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/" || rc=$?
		[ $rc -ne 7 ] || return 0
	done
}

# start NAME CMD...: runs a server on $PORT, its output in $work/NAME.out;
# returns once it answers HTTP (any status), within 5 s.
start() {
	name=$1
	shift
	"$@" >"$work/$name.out" 2>&1 </dev/null &
	SPID=$!
	i=0
	until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/"; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$SPID" 2>/dev/null; then
			say "bench: $name did not start:"
			tail -5 "$work/$name.out" >&2
			exit 1
		fi
		sleep 0.05
	done
}

# SIGTERM, SIGKILL 10 s later.
stop() {
	kill -TERM "$SPID" 2>/dev/null || true
	i=0
	while kill -0 "$SPID" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$SPID" 2>/dev/null || true
	wait "$SPID" 2>/dev/null || true
	SPID=
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SPID/stat"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$SPID/status"; }
# metric NAME: the sum of a daemon metric's series.
metric() {
	curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" |
	    awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $NF }
	    END { print s + 0 }'
}
# Waits up to 10 s for the daemon's queue, and its backlog on disk, to
# empty (a metric the daemon does not have reads 0).
drain() {
	i=0
	while { [ "$(metric livedesk_queue_depth)" != 0 ] ||
	    [ "$(metric livedesk_backlog_events)" != 0 ]; } && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

# drive URL CONNS [PACE_MS]: one wrk run over $CONVERSATIONS conversations;
# sets W_requests, W_seconds, ...
drive() {
	BENCH_BODY=$payload BENCH_DELAY_MS=${3:-0} \
	    BENCH_CONVERSATIONS=$CONVERSATIONS wrk -t2 -c"$2" \
	    -d"${SECS}s" --timeout 10s -s "$top/bench/post.lua" "$1" \
	    >"$work/wrk.out" 2>&1 || true
	line=$(grep '^BENCH ' "$work/wrk.out") || {
		say "bench: wrk failed:"
		cat "$work/wrk.out" >&2
		exit 1
	}
	for k in requests seconds non2xx sockerr p50_us p99_us; do
		eval "W_$k=\$(printf '%s\n' \"\$line\" | sed -n 's/.* $k=\([0-9.]*\).*/\1/p')"
	done
}

# record ROW REP CPU_TICKS HWM_KB ACCEPTED EXEC_END EXEC_AFTER LABEL
# ACCEPTED: the 200s the server counted (wrk misses those in flight at its
# end), or wrk's 2xx.
record() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
	    "$1" "$2" "$W_requests" "$W_seconds" "$W_non2xx" "$W_sockerr" \
	    "$W_p50_us" "$W_p99_us" "$(($3 * TICK_US))" "$4" "$5" "$6" "$7" \
	    "$8" >>"$runs"
	say "$(printf '  %-40s run %s: %6s requests, %s non-2xx, p99 %s us, executed %s/%s' \
	    "$8" "$2" "$W_requests" "$W_non2xx" "$W_p99_us" "$6" "$7")"
}


# One run of a server that needs nothing but wrk (the floor, webhook waiting
# for its command) on $PORT, which the caller picked for CMD.
# run_plain ROW REP LABEL URLPATH CONNS PACE_MS COUNT_200_AS_EXECUTED CMD...
run_plain() {
	row=$1 rep=$2 label=$3 path=$4 conns=$5 pace=$6 counts=$7
	shift 7
	start "$row" "$@"
	c0=$(cpu_ticks)
	drive "http://127.0.0.1:$PORT$path" "$conns" "$pace"
	c1=$(cpu_ticks)
	hwm=$(hwm_kb)
	stop
	ex=-
	[ "$counts" = yes ] && ex=$((W_requests - W_non2xx))
	record "$row" "$rep" "$((c1 - c0))" "$hwm" "$((W_requests - W_non2xx))" \
	    "$ex" "$ex" "$label"
}

# One run of the daemon with CONF; executions are its delivery count when
# wrk ends and once the queue is empty (unless NODRAIN). The queue spool
# ($work/spool-q, in the scenarios' configurations) starts empty: what one
# run leaves there is not the next one's work.
# run_daemon ROW REP LABEL CONF CONNS [PACE_MS [NODRAIN]]
run_daemon() {
	row=$1 rep=$2 label=$3 conf=$4 conns=$5 pace=${6:-0}
	rm -rf "$work/spool-q"
	pick_port
	start "$row" "$daemon" -c "$conf" -l "127.0.0.1:$PORT"
	c0=$(cpu_ticks)
	# RSS half-way through too: a bound shows as no growth after it.
	(sleep "$(echo "$SECS" | awk '{ print $1 / 2 }')"
	    awk '/^VmRSS:/ { print $2 }' "/proc/$SPID/status" \
	    >"$work/mid.rss") &
	drive "http://127.0.0.1:$PORT/webhook" "$conns" "$pace"
	wait $!
	mid=$(cat "$work/mid.rss" 2>/dev/null || echo 0)
	end=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SPID/status")
	ex_end=$(metric livedesk_sink_deliveries_total)
	bl_events=$(metric livedesk_backlog_events)
	bl_bytes=$(metric livedesk_backlog_bytes)
	ex_after=-
	if [ -z "${7:-}" ]; then
		drain
		ex_after=$(metric livedesk_sink_deliveries_total)
	fi
	c1=$(cpu_ticks)
	hwm=$(hwm_kb)
	n200=$(metric 'livedesk_http_requests_total{code="200"}')
	n503=$(metric 'livedesk_http_requests_total{code="503"}')
	wakeups=$(metric livedesk_dispatch_wakeups_total)
	stop
	record "$row" "$rep" "$((c1 - c0))" "$hwm" "$n200" "$ex_end" \
	    "$ex_after" "$label"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t-\t%s\n' "$row" "$rep" "$n503" \
	    "$mid" "$end" "$bl_events" "$bl_bytes" "$wakeups" >>"$work/503.tsv"
}

# run_daemon with the operator's page and its API fetched once a second
# (as its refresh would) for the length of the run.
# run_polled ROW REP LABEL
run_polled() {
	ADMIN_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	sed "s/@ADMIN_PORT@/$ADMIN_PORT/" "$work/log-admin.conf.in" \
	    >"$work/log-admin.conf"
	(while :; do
		curl -s -o /dev/null -H 'Authorization: Bearer bench' \
		    "http://127.0.0.1:$ADMIN_PORT/" || true
		curl -s -o /dev/null -H 'Authorization: Bearer bench' \
		    "http://127.0.0.1:$ADMIN_PORT/api/status" || true
		sleep 1
	done) &
	poller=$!
	run_daemon "$1" "$2" "$3" "$work/log-admin.conf" "$CONNS"
	kill "$poller" 2>/dev/null || true
	wait "$poller" 2>/dev/null || true
}

# A large backlog drained after a restart: wrk floods a daemon whose script
# never finishes (everything waits in the spool), SIGTERM, then the same
# spool with exec /bin/true: the time until its backlog is empty (at most
# DRAIN_MAX s). Its row's exec/s is the drain rate, to compare with
# scenario 2's; RSS is the restarted daemon's peak while it drains.
# run_drain ROW LABEL
run_drain() {
	row=$1 label=$2
	rm -rf "$work/spool-d"
	pick_port
	start "$row-fill" "$daemon" -c "$work/drain-fill.conf" \
	    -l "127.0.0.1:$PORT"
	drive "http://127.0.0.1:$PORT/webhook" "$CONNS"
	n200=$(metric 'livedesk_http_requests_total{code="200"}')
	n503=$(metric 'livedesk_http_requests_total{code="503"}')
	backlog=$(metric livedesk_backlog_events)
	bl_bytes=$(metric livedesk_backlog_bytes)
	stop
	pick_port
	t0=$(date +%s.%N)
	start "$row" "$daemon" -c "$work/drain.conf" -l "127.0.0.1:$PORT"
	c0=$(cpu_ticks)
	i=0
	left=$(metric livedesk_backlog_events)
	while [ "$left" != 0 ] && [ $i -lt $((DRAIN_MAX * 5)) ]; do
		sleep 0.2
		i=$((i + 1))
		left=$(metric livedesk_backlog_events)
	done
	ran=$(metric livedesk_sink_deliveries_total)
	t1=$(date +%s.%N)
	c1=$(cpu_ticks)
	hwm=$(hwm_kb)
	stop
	# The row's figures: wrk's for the fill, the restart's for the rest.
	W_seconds=$(printf '%s %s\n' "$t0" "$t1" | awk '{ printf "%.3f", $2 - $1 }')
	record "$row" 1 "$((c1 - c0))" "$hwm" "$n200" "$ran" "$ran" "$label"
	printf '%s\t1\t%s\t-\t-\t%s\t%s\t%s\t-\n' "$row" "$n503" "$backlog" \
	    "$bl_bytes" "$left" >>"$work/503.tsv"
}

# adnanh/webhook not waiting for its command, which appends a byte to a
# file: executions counted when wrk ends and 5 s later.
run_webhook_nowait() {
	row=$1 rep=$2 label=$3
	count=$work/count.$rep
	: >"$count"
	cat >"$work/hooks-nowait.json" <<EOF
[{"id": "webhook", "execute-command": "$work/count.sh",
  "pass-arguments-to-command": [{"source": "string", "name": "$count"}]}]
EOF
	pick_port
	start "$row" webhook -hooks "$work/hooks-nowait.json" -ip 127.0.0.1 \
	    -port "$PORT"
	c0=$(cpu_ticks)
	drive "http://127.0.0.1:$PORT/hooks/webhook" "$CONNS"
	ex_end=$(wc -c <"$count")
	c1=$(cpu_ticks)
	hwm=$(hwm_kb)
	sleep 5
	ex_after=$(wc -c <"$count")
	stop
	record "$row" "$rep" "$((c1 - c0))" "$hwm" "$((W_requests - W_non2xx))" \
	    "$ex_end" "$ex_after" "$label"
}

# --- configurations ---

server="[server]
# All the load comes from 127.0.0.1; shutdown bounded for the harness.
max_connections_per_ip = 0
max_connections = 2048
shutdown_grace = 1s"
printf '%s\n[sink log]\ntype = log\n' "$server" >"$work/log.conf"
# Scenario 1 again with the operator's page polled every second (issue 17):
# intake must not notice it.
ADMIN_PORT=
printf '%s\nadmin_listen = 127.0.0.1:%s\nadmin_token = bench\n[sink log]\ntype = log\n' \
    "$server" "@ADMIN_PORT@" >"$work/log-admin.conf.in"
for d in yes no; do
	printf '%s\nspool_dir = %s\ndurable = %s\n[sink log]\ntype = log\n' \
	    "$server" "$work/spool" "$d" >"$work/spool-$d.conf"
done
# Scenarios 2 and 3 with a spool, the queue since issue 14.
printf '%s\nspool_dir = %s\n[sink run]\ntype = exec\ncommand = /bin/true\nconcurrency = %s\n' \
    "$server" "$work/spool-q" "$EXEC_CONCURRENCY" >"$work/exec.conf"
# Cancelled at once on SIGTERM: the queue holds minutes of sleeps.
printf '%s\nspool_dir = %s\n[sink run]\ntype = exec\ncommand = /bin/sleep 2\nconcurrency = %s\n' \
    "$server" "$work/spool-q" "$SLOW_CONCURRENCY" |
    sed 's/^shutdown_grace = 1s$/shutdown_grace = 0s/' >"$work/slow.conf"
# The drain row: filled behind a script that never finishes, drained by
# scenario 2's.
printf '%s\nspool_dir = %s\n[sink run]\ntype = exec\ncommand = /bin/sleep 600\nconcurrency = %s\n' \
    "$server" "$work/spool-d" "$EXEC_CONCURRENCY" |
    sed 's/^shutdown_grace = 1s$/shutdown_grace = 0s/' >"$work/drain-fill.conf"
printf '%s\nspool_dir = %s\n[sink run]\ntype = exec\ncommand = /bin/true\nconcurrency = %s\n' \
    "$server" "$work/spool-d" "$EXEC_CONCURRENCY" >"$work/drain.conf"
cat >"$work/hooks-wait.json" <<EOF
[{"id": "webhook", "execute-command": "/bin/true",
  "include-command-output-in-response": true}]
EOF
printf '#!/bin/sh\nprintf . >>"$1"\n' >"$work/count.sh"
chmod +x "$work/count.sh"

# --- the runs ---

started=$(date +%s)
# Anything else running shares the CPUs with the servers and wrk: how
# idle they are over 2 s before the runs.
cpu_idle() { awk '/^cpu / { print $2 + $3 + $4 + $5 + $6 + $7 + $8, $5 + $6 }' /proc/stat; }
i0=$(cpu_idle)
sleep 2
idle0=$(printf '%s %s\n' "$i0" "$(cpu_idle)" |
    awk '{ printf "%d", 100 * ($4 - $2) / ($3 - $1) }')
say "bench: $SECS s per run, $REPEAT runs per row, $CONNS connections; in $work"
[ "$idle0" -ge 90 ] ||
    say "bench: warning: the CPUs were only $idle0% idle before the runs: other work on this machine will lower and scatter the figures"
printf 'row\trep\trequests\tseconds\tnon2xx\tsockerr\tp50_us\tp99_us\tcpu_us\thwm_kb\taccepted\texec_end\texec_after\tlabel\n' >"$runs"
: >"$work/503.tsv"

if want 1; then
	say "1. accept + log sink to a file ($CONNS connections)"
	for r in $(seq "$REPEAT"); do
		pick_port
		run_plain s1-floor "$r" "floor" /webhook "$CONNS" 0 no \
		    "$floor" "127.0.0.1:$PORT"
		pick_port
		run_plain s1-floorj "$r" "floor + jansson" /webhook "$CONNS" 0 \
		    no "$floor" -j "127.0.0.1:$PORT"
		run_daemon s1-ld "$r" "livedesk-webhookd, log sink" \
		    "$work/log.conf" "$CONNS"
		run_polled s1-ldpage "$r" \
		    "log sink, page polled 1/s"
	done
fi

if want 2; then
	say "2. accept + exec /bin/true per event ($CONNS connections)"
	for r in $(seq "$REPEAT"); do
		run_daemon s2-ld "$r" "livedesk-webhookd, exec sink" \
		    "$work/exec.conf" "$CONNS"
		pick_port
		run_plain s2-wh "$r" "webhook, waits for command" \
		    /hooks/webhook "$CONNS" 0 yes webhook \
		    -hooks "$work/hooks-wait.json" -ip 127.0.0.1 -port "$PORT"
	done
	# Once: it leaves thousands of commands behind it.
	run_webhook_nowait s2-whnw 1 "webhook, does not wait"
	# Once: every event of one conversation, which runs one at a time.
	CONVERSATIONS=1
	run_daemon s2-ld1 1 "livedesk-webhookd, exec, 1 conversation" \
	    "$work/exec.conf" "$CONNS"
	CONVERSATIONS=1000
fi

if want py; then
	say "py. a stdlib Python handler: spawn against persistent (concurrency $EXEC_CONCURRENCY)"
	python3 "$top/bench/persist.py" "$daemon" "$work" "$PY_SPAWN" \
	    "$PY_PERSISTENT" | tee "$work/py.txt" >&2
fi

if want 3; then
	say "3. exec takes 2 s (one run each)"
	pick_port
	run_plain s3-floor 1 "floor + jansson, paced" /webhook "$CONNS" \
	    "$PACE_MS" no "$floor" -j "127.0.0.1:$PORT"
	run_daemon s3-paced 1 "livedesk-webhookd, sleep 2, paced" \
	    "$work/slow.conf" "$CONNS" "$PACE_MS" nodrain
	run_daemon s3-flood 1 "livedesk-webhookd, sleep 2, flood" \
	    "$work/slow.conf" "$CONNS" 0 nodrain
fi

if want drain; then
	say "drain: a large backlog after a restart, exec /bin/true (one run)"
	run_drain sd-ld "livedesk-webhookd, backlog drain, restart"
fi

if want 4; then
	say "4. durable spool on and off ($CONNS connections)"
	# The spool exists before the runs: created by a first start.
	pick_port
	start spool "$daemon" -c "$work/spool-yes.conf" -l "127.0.0.1:$PORT"
	stop
	for r in $(seq "$REPEAT"); do
		run_daemon s4-dur "$r" "livedesk-webhookd, durable = yes" \
		    "$work/spool-yes.conf" "$CONNS"
		run_daemon s4-vol "$r" "livedesk-webhookd, durable = no" \
		    "$work/spool-no.conf" "$CONNS"
	done
fi

if want 5; then
	say "5. $MANY connections"
	for r in $(seq "$REPEAT"); do
		pick_port
		run_plain s5-floor "$r" "floor" /webhook "$MANY" 0 no \
		    "$floor" -c 2048 "127.0.0.1:$PORT"
		pick_port
		run_plain s5-floorj "$r" "floor + jansson" /webhook "$MANY" 0 \
		    no "$floor" -j -c 2048 "127.0.0.1:$PORT"
		run_daemon s5-ld "$r" "livedesk-webhookd, log sink" \
		    "$work/log.conf" "$MANY"
	done
fi

: >"$work/parse.txt"
if want parse; then
	say "parse: typed event against json_loadb"
	"$top/$BUILD/bench/parse" "$payload" >"$work/parse.txt"
fi

: >"$work/ready.txt"
floor_idle=
if want ready; then
	say "start-up to READY=1 and idle memory (5 starts)"
	for r in 1 2 3 4 5; do
		pick_port
		"$top/$BUILD/bench/ready" -i 1000 -- "$daemon" \
		    -c "$work/log.conf" -l "127.0.0.1:$PORT" 2>/dev/null \
		    >>"$work/ready.txt"
	done
	# The floor has no READY=1: only its idle memory, once.
	pick_port
	start idle-floor "$floor" "127.0.0.1:$PORT"
	sleep 1
	floor_idle=$(awk '/^(VmRSS|RssAnon):/ { printf "%s=%s ", $1, $2 }' \
	    "/proc/$SPID/status")
	stop
fi

# --- the report ---

elapsed=$(($(date +%s) - started))
mkdir -p "$results"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=$results/$stamp.txt
{
	echo "livedesk-webhookd benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "machine:  $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs, $(awk '/^MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM"
	echo "system:   $(. /etc/os-release && echo "$PRETTY_NAME"), Linux $(uname -r), $(df -T "$work" | awk 'NR == 2 { print $2 }') under $work"
	echo "idle:     $idle0% of the CPUs' time idle over the 2 s before the runs (anything else running shares them)"
	echo "software: libmicrohttpd $(pkg-config --modversion libmicrohttpd), jansson $(pkg-config --modversion jansson), $(webhook -version 2>&1 | head -1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
	echo "code:     $(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)${BENCH_DAEMON:+; the daemon measured: $BENCH_DAEMON}"
	echo "runs:     $SECS s each, median of $REPEAT (rows 2 no-wait, 2 one conversation, 3 and drain: one run); wrk -t2 on the same CPUs; requests over $CONVERSATIONS conversations; $elapsed s in all"
	echo
	awk -v parse="$work/parse.txt" -v ready="$work/ready.txt" \
	    -v floor_idle="$floor_idle" -v s503="$work/503.tsv" \
	    -v secs="$SECS" -f "$top/bench/report.awk" "$runs"
	echo
	echo "Every run (cpu_us: server CPU for the run; exec: executions when"
	echo "wrk ended / once finished):"
	echo
	cat "$runs"
	echo
	echo "The daemon's own count of 503 answers, its RSS in kB half-way"
	echo "through wrk's run and when it ended, its backlog (events, bytes)"
	echo "when wrk ended and, in the drain row, the events left when it ended,"
	echo "and how many times a sleeping worker was woken for new work:"
	echo
	printf 'row\trep\tn503\trss_mid_kb\trss_end_kb\tbacklog_events\tbacklog_bytes\tleft_events\twakeups\n'
	cat "$work/503.tsv"
	if [ -s "$work/py.txt" ]; then
		echo
		echo "py. A stdlib Python handler, spawn against persistent"
		echo "(events posted one after another; CPU is the daemon's and"
		echo "its handlers'):"
		echo
		cat "$work/py.txt"
	fi
} >"$out"
cp "$out" "$results/latest.txt"
cat "$out"
say "bench: written to ${out#$top/} and bench/results/latest.txt"
