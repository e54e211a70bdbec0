#!/usr/bin/env python3
# make bench, scenario "py": a stdlib Python handler behind the exec sink,
# spawn mode against persistent mode (concurrency 4). For each, N events
# are posted over 100 conversations; exec/s is N over the time from the
# first post to the last delivery, CPU us/event the daemon's CPU and its
# children's (the handlers, reaped by it) over N. Not a test.
#   persist.py DAEMON WORKDIR SPAWN_EVENTS PERSISTENT_EVENTS
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import time

daemon, work = sys.argv[1], sys.argv[2]
counts = {"spawn": int(sys.argv[3]), "persistent": int(sys.argv[4])}
top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
handler = os.path.join(top, "tests", "scripts", "persist_handler.py")
body0 = json.load(open(os.path.join(top, "bench", "message_created_4k.json")))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def metric(port, name):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/metrics")
    total = 0.0
    for line in c.getresponse().read().decode().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.split()[-1])
    c.close()
    return total


def run(mode, n):
    port = free_port()
    out = os.path.join(work, "handled." + mode)
    conf = os.path.join(work, "py-%s.conf" % mode)
    with open(conf, "w") as f:
        f.write("[server]\nshutdown_grace = 1s\n[sink bot]\ntype = exec\n"
                "mode = %s\ncommand = %s %s %s 0\nconcurrency = 4\n"
                % (mode, handler, mode, out))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.Popen([daemon, "-c", conf, "-l", "127.0.0.1:%d" % port],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            metric(port, "x")
            break
        except OSError:
            time.sleep(0.05)
    time.sleep(0.5)  # the persistent handlers' start-up, not timed
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    t0 = time.monotonic()
    for i in range(n):
        body0["conversation"]["id"] = 1 + i % 100
        body0["id"] = 1000000 + i
        c.request("POST", "/webhook", json.dumps(body0),
                  {"Content-Type": "application/json"})
        c.getresponse().read()
    while metric(port, "livedesk_sink_deliveries_total") < n:
        if time.monotonic() - t0 > 300:
            sys.exit("bench: %s: not all delivered in 300 s" % mode)
        time.sleep(0.05)
    secs = time.monotonic() - t0
    p.terminate()
    p.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime -
           before.ru_utime - before.ru_stime)
    return n / secs, cpu * 1e6 / n


res = {m: run(m, counts[m]) for m in ("spawn", "persistent")}
for m in ("spawn", "persistent"):
    print("  %-44s %8d events %9.1f exec/s %10.0f CPU us/event" %
          ("livedesk-webhookd, Python handler, " + m, counts[m],
           res[m][0], res[m][1]))
print("  persistent/spawn: %.1fx exec/s, %.1fx less CPU per event" %
      (res["persistent"][0] / res["spawn"][0],
       res["spawn"][1] / res["persistent"][1]))
