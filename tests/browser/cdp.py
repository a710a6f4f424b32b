#!/usr/bin/env python3
"""Loads a page in headless Chromium and waits, in real time, until the page
says it is done (#status gets class "ok" or "fail"), then writes the DOM and
a screenshot. Chromium's own --dump-dom / --screenshot cannot wait for
WebSocket samples that arrive once a second (their --virtual-time-budget
runs timers ahead of the clock), so this speaks the DevTools protocol over
--remote-debugging-pipe (fds 3 and 4, NUL-separated JSON): standard library
only.

usage: cdp.py URL DOM_OUT PNG_OUT [TIMEOUT_S] [chromium args...]
"""
import base64
import fcntl
import json
import os
import subprocess
import sys
import time


def main():
    url, dom_out, png_out = sys.argv[1:4]
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 30
    extra = sys.argv[5:]
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()

    def child_fds():
        # Through fds above 4 first: a pipe end may itself be 3 or 4.
        r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
        w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
        os.dup2(r, 3)
        os.dup2(w, 4)

    proc = subprocess.Popen(
        ["chromium", "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
         "--disable-dev-shm-usage", "--window-size=1000,1000", *extra, "about:blank"],
        preexec_fn=child_fds, close_fds=False,  # dup2 in child_fds makes 3 and 4 inheritable
        stdout=subprocess.DEVNULL, stderr=open(dom_out + ".chromium.log", "w"))
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    out = os.fdopen(to_chrome_w, "wb", buffering=0)
    inp = os.fdopen(from_chrome_r, "rb", buffering=0)
    buf = b""
    next_id = [0]

    def call(method, params=None, session=None):
        nonlocal buf
        next_id[0] += 1
        msg = {"id": next_id[0], "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        out.write(json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in buf:
                chunk = inp.read(65536)
                if not chunk:
                    raise RuntimeError("chromium closed the pipe")
                buf += chunk
            raw, buf = buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == next_id[0]:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    try:
        target = call("Target.createTarget", {"url": url})["targetId"]
        session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

        def evaluate(expr):
            r = call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)
            return r["result"].get("value")

        deadline = time.time() + timeout
        state = None
        while time.time() < deadline:
            state = evaluate("(document.getElementById('status') || {}).className || ''")
            if state in ("ok", "fail"):
                break
            time.sleep(0.25)
        with open(dom_out, "w") as f:
            f.write(evaluate("document.documentElement.outerHTML") or "")
        shot = call("Page.captureScreenshot", {"format": "png"}, session)
        with open(png_out, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print(f"page state: {state or 'timeout'}")
        return 0 if state == "ok" else 1
    finally:
        try:
            call("Browser.close")
        except Exception:
            pass
        proc.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
