#!/bin/sh
# Runs Check suites one by one (under valgrind when VALGRIND=1) and prints
# one closing line: "N passed, N failed" counted in tests, not suites.
set -u
pass=0 fail=0 bad=""
: "${BUILD:=build}"
export LD_BUILD="$BUILD"
for t in "$@"; do
	name=$(basename "$t")
	log="$BUILD/tests/$name.log"
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
	line=$(grep -E '^[0-9]+%: Checks: ' "$log" | tail -n 1)
	cat "$log" | grep -vE '^Running suite' | sed "s|^|$name: |" | grep -E 'Checks:|:[EF]:|ERROR|Sanitizer|runtime error|definitely' | head -n 40
	n=$(echo "$line" | sed -n 's/.*Checks: \([0-9]*\).*/\1/p')
	f=$(echo "$line" | sed -n 's/.*Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2/p')
	n=${n:-0}
	nf=$(echo "$f" | awk '{print $1+$2}')
	nf=${nf:-0}
	if [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
		nf=1; [ "$n" -eq 0 ] && n=1
		echo "$name: exited $rc (see $log)"
	fi
	pass=$((pass + n - nf))
	fail=$((fail + nf))
	[ "$nf" -ne 0 ] && bad="$bad $name"
done
[ -n "$bad" ] && echo "failing suites:$bad (logs in $BUILD/tests/)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
