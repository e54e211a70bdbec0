#!/usr/bin/env python3
"""Draws the panels of conf/grafana/livedesk-webhookd.json from a recorded
/metrics series, for the README (Grafana is not in Debian's archive, so the
picture is not a Grafana screenshot: the same panels and queries, drawn by
this script). Python's standard library only; the SVG becomes a PNG with
rsvg-convert (librsvg2-bin) or ImageMagick's convert.

  dashboard-picture.py record DAEMON SECONDS OUT.jsonl
      starts DAEMON (build/livedesk-webhookd) on a loopback port with a
      spool and three sinks (a file, the log, one that always fails and
      dead-letters), sends it fixtures and some bad requests at a varying
      rate, and scrapes /metrics once a second into OUT.jsonl.
  dashboard-picture.py render IN.jsonl OUT.svg [OUT.png]
"""
import glob
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    out = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if not m or line.startswith("#"):
            continue
        labels = tuple(sorted(LABEL.findall(m.group(3) or "")))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def post(url, body, ctype="application/json"):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def record(daemon, seconds, out):
    tmp = tempfile.mkdtemp(prefix="ld-dash-")
    conf = os.path.join(tmp, "d.conf")
    with open(conf, "w") as f:
        f.write(f"""[server]
spool_dir = {tmp}/spool
shutdown_grace = 1s
max_body = 64k
[sink archive]
type = file
path = {tmp}/events.jsonl
[sink log]
type = log
[sink crm]
type = file
path = /dev/full
events = conversation_created
retries = 1
retry_base = 50ms
""")
    log = open(os.path.join(tmp, "daemon.log"), "w+")
    p = subprocess.Popen([daemon, "-c", conf, "-l", "127.0.0.1:0"],
                         stdout=log, stderr=log)
    port = None
    for _ in range(100):
        log.seek(0)
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read())
        if m:
            port = m.group(1)
            break
        time.sleep(0.1)
    if port is None:
        p.kill()
        sys.exit("record: the daemon did not start")
    base = f"http://127.0.0.1:{port}"
    fixtures = [open(f, "rb").read()
                for f in sorted(glob.glob("fixtures/*.json"))
                if "big" not in f][:12]
    stop = threading.Event()
    t0 = time.time()

    def load():
        rnd = random.Random(18)
        while not stop.is_set():
            x = (time.time() - t0) / seconds
            # A daily-looking swell, with a burst of bad senders midway.
            rate = 20 + 60 * math.sin(math.pi * x) ** 2
            post(base + "/webhook", rnd.choice(fixtures))
            if rnd.random() < 0.03:
                post(base + "/webhook", b"{", "application/json")
            if 0.45 < x < 0.6 and rnd.random() < 0.2:
                post(base + "/webhook", b"a=1",
                     "application/x-www-form-urlencoded")
            time.sleep(1 / rate)

    th = threading.Thread(target=load)
    th.start()
    with open(out, "w") as f:
        while time.time() - t0 < seconds:
            with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
                text = r.read().decode()
            f.write(json.dumps({"t": time.time(), "metrics": text}) + "\n")
            time.sleep(1)
    stop.set()
    th.join()
    p.terminate()
    p.wait()
    shutil.rmtree(tmp)


# --- rendering -----------------------------------------------------------

COLORS = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2",
          "#b877d9", "#fade2a", "#ff9830", "#96d98d"]
W, H, PAD = 1600, 1330, 8
RATE = 10  # samples over which a rate is taken, like [$__rate_interval]


def series(scrapes, name, match=None):
    """{labels: [values]} for one metric over every scrape."""
    keys = set()
    for s in scrapes:
        for (n, lab) in s:
            if n == name and (match is None or match(dict(lab))):
                keys.add(lab)
    return {k: [s.get((name, k), float("nan")) for s in scrapes]
            for k in sorted(keys)}


def rate(vals, ts):
    out = []
    for i in range(len(vals)):
        j = max(0, i - RATE)
        dt = ts[i] - ts[j]
        out.append((vals[i] - vals[j]) / dt if dt > 0 else float("nan"))
    return out


def sum_by(scrapes, ts, name, label, do_rate=True, match=None):
    groups = {}
    for lab, vals in series(scrapes, name, match).items():
        key = dict(lab).get(label, "") if label else ""
        v = rate(vals, ts) if do_rate else vals
        g = groups.setdefault(key, [0.0] * len(v))
        groups[key] = [a + b for a, b in zip(g, v)]
    return groups


def top(vals):
    """The largest value, NaN (no rate yet) left out; 0 when none."""
    return max((v for v in vals if v == v), default=0)


def fmt(v, unit):
    if v != v:
        return ""
    if unit == "bytes":
        for u in ["B", "KiB", "MiB", "GiB"]:
            if abs(v) < 1024:
                return f"{v:.0f} {u}" if u == "B" else f"{v:.1f} {u}"
            v /= 1024
        return f"{v:.1f} TiB"
    if unit == "s":
        return f"{v * 1000:.1f} ms" if 0 < abs(v) < 1 else f"{v:.0f} s"
    if unit == "%":
        return f"{v * 100:.0f}%"
    if abs(v) >= 1000:
        return f"{v / 1000:.1f}k"
    return f"{v:.2g}" if abs(v) < 10 else f"{v:.0f}"


def esc(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))


class Svg:
    def __init__(self):
        self.parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" '
                      f'height="{H}" font-family="DejaVu Sans, sans-serif">',
                      f'<rect width="{W}" height="{H}" fill="#111217"/>']

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=12, fill="#ccccdc", anchor="start",
             weight="normal"):
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" '
                 f'fill="{fill}" text-anchor="{anchor}" '
                 f'font-weight="{weight}">{esc(s)}</text>')

    def done(self):
        return "\n".join(self.parts + ["</svg>"])


def frame(svg, x, y, w, h, title):
    svg.add(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="3" '
            f'fill="#181b1f" stroke="#2c3235"/>')
    svg.text(x + 10, y + 20, title, 13, "#d8d9da", weight="bold")
    return x + 52, y + 32, w - 62, h - 62  # plot area


def lines(svg, x, y, w, h, title, ts, named, unit=""):
    px, py, pw, ph = frame(svg, x, y, w, h, title)
    vals = [v for _, vs in named for v in vs if v == v]
    hi = max(vals) if vals else 1
    hi = hi * 1.1 if hi > 0 else 1
    for k in range(5):
        gy = py + ph - ph * k / 4
        svg.add(f'<line x1="{px}" y1="{gy:.1f}" x2="{px + pw}" '
                f'y2="{gy:.1f}" stroke="#2c3235"/>')
        svg.text(px - 4, gy + 4, fmt(hi * k / 4, unit), 10, "#8e8e8e",
                 "end")
    t0, t1 = ts[0], ts[-1]
    for m in range(0, int(t1 - t0) + 1, 30):
        gx = px + pw * m / (t1 - t0)
        svg.text(gx, py + ph + 14, f"{m // 60}:{m % 60:02d}", 10, "#8e8e8e",
                 "middle")
    lx = px
    for i, (name, vs) in enumerate(named):
        c = COLORS[i % len(COLORS)]
        pts = " ".join(f"{px + pw * (t - t0) / (t1 - t0):.1f},"
                       f"{py + ph - ph * v / hi:.1f}"
                       for t, v in zip(ts, vs) if v == v)
        if pts:
            svg.add(f'<polyline points="{pts}" fill="none" stroke="{c}" '
                    f'stroke-width="1.5"/>')
        svg.add(f'<rect x="{lx}" y="{py + ph + 22}" width="10" height="4" '
                f'fill="{c}"/>')
        svg.text(lx + 14, py + ph + 28, name, 10)
        lx += 20 + 6.5 * len(name)


def heatmap(svg, x, y, w, h, title, ts, scrapes):
    px, py, pw, ph = frame(svg, x, y, w, h, title)
    buckets = sum_by(scrapes, ts, "livedesk_sink_duration_seconds_bucket",
                     "le")
    les = sorted((float(k), k) for k in buckets if k != "+Inf")
    # From cumulative buckets to per-bucket counts.
    rows = []
    prev = [0.0] * len(ts)
    for le, k in les:
        cur = buckets[k]
        rows.append((le, [max(0.0, a - b) for a, b in zip(cur, prev)]))
        prev = cur
    peak = max((v for _, r in rows for v in r if v == v), default=1) or 1
    n = len(rows)
    step = max(1, len(ts) // 60)
    cw = pw / math.ceil(len(ts) / step)
    for ri, (le, r) in enumerate(rows):
        cy = py + ph - ph * (ri + 1) / n
        svg.text(px - 4, cy + ph / n / 2 + 4, fmt(le, "s"), 9, "#8e8e8e",
                 "end")
        for ci in range(0, len(ts), step):
            v = r[ci]
            if not v == v or v <= 0:
                continue
            a = math.sqrt(v / peak)
            svg.add(f'<rect x="{px + cw * (ci // step):.1f}" y="{cy:.1f}" '
                    f'width="{cw - 1:.1f}" height="{ph / n - 1:.1f}" '
                    f'fill="#ff780a" fill-opacity="{0.15 + 0.85 * a:.2f}"/>')


def quantile(q, ts, scrapes, sink):
    b = sum_by(scrapes, ts, "livedesk_sink_duration_seconds_bucket", "le",
               match=lambda l: l.get("sink") == sink)
    les = sorted((float("inf") if k == "+Inf" else float(k), k) for k in b)
    out = []
    for i in range(len(ts)):
        total = b[les[-1][1]][i]
        if not total == total or total <= 0:
            out.append(float("nan"))
            continue
        want, lo, prev = q * total, 0.0, 0.0
        val = float("nan")
        for le, k in les:
            c = b[k][i]
            if c >= want:
                hi = le if le != float("inf") else lo
                val = lo + (hi - lo) * ((want - prev) / (c - prev)
                                        if c > prev else 1)
                break
            lo, prev = le, c
        out.append(val)
    return out


def render(inp, out_svg, out_png=None):
    rec = [json.loads(l) for l in open(inp)]
    ts = [r["t"] for r in rec]
    scrapes = [parse(r["metrics"]) for r in rec]
    rel = [t - ts[0] for t in ts]
    svg = Svg()
    svg.text(16, 30, "livedesk-webhookd", 20, "#d8d9da", weight="bold")
    svg.text(250, 30, "the panels of conf/grafana/livedesk-webhookd.json, "
             "drawn by scripts/dashboard-picture.py from a recorded /metrics "
             "series (not a Grafana screenshot)", 12, "#8e8e8e")
    cols = lambda n: (W - PAD * (n + 1)) / n
    y = 44
    ph = 230

    def row(title, panels):
        nonlocal y
        svg.text(PAD + 4, y + 16, title, 14, "#d8d9da", weight="bold")
        y += 24
        w = cols(len(panels))
        for i, fn in enumerate(panels):
            fn(PAD + i * (w + PAD), y, w, ph)
        y += ph + PAD

    def L(title, named, unit=""):
        return lambda x, yy, w, h: lines(svg, x, yy, w, h, title, rel,
                                         named, unit)

    codes = sum_by(scrapes, ts, "livedesk_http_requests_total", "code")
    codes = [(k, v) for k, v in codes.items()
             if top(v) > 0]
    drops = sum_by(scrapes, ts, "livedesk_events_dropped_total", "reason")
    drops = [(k, v) for k, v in drops.items()
             if top(v) > 0]
    g = lambda n: sum_by(scrapes, ts, n, None, False).get("", [])
    sinks = sorted(sum_by(scrapes, ts, "livedesk_sink_deliveries_total",
                          "sink"))
    dl = sum_by(scrapes, ts, "livedesk_sink_deliveries_total", "sink")
    fl = sum_by(scrapes, ts, "livedesk_sink_failures_total", "sink")
    rt = sum_by(scrapes, ts, "livedesk_sink_retries_total", "sink")
    dd = sum_by(scrapes, ts, "livedesk_sink_dead_total", "sink")
    ratio = {s: [f / (f + d) if (f + d) > 0 else 0
                 for f, d in zip(fl[s], dl[s])] for s in sinks}
    row("Requests", [L("Requests by status (req/s)", codes),
                     L("Refusals by reason (req/s)", drops)])
    row("Backlog", [L("Backlog", [("backlog", g("livedesk_backlog_events")),
                                  ("in memory", g("livedesk_queue_depth")),
                                  ("retrying", g("livedesk_spool_retrying"))]),
                    L("Backlog lag", [("oldest event",
                                       g("livedesk_backlog_oldest_seconds"))],
                      "s")])
    row("Sinks", [L("Deliveries per sink (/s)", [(s, dl[s]) for s in sinks]),
                  L("Errors per sink (/s)",
                    [(f"{s} failed", fl[s]) for s in sinks if top(fl[s]) > 0]
                    + [(f"{s} retried", rt[s]) for s in sinks
                       if top(rt[s]) > 0]
                    + [(f"{s} dead", dd[s]) for s in sinks if top(dd[s]) > 0]),
                  L("Failure ratio per sink", [(s, ratio[s]) for s in sinks],
                    "%")])
    row("Sinks: delivery duration",
        [lambda x, yy, w, h: heatmap(svg, x, yy, w, h,
                                     "Delivery duration (all sinks)", rel,
                                     scrapes),
         L("Delivery duration p50 / p95 per sink",
           [(f"{s} p95", quantile(0.95, ts, scrapes, s)) for s in sinks
            if s != "crm"] +
           [(f"{s} p50", quantile(0.5, ts, scrapes, s)) for s in sinks
            if s != "crm"], "s")])
    ph = 200
    row("Spool and process",
        [L("Spool events", [("pending", g("livedesk_spool_pending")),
                            ("dead letters", g("livedesk_spool_dead"))]),
         L("Memory", [("resident", g("process_resident_memory_bytes"))],
           "bytes"),
         L("File descriptors", [("open", g("process_open_fds"))]),
         L("CPU (s/s)", [("cpu", rate(g("process_cpu_seconds_total"), ts))])])
    with open(out_svg, "w") as f:
        f.write(svg.done())
    if out_png:
        if shutil.which("rsvg-convert"):
            subprocess.run(["rsvg-convert", "-o", out_png, out_svg],
                           check=True)
        else:
            subprocess.run(["convert", out_svg, out_png], check=True)


def main(argv):
    if len(argv) >= 5 and argv[1] == "record":
        record(argv[2], float(argv[3]), argv[4])
    elif len(argv) >= 4 and argv[1] == "render":
        render(argv[2], argv[3], argv[4] if len(argv) > 4 else None)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
