#!/bin/sh
# Example bot for the exec sink: outside office hours, answers each incoming
# customer message with an acknowledgement that quotes it, via livedesk-send.
#
# The exec sink runs this once per event with the event's JSON on standard
# input and LIVEDESK_EVENT, LIVEDESK_CONVERSATION_ID, LIVEDESK_MESSAGE_ID,
# LIVEDESK_MESSAGE_TYPE, LIVEDESK_MESSAGE_CONTENT, LIVEDESK_SENDER_NAME, ...
# in the environment. livedesk-send finds its credentials in
# LIVEDESK_API_KEY/LIVEDESK_API_SECRET or in systemd's $CREDENTIALS_DIRECTORY
# (file livedesk-api); see livedesk-send(1).
#
# Settings, from the environment:
#   OFFICE_HOURS     HH-HH: the hours agents answer, end excluded (default
#                    09-18); 22-06 spans midnight, 00-24 is all day, 00-00 never
#   OFFICE_DAYS      the days they work, 1 = Monday .. 7 = Sunday, as a range
#                    or a list (default 1-5; e.g. 1-6 or 1,3,5)
#   TZ               the time zone of those hours, e.g. Asia/Bangkok
#   ALWAYS_REPLY     1: answer whatever the time (for tests)
#   AUTO_REPLY_TEXT  the answer (default: a short note in Thai and English)
#   AUTO_REPLY_STATE_DIR  when set, answer a conversation at most once a day
#                    (a stamp file per conversation and day is kept there)
#   LIVEDESK_SEND    the livedesk-send program (default: found in PATH)
#
# Exit status: that of livedesk-send when it ran, 0 when there was nothing
# to answer, 2 when the environment is not usable.
#
# By hand: ALWAYS_REPLY=1 LIVEDESK_EVENT=message_created \
#   LIVEDESK_MESSAGE_TYPE=incoming LIVEDESK_CONVERSATION_ID=141 \
#   LIVEDESK_MESSAGE_ID=29 sh auto-reply.sh </dev/null
set -u

me=auto-reply

# The payload is not needed: read it all so that the writer never sees EPIPE.
cat >/dev/null

[ "${LIVEDESK_EVENT:-}" = message_created ] || exit 0
# Customers' messages only, never an agent's or our own: no reply loops.
case ${LIVEDESK_MESSAGE_TYPE:-} in
incoming|0) ;;
*) exit 0 ;;
esac

conv=${LIVEDESK_CONVERSATION_ID:-}
case $conv in
''|*[!0-9]*)
	echo "$me: LIVEDESK_CONVERSATION_ID is not a conversation id" >&2
	exit 2 ;;
esac

# "09" -> 9: a leading zero would read as octal in $(( )).
dec() {
	n=${1#0}
	echo "${n:-0}"
}

# Whether day $1 (1..7) is in OFFICE_DAYS.
office_day() {
	days=${OFFICE_DAYS:-1-5}
	case $days in
	[1-7]-[1-7])
		[ "$1" -ge "${days%-*}" ] && [ "$1" -le "${days#*-}" ] ;;
	*)
		case ",$days," in
		*",$1,"*) return 0 ;;
		*) return 1 ;;
		esac ;;
	esac
}

# Whether now is within office hours (in $TZ).
office_open() {
	hours=${OFFICE_HOURS:-09-18}
	case $hours in
	[0-2][0-9]-[0-2][0-9]) ;;
	*)
		echo "$me: OFFICE_HOURS must be HH-HH, not '$hours'" >&2
		exit 2 ;;
	esac
	start=$(dec "${hours%-*}")
	end=$(dec "${hours#*-}")
	now=$(dec "$(date +%H)")
	office_day "$(date +%u)" || return 1
	if [ "$start" -le "$end" ]; then
		[ "$now" -ge "$start" ] && [ "$now" -lt "$end" ]
	else
		[ "$now" -ge "$start" ] || [ "$now" -lt "$end" ]
	fi
}

if [ "${ALWAYS_REPLY:-0}" != 1 ] && office_open; then
	exit 0
fi

stamp=
if [ -n "${AUTO_REPLY_STATE_DIR:-}" ]; then
	stamp=$AUTO_REPLY_STATE_DIR/$conv.$(date +%Y%m%d)
	[ -e "$stamp" ] && exit 0
fi

send=${LIVEDESK_SEND:-}
if [ -z "$send" ]; then
	send=$(command -v livedesk-send) || {
		echo "$me: livedesk-send not found: set LIVEDESK_SEND or PATH" >&2
		exit 2
	}
fi

text=${AUTO_REPLY_TEXT:-"ขอบคุณที่ติดต่อเรา ขณะนี้อยู่นอกเวลาทำการ เจ้าหน้าที่จะตอบกลับโดยเร็วที่สุด / Thank you for your message. We are closed right now and will answer as soon as we are back."}

# The customer's text is never given to a shell: it goes as one argument.
set -- --quiet -c "$conv"
case ${LIVEDESK_MESSAGE_ID:-} in
''|*[!0-9]*) ;;
*) set -- "$@" --in-reply-to "$LIVEDESK_MESSAGE_ID" ;;
esac
"$send" "$@" -- "$text"
rc=$?
if [ "$rc" -eq 0 ] && [ -n "$stamp" ]; then
	: >"$stamp" || echo "$me: cannot write $stamp" >&2
fi
exit "$rc"
