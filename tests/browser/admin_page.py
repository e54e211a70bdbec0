#!/usr/bin/python3
"""The operator's page in a real headless browser (Debian's chromium,
chromium-driver and python3-selenium), against a running daemon that
tests/check_admin_browser.c started: admin page on --admin with --token,
webhooks on --webhook, one exec sink that fails until --flag exists.

Prints one line per check and ends with "N passed, N failed"; exits 1
when any failed. --screenshot PATH saves the page as a PNG.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

RESULTS = []


def check(name):
    def wrap(fn):
        def run(*a):
            try:
                fn(*a)
                RESULTS.append((name, None))
                print("PASS", name, flush=True)
            except Exception as e:  # report, then go on with the others
                RESULTS.append((name, e))
                print("FAIL %s: %s" % (name, e), flush=True)
                traceback.print_exc()
        return run
    return wrap


def http(method, url, headers=None, body=None):
    req = urllib.request.Request(url, data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def post_event(args, content, conversation, message_id):
    body = json.dumps({
        "event": "message_created", "id": message_id,
        "message_type": "incoming", "content": content,
        "conversation": {"id": conversation},
        "sender": {"name": "Customer %d" % conversation},
    }).encode()
    st, _, text = http("POST", args.webhook + "/webhook",
                       {"Content-Type": "application/json"}, body)
    assert st == 200, "webhook answered %d: %s" % (st, text)


def browser(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ("--headless", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--no-first-run",
              "--disable-background-networking",
              "--disable-component-update", "--disable-sync",
              "--window-size=1280,1000", "--user-data-dir=" + profile):
        opts.add_argument(a)
    svc = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=svc, options=opts)


SCALE = 1  # --scale: every wait longer (the daemon under valgrind)


def wait_for(fn, secs, what):
    secs *= SCALE
    end = time.monotonic() + secs
    while True:
        if fn():
            return
        if time.monotonic() > end:
            raise AssertionError("not within %g s: %s" % (secs, what))
        time.sleep(0.05)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--admin", required=True)
    p.add_argument("--webhook", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--flag", required=True)
    p.add_argument("--screenshot")
    p.add_argument("--scale", type=float, default=1,
                   help="multiply every wait (a daemon under valgrind); "
                   "the 2 s of the first check then says so")
    args = p.parse_args()
    global SCALE
    SCALE = args.scale
    auth = {"Authorization": "Bearer " + args.token}

    @check("headers: CSP, nosniff, no-referrer; 401 without the token")
    def headers():
        st, h, _ = http("GET", args.admin + "/")
        assert st == 401, st
        st, h, _ = http("GET", args.admin + "/api/status")
        assert st == 401, st
        st, h, _ = http("GET", args.admin + "/", auth)
        assert st == 200, st
        csp = h.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp, csp
        assert "script-src 'nonce-" in csp and "unsafe" not in csp, csp
        assert h.get("X-Content-Type-Options") == "nosniff", h
        assert h.get("Referrer-Policy") == "no-referrer", h

    @check("a POST without the CSRF token is refused")
    def csrf():
        st, _, text = http("POST", args.admin + "/api/dead-letters/replay",
                           auth, b"")
        assert st == 403, (st, text)
        st, _, text = http("POST", args.admin + "/api/dead-letters/replay",
                           dict(auth, **{"Content-Type":
                                         "application/x-www-form-urlencoded"}),
                           b"csrf=nope")
        assert st == 403, (st, text)

    headers()
    csrf()
    profile = tempfile.mkdtemp(prefix="ld-chromium-")
    d = browser(profile)
    try:
        d.set_page_load_timeout(20)

        @check("the login form lets the operator in")
        def login():
            d.get(args.admin + "/")
            box = d.find_element(By.NAME, "token")
            box.send_keys(args.token)
            box.submit()
            wait_for(lambda: "Recent deliveries" in d.page_source, 5,
                     "the page after logging in")
            cookies = {c["name"]: c for c in d.get_cookies()}
            assert cookies["ld_admin"].get("sameSite") == "Strict", cookies
            assert cookies["ld_admin"].get("httpOnly"), cookies

        @check("the page shows a posted event within 2 s" +
           (" (x%g: the daemon runs slower here)" % SCALE
            if SCALE != 1 else ""))
        def posted():
            post_event(args, "Hello, is my order on its way?", 101, 1001)
            t0 = time.monotonic()

            def shown():
                d.get(args.admin + "/")
                return "Hello, is my order on its way?" in \
                    d.find_element(By.ID, "deliveries-table").text
            wait_for(shown, 2, "the posted event on the page")
            print("  shown after %.2f s" % (time.monotonic() - t0))

        @check("markup in a message shows as text and runs nothing")
        def xss():
            img = "<img src=x onerror=\"window.__pwned=1\">"
            scr = "<script>window.__pwned=2</script>"
            post_event(args, img, 102, 1002)
            post_event(args, scr, 103, 1003)

            def shown():
                d.get(args.admin + "/")
                t = d.find_element(By.ID, "deliveries-table").text
                return img in t and scr in t
            wait_for(shown, 5, "both messages as text")
            assert d.execute_script("return window.__pwned") is None
            assert not d.find_elements(By.CSS_SELECTOR,
                                       "#deliveries-table img")
            # Opened, the payload is text too.
            link = d.find_elements(By.CSS_SELECTOR,
                                   "#deliveries-table tr.delivery a")[0]
            link.click()
            wait_for(lambda: d.find_elements(By.ID, "detail"), 5,
                     "the delivery opened")
            assert d.execute_script("return window.__pwned") is None

        @check("a failing exec sink's event is a dead letter with its "
               "reason; Replay after the fix runs it and it is gone")
        def replay():
            post_event(args, "please call me back", 104, 1004)

            def dead():
                d.get(args.admin + "/")
                rows = d.find_elements(By.CSS_SELECTOR, "#dead-table tr.dead")
                return any("status 3" in r.text and
                           "not fixed yet" in r.text for r in rows)
            wait_for(dead, 10, "the dead letter with its reason")
            st, _, text = http("GET", args.admin + "/api/dead-letters",
                               auth)
            ids = [x["id"] for x in json.loads(text)["dead_letters"]]
            assert ids, text
            # The script is fixed; Replay each from the page.
            with open(args.flag, "w"):
                pass
            for i in ids:
                d.get(args.admin + "/")
                button = d.find_element(
                    By.CSS_SELECTOR, "button.replay[data-id='%s']" % i)
                button.click()
                # The page the form's answer leads back to, not the one
                # clicked on (it may show an earlier replay's result).
                WebDriverWait(d, 20).until(EC.staleness_of(button))
                wait_for(lambda: d.find_elements(By.ID, "replay-result"),
                         20, "the replay's result")
                msg = d.find_element(By.ID, "replay-result").text
                assert "replayed " + i in msg and "ok" in msg, msg
            d.get(args.admin + "/")
            assert not d.find_elements(By.CSS_SELECTOR, "#dead-table tr.dead")
            st, _, text = http("GET", args.admin + "/api/dead-letters",
                               auth)
            assert json.loads(text)["dead_letters"] == [], text

        login()
        posted()
        xss()
        replay()
        if args.screenshot:
            # Some traffic for the picture, and a dead letter to replay.
            os.unlink(args.flag)
            for i, text in enumerate(("Where is my parcel?",
                                      "Can I change the delivery address?",
                                      "<b>Thanks!</b>")):
                post_event(args, text, 200 + i, 2000 + i)
            wait_for(lambda: json.loads(http(
                "GET", args.admin + "/api/status", auth)[2])["dead_letters"]
                >= 3, 10, "the dead letters for the picture")
            d.get(args.admin + "/")
            d.set_window_size(1280, 1500)
            d.save_screenshot(args.screenshot)
            print("  screenshot in", args.screenshot)
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)
    failed = sum(1 for _, e in RESULTS if e is not None)
    print("%d passed, %d failed" % (len(RESULTS) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
