#!/bin/sh
# Where the daemon's time goes under a bench load, for the notes on missed
# targets. Not part of make bench (perf and valgrind are not its deps).
#
#   bench/profile.sh perf log|exec|durable
#                                      perf record -g of the daemon (its
#                                      threads and the programs it starts)
#                                      under wrk, 32 connections, 4 s;
#                                      durable: the log sink behind a
#                                      durable spool (scenario 4)
#   bench/profile.sh callgrind log|durable|floorj
#                                      instructions per request under
#                                      callgrind (4 connections, 10 s):
#                                      machine-load independent; floorj:
#                                      the floor + jansson, to compare
#
# Prints a summary on stdout. Environment: BUILD (build), BENCH_KEEP=1 to
# keep the work directory with the raw profile.
set -eu

BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
daemon=$top/$BUILD/livedesk-webhookd
payload=$top/bench/message_created_4k.json
work=$(mktemp -d /tmp/ld-profile.XXXXXX)
port=$((26000 + $$ % 1000))
pid=

cleanup() {
	[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
	[ "${BENCH_KEEP:-0}" = 1 ] && echo "profile: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

usage() {
	echo "usage: bench/profile.sh perf log|exec|durable | callgrind log|durable|floorj" >&2
	exit 2
}
[ $# -eq 2 ] || usage
tool=$1 sink=$2
case "$sink" in
log)	printf '[server]\nmax_connections_per_ip = 0\n[sink log]\ntype = log\n' ;;
exec)	printf '[server]\nmax_connections_per_ip = 0\n[sink run]\ntype = exec\ncommand = /bin/true\nconcurrency = 4\n' ;;
floorj)	: ;;
durable) printf '[server]\nmax_connections_per_ip = 0\nspool_dir = %s\ndurable = yes\n[sink log]\ntype = log\n' "$work/spool" ;;
*)	usage ;;
esac >"$work/d.conf"

load() {	# load CONNS SECONDS: wrk against the daemon, 1000 conversations
	BENCH_BODY=$payload BENCH_CONVERSATIONS=1000 wrk -t2 -c"$1" -d"$2s" \
	    --timeout 10s -s "$top/bench/post.lua" \
	    "http://127.0.0.1:$port/webhook" | grep '^BENCH'
}

wait_up() {
	i=0
	until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz"; do
		i=$((i + 1))
		[ $i -lt 600 ] || { echo "profile: the daemon did not start" >&2; exit 1; }
		sleep 0.1
	done
}

case "$tool" in
perf)
	[ "$sink" != floorj ] || usage
	command -v perf >/dev/null || { echo "profile: perf is missing" >&2; exit 1; }
	"$daemon" -c "$work/d.conf" -l "127.0.0.1:$port" 2>"$work/d.log" &
	pid=$!
	wait_up
	load 32 6 >"$work/wrk.txt" &
	wrk_pid=$!
	sleep 1
	# DWARF stacks: jansson and libc have no frame pointers.
	perf record -F 499 --call-graph dwarf,8192 -p "$pid" \
	    -o "$work/perf.data" -- sleep 4 >/dev/null 2>&1
	wait "$wrk_pid"
	kill -TERM "$pid"
	wait "$pid" || true
	pid=
	cat "$work/wrk.txt"
	echo "# samples by thread (MHD-worker: HTTP; livedesk-webhoo: the"
	echo "# dispatcher's workers and spawned children before exec; true:"
	echo "# the programs the exec sink runs)"
	perf report -i "$work/perf.data" --no-children --sort comm -g none \
	    --stdio 2>/dev/null | grep '%' | head -8
	echo "# samples by library"
	perf report -i "$work/perf.data" --no-children --sort dso -g none \
	    --stdio 2>/dev/null | grep '%' | head -10
	echo "# the most time, callers included"
	perf report -i "$work/perf.data" --children --sort sym -g none \
	    --stdio 2>/dev/null | grep '%' | grep -v '\] 0x0' | head -50
	echo "# the most time, in the function itself"
	perf report -i "$work/perf.data" --no-children --sort dso,sym -g none \
	    --stdio 2>/dev/null | grep '%' | head -25
	;;
callgrind)
	[ "$sink" != exec ] || usage
	command -v valgrind >/dev/null || { echo "profile: valgrind is missing" >&2; exit 1; }
	if [ "$sink" = floorj ]; then
		valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
		    "$top/$BUILD/bench/floor" -j "127.0.0.1:$port" \
		    2>"$work/d.log" &
	else
		valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
		    "$daemon" -c "$work/d.conf" -l "127.0.0.1:$port" \
		    2>"$work/d.log" &
	fi
	pid=$!
	wait_up
	line=$(load 4 10)
	echo "$line"
	n=$(echo "$line" | sed 's/.* requests=\([0-9]*\).*/\1/')
	kill -TERM "$pid"
	wait "$pid" || true
	pid=
	callgrind_annotate --inclusive=yes "$work/cg.out" 2>/dev/null |
	    awk -v n="$n" '
		/PROGRAM TOTALS/ { gsub(",", "", $1); printf "# %d requests; %.0f instructions per request, start-up and shutdown included\n", n, $1 / n }
		/^ *[0-9,]+ \(.*\]$/ && !/=>/ && (/src\/[a-z_]+\.c:[a-z_]+ \[/ ||
		    /json_loadb|json_delete \[|malloc.c:(malloc|free) |memset|memcpy/) {
			c = $1; gsub(",", "", c)
			sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "")
			if (!seen[$0]++ && c / n >= 1000)
				printf "%10.0f per request  %s\n", c / n, $0
		}' | head -40
	;;
*)	usage ;;
esac
