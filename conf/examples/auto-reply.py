#!/usr/bin/env python3
"""Example bot for the exec sink in persistent mode: outside office hours,
answers each incoming customer message with an acknowledgement, through
livedesk-send. Python standard library only.

It is auto-reply.sh's logic, written for `mode = persistent`: the daemon
keeps this process running and writes one JSON line per event on its
standard input,

    {"delivery_id": "...", "event": "...", "env": {"LIVEDESK_EVENT": ...,
     "LIVEDESK_CONVERSATION_ID": ..., ...}, "payload": {...}}

where "env" holds the LIVEDESK_* variables spawn mode would set. It answers
each with one line on standard output: {"ok": true} or {"ok": false,
"error": "..."}, echoing "delivery_id". Anything else on standard output
would break the protocol: logs go to standard error (the daemon logs them),
and livedesk-send's output is sent there too.

Wire it up:

    [sink auto-reply]
    type = exec
    mode = persistent
    command = /usr/local/share/livedesk-webhookd/examples/auto-reply.py
    env = TZ=Asia/Bangkok

Settings, from the process's environment (the sink's env = lines):
  OFFICE_HOURS     HH-HH: the hours agents answer, end excluded (default
                   09-18); 22-06 spans midnight, 00-24 is all day, 00-00 never
  OFFICE_DAYS      the days they work, 1 = Monday .. 7 = Sunday, as a range
                   or a list (default 1-5; e.g. 1-6 or 1,3,5)
  TZ               the time zone of those hours, e.g. Asia/Bangkok
  ALWAYS_REPLY     1: answer whatever the time (for tests)
  AUTO_REPLY_TEXT  the answer (default: a short note in Thai and English)
  AUTO_REPLY_STATE_DIR  when set, answer a conversation at most once a day
                   (a stamp file per conversation and day is kept there)
  LIVEDESK_SEND    the livedesk-send program (default: found in PATH)

livedesk-send finds its credentials in LIVEDESK_API_KEY/LIVEDESK_API_SECRET
or in systemd's $CREDENTIALS_DIRECTORY (file livedesk-api).

By hand, one event:
  printf '%s\\n' '{"delivery_id": "d1", "event": "message_created", "env":
    {"LIVEDESK_EVENT": "message_created", "LIVEDESK_MESSAGE_TYPE":
    "incoming", "LIVEDESK_CONVERSATION_ID": "141", "LIVEDESK_MESSAGE_ID":
    "29"}, "payload": {}}' | ALWAYS_REPLY=1 python3 auto-reply.py
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

ME = "auto-reply"
DEFAULT_TEXT = ("ขอบคุณที่ติดต่อเรา ขณะนี้อยู่นอกเวลาทำการ "
                "เจ้าหน้าที่จะตอบกลับโดยเร็วที่สุด / Thank you for your "
                "message. We are closed right now and will answer as soon "
                "as we are back.")


class Unusable(Exception):
    """The settings cannot work: every event would fail the same way."""


def log(text):
    print(f"{ME}: {text}", file=sys.stderr, flush=True)


def office_day(day):
    """Whether day (1..7) is in OFFICE_DAYS."""
    days = os.environ.get("OFFICE_DAYS", "1-5")
    m = re.fullmatch(r"([1-7])-([1-7])", days)
    if m:
        return int(m.group(1)) <= day <= int(m.group(2))
    return str(day) in days.split(",")


def office_open():
    """Whether now is within office hours (in $TZ)."""
    hours = os.environ.get("OFFICE_HOURS", "09-18")
    m = re.fullmatch(r"([0-2][0-9])-([0-2][0-9])", hours)
    if not m:
        raise Unusable(f"OFFICE_HOURS must be HH-HH, not '{hours}'")
    start, end = int(m.group(1)), int(m.group(2))
    now = time.localtime()
    if not office_day(now.tm_wday + 1):
        return False
    if start <= end:
        return start <= now.tm_hour < end
    return now.tm_hour >= start or now.tm_hour < end


def send_program():
    send = os.environ.get("LIVEDESK_SEND") or shutil.which("livedesk-send")
    if not send:
        raise Unusable("livedesk-send not found: set LIVEDESK_SEND or PATH")
    return send


def handle(env):
    """Answers one event, given its LIVEDESK_* variables. Returns None when
    done (answered or nothing to answer), else why it failed."""
    if env.get("LIVEDESK_EVENT") != "message_created":
        return None
    # Customers' messages only, never an agent's or our own: no reply loops.
    if env.get("LIVEDESK_MESSAGE_TYPE") not in ("incoming", "0"):
        return None
    conv = env.get("LIVEDESK_CONVERSATION_ID", "")
    if not conv.isdigit():
        return "LIVEDESK_CONVERSATION_ID is not a conversation id"
    if os.environ.get("ALWAYS_REPLY", "0") != "1" and office_open():
        return None

    stamp = None
    state = os.environ.get("AUTO_REPLY_STATE_DIR")
    if state:
        stamp = os.path.join(state, f"{conv}.{time.strftime('%Y%m%d')}")
        if os.path.exists(stamp):
            return None

    text = os.environ.get("AUTO_REPLY_TEXT", DEFAULT_TEXT)
    # The customer's text never reaches a shell: an argument list, no shell.
    argv = [send_program(), "--quiet", "-c", conv]
    msg = env.get("LIVEDESK_MESSAGE_ID", "")
    if msg.isdigit():
        argv += ["--in-reply-to", msg]
    argv += ["--", text]
    # livedesk-send gets the event's variables as in spawn mode; its
    # standard output goes to our standard error, never into the answers.
    child_env = dict(os.environ)
    child_env.update({k: str(v) for k, v in env.items()})
    run = subprocess.run(argv, env=child_env, stdin=subprocess.DEVNULL,
                         stdout=sys.stderr, check=False)
    if run.returncode != 0:
        return f"livedesk-send exited with status {run.returncode}"
    if stamp:
        try:
            with open(stamp, "w", encoding="utf-8"):
                pass
        except OSError as e:
            log(f"cannot write {stamp}: {e.strerror}")
    return None


def answer(delivery_id, error):
    reply = {"ok": error is None}
    if error is not None:
        reply["error"] = error
    if isinstance(delivery_id, str):
        reply["delivery_id"] = delivery_id
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


def main():
    # Lines are UTF-8 whatever the locale; a bad byte must not end the loop.
    stdin = open(sys.stdin.fileno(), "r", encoding="utf-8",
                 errors="replace", closefd=False)
    for line in stdin:
        delivery_id = None
        try:
            event = json.loads(line)
            delivery_id = event.get("delivery_id")
            env = event.get("env")
            if not isinstance(env, dict):
                raise ValueError("the line has no \"env\" object")
            error = handle(env)
        except Unusable as e:
            # Fix the settings and reload: every event would fail alike.
            error = str(e)
        except Exception as e:  # one bad event must not stop the bot
            error = f"{type(e).__name__}: {e}"
        if error is not None:
            log(error)
        answer(delivery_id, error)
    # End of input: the daemon closed our stdin (reload, shutdown).
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
