#!/bin/sh
# The smallest handler for the exec sink's persistent mode, in POSIX shell:
# the daemon keeps it running and writes one JSON line per event on its
# standard input,
#
#   {"delivery_id": "...", "event": "...", "env": {...}, "payload": {...}}
#
# and it answers each with one line on standard output, {"ok": true} or
# {"ok": false, "error": "..."}, echoing "delivery_id". Nothing else may go
# to standard output: notes go to standard error, which the daemon logs.
#
# This one appends each event's line to EVENTS_FILE (a JSON Lines journal
# of what reached the sink); put your own work where it does. A shell
# cannot read JSON: for more than this, use a language that can (see
# auto-reply.py), or jq.
#
#   [sink journal]
#   type = exec
#   mode = persistent
#   command = /usr/local/share/livedesk-webhookd/examples/persistent.sh
#   env = EVENTS_FILE=/var/lib/livedesk-webhookd/events.jsonl
#
# By hand: printf '{"delivery_id": "d1", "event": "x", "env": {},
#   "payload": {}}\n' | EVENTS_FILE=/tmp/events.jsonl sh persistent.sh
set -u

me=persistent
file=${EVENTS_FILE:-}
if [ -z "$file" ]; then
	echo "$me: EVENTS_FILE is not set" >&2
	exit 2
fi

# IFS= and -r: the line exactly as it came, backslashes included. The last
# line may lack its newline: [ -n "$line" ] still handles it.
while IFS= read -r line || [ -n "$line" ]; do
	# The daemon's line starts with its delivery id, which the answer
	# echoes; the payload's own keys come later and are never read here.
	id=$(printf '%s\n' "$line" |
	    sed -n 's/^{ *"delivery_id" *: *"\([0-9A-Za-z-]*\)".*/\1/p')
	echo_id=
	[ -n "$id" ] && echo_id=", \"delivery_id\": \"$id\""
	if printf '%s\n' "$line" >>"$file"; then
		printf '{"ok": true%s}\n' "$echo_id"
	else
		echo "$me: cannot append to $file" >&2
		printf '{"ok": false, "error": "cannot append to EVENTS_FILE"%s}\n' \
		    "$echo_id"
	fi
done
# End of input: the daemon closed our stdin (a reload, a shutdown).
exit 0
