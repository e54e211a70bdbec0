#!/bin/sh
# Records one run of an exec sink for the tests: its stdin, environment and
# arguments go to $RECORD_DIR/NAME.in, NAME.env (env -0) and NAME.args (one
# NUL-terminated argument each), NAME being $LIVEDESK_DELIVERY_ID or "run".
# Exits with $RECORD_EXIT (default 0) once everything is written.
set -eu
dir=${RECORD_DIR:?RECORD_DIR is not set}
name=${LIVEDESK_DELIVERY_ID:-run}
cat >"$dir/$name.in.tmp"
env -0 >"$dir/$name.env.tmp"
: >"$dir/$name.args.tmp"
for a; do
	printf '%s\0' "$a" >>"$dir/$name.args.tmp"
done
for f in in env args; do
	mv "$dir/$name.$f.tmp" "$dir/$name.$f"
done
exit "${RECORD_EXIT:-0}"
