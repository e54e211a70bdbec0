#!/usr/bin/env python3
# The same handler logic run two ways, for check_persist_e2e:
#   persist_handler.py spawn OUT             one event: env + stdin
#   persist_handler.py persistent OUT EVERY  JSON Lines; exits without
#                                            answering every EVERY events
# Each event appends "CONVERSATION_ID MESSAGE_ID" to OUT.
import json
import os
import sys


def handle(env, payload, out):
    # What a bot does first: read the payload and the fields it needs.
    text = payload.get("content") or ""
    with open(out, "a") as f:
        f.write("%s %s %d\n" % (env["LIVEDESK_CONVERSATION_ID"],
                                env["LIVEDESK_MESSAGE_ID"], len(text)))


if sys.argv[1] == "spawn":
    handle(os.environ, json.load(sys.stdin), sys.argv[2])
    sys.exit(0)

every = int(sys.argv[3])
n = 0
for line in sys.stdin:
    ev = json.loads(line)
    n += 1
    if every and n % every == 0:
        sys.exit(1)
    handle(ev["env"], ev["payload"], sys.argv[2])
    print(json.dumps({"ok": True, "delivery_id": ev["delivery_id"]}),
          flush=True)
