#!/usr/bin/env python3
"""Checks the monitoring kit against what the daemon really exports.

Usage: check_monitoring.py SCRAPE RULES.yml DASHBOARD.json...

SCRAPE is a /metrics text taken from the running daemon. Every PromQL
expression of the alert rules (RULES.yml, Prometheus rule files) and of the
Grafana dashboards (panel targets, annotation queries, label_values()
variables) must:
  - name only metrics that SCRAPE holds (a histogram's series as
    NAME_bucket/_sum/_count, as they are scraped), or up, which Prometheus
    itself writes for every target;
  - parse: promtool check rules on the rule files, and on a temporary rule
    file with each dashboard expression as a recording rule (Grafana's
    variables replaced by values of the same kind first).
Prints each problem, one a line, and exits 1 when there is one.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

# Written by Prometheus for each scrape, not by the target.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring",
            "group_left", "group_right", "offset", "bool", "inf", "nan",
            "atan2"}
# Grafana's variables, by the kind of value they stand for in a query.
GRAFANA_VARS = [
    (r"\$__rate_interval|\$\{__rate_interval\}", "5m"),
    (r"\$__interval|\$\{__interval\}", "1m"),
    (r"\$__range|\$\{__range\}", "1h"),
    (r"\$job|\$\{job\}", "livedesk-webhookd"),
    (r"\$instance|\$\{instance\}", ".*"),
]


def scraped_names(path):
    names = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            m = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)
            if m:
                names.add(m.group(0))
    return names


def metric_names(expr):
    """The metric names a PromQL expression selects."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    names = set()
    # {__name__="x"} selects x.
    for m in re.finditer(r'__name__\s*=\s*"([^"]*)"', expr):
        names.add(m.group(1))
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
               " ", s)
    for m in re.finditer(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", s):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def grafana_subst(expr):
    for pat, val in GRAFANA_VARS:
        expr = re.sub(pat, val, expr)
    return expr


def rule_exprs(path):
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    out = []
    for g in doc.get("groups", []):
        for r in g.get("rules", []):
            out.append((f"{path}: {r.get('alert') or r.get('record')}",
                        r["expr"]))
    return out


def dashboard_exprs(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    out = []

    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(doc.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                out.append((f"{path}: panel '{p.get('title')}' "
                            f"{t.get('refId')}", t["expr"]))
    for a in doc.get("annotations", {}).get("list", []):
        if a.get("expr"):
            out.append((f"{path}: annotation '{a.get('name')}'", a["expr"]))
    for v in doc.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if v.get("type") != "query" or not isinstance(q, str):
            continue
        # label_values(SELECTOR, label): the selector is PromQL.
        m = re.match(r"\s*label_values\((.*),\s*\w+\s*\)\s*$", q)
        if m:
            q = m.group(1)
        out.append((f"{path}: variable '{v.get('name')}'", q))
    return [(w, grafana_subst(e)) for w, e in out]


def promtool_check(path):
    r = subprocess.run(["promtool", "check", "rules", path],
                       capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    have = scraped_names(argv[1]) | SYNTHETIC
    problems = []
    exprs = []
    dash = []
    for path in argv[2:]:
        if path.endswith(".json"):
            got = dashboard_exprs(path)
            dash += got
        else:
            got = rule_exprs(path)
            rc, out = promtool_check(path)
            if rc != 0:
                problems.append(f"{path}: promtool check rules: {out}")
        if not got:
            problems.append(f"{path}: no expressions found")
        exprs += got
    for where, expr in exprs:
        names = metric_names(expr)
        if not names:
            problems.append(f"{where}: names no metric: {expr}")
        for n in sorted(names - have):
            problems.append(f"{where}: {n} is not in /metrics")
    if dash:
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:expr_{i}", "expr": e}
            for i, (_, e) in enumerate(dash)]}]}
        fd, tmp = tempfile.mkstemp(suffix=".yml")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                yaml.safe_dump(rules, f)
            rc, out = promtool_check(tmp)
        finally:
            os.unlink(tmp)
        if rc != 0:
            problems.append(f"dashboard expressions: promtool check rules: "
                            f"{out}")
    for p in problems:
        print(p)
    print(f"check_monitoring: {len(exprs)} expressions, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
