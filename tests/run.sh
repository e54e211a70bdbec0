#!/bin/bash
# Runs Check suites (paths BUILD/tests/check_*, of one build or several:
# make check gives the plain and the sanitizer builds' together),
# LD_TEST_JOBS at a time (default 4; under valgrind 1), each with its own
# log beside it, then reports them in the order given and prints
# one closing line: "N passed, N failed" counted in tests, not suites, with
# ", N skipped" when a test said SKIP (tu_skip). The suites wait on their
# daemons far more than they compute, so running them side by side is what
# makes make check fast; each daemon binds port 0 and says which it got.
set -u
: "${BUILD:=build}"
export LD_BUILD="$BUILD"
jobs=${LD_TEST_JOBS:-4}
[ "${VALGRIND:-0}" = 1 ] && jobs=${LD_TEST_JOBS:-1}

# A glob such as build/tests/check_* also names the logs, objects and
# dependency files beside the suites: only the suites themselves run.
suites=()
for t in "$@"; do
	case "$(basename "$t")" in
	*.*) ;;
	*) suites+=("$t") ;;
	esac
done
set -- "${suites[@]}"

# Where a suite's log goes, and what names it in the report.
log_of() { echo "$(dirname "$1")/$(basename "$1").log"; }
label_of() {
	local b
	b=$(dirname "$(dirname "$1")")
	if [ "$b" = "$BUILD" ]; then basename "$1"; else echo "$b/$(basename "$1")"; fi
}

run_one() {
	local t=$1 log=$2 start rc
	start=$(date +%s)
	# The suite finds its daemon and tools beside itself.
	export LD_BUILD
	LD_BUILD=$(dirname "$(dirname "$t")")
	if [ "${VALGRIND:-0}" = 1 ]; then
		# Check forks each test; valgrind follows the children.
		CK_DEFAULT_TIMEOUT=120 CK_TIMEOUT_MULTIPLIER=10 \
		valgrind -q --trace-children=no --leak-check=full \
			--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
			--error-exitcode=99 "$t" >"$log" 2>&1
	else
		"$t" >"$log" 2>&1
	fi
	rc=$?
	echo "$rc $(( $(date +%s) - start ))" >"$log.rc"
}

running=0
for t in "$@"; do
	log=$(log_of "$t")
	rm -f "$log.rc"
	run_one "$t" "$log" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

pass=0 fail=0 skip=0 bad=""
for t in "$@"; do
	name=$(label_of "$t")
	log=$(log_of "$t")
	read -r rc secs <"$log.rc" 2>/dev/null || { rc=1; secs=0; }
	line=$(grep -E '^[0-9]+%: Checks: ' "$log" | tail -n 1)
	grep -vE '^Running suite' "$log" | sed "s|^|$name: |" |
		grep -E 'Checks:|:[EF]:|ERROR|Sanitizer|runtime error|definitely|SKIP:' |
		sed "/Checks:/s/\$/ (${secs}s)/" | head -n 40
	n=$(echo "$line" | sed -n 's/.*Checks: \([0-9]*\).*/\1/p')
	f=$(echo "$line" | sed -n 's/.*Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2/p')
	s=$(grep -c '^SKIP: ' "$log")
	n=${n:-0}
	nf=$(echo "$f" | awk '{print $1+$2}')
	nf=${nf:-0}
	if [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
		nf=1; [ "$n" -eq 0 ] && n=1
		echo "$name: exited $rc (see $log)"
	fi
	pass=$((pass + n - nf - s))
	fail=$((fail + nf))
	skip=$((skip + s))
	[ "$nf" -ne 0 ] && bad="$bad $name"
done
[ -n "$bad" ] && echo "failing suites:$bad (logs beside each suite)"
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
