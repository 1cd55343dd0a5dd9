"""The report in headless Chromium: loads with no console errors, every figure renders, a screenshot is saved.

Talks the DevTools protocol over ``--remote-debugging-pipe`` (NUL-separated JSON on fds 3/4), so no websocket
library is needed. Chromium comes from Debian's ``chromium`` package (installed by .ci/run in CI).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from retscale.report.html import build_report
from synthetic_study import make_synthetic_study_dir

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--remote-debugging-pipe",
         "--window-size=1200,900"]

if CHROMIUM is None and os.environ.get("CI"):
    pytest.fail("chromium is not installed in CI (.ci/run installs Debian's chromium package)", pytrace=False)
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium); "
                                                          "this test is required in CI")]


class DevTools:
    """A minimal synchronous DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, user_data_dir: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire_fds() -> None:  # the child reads commands on fd 3 and writes replies on fd 4
            os.dup2(to_chrome_r, 3)  # dup2'd fds are inheritable; every other pipe end is close-on-exec
            os.dup2(from_chrome_w, 4)

        # close_fds=False: subprocess would otherwise close fds 3 and 4 after wire_fds ran
        self.proc = subprocess.Popen([CHROMIUM or "chromium", *FLAGS, f"--user-data-dir={user_data_dir}"],
                                     preexec_fn=wire_fds, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no reply from chromium")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the debugging pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 60) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._read_message(deadline))

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close", timeout=10)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


def _errors(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.exceptionThrown":
            out.append(json.dumps(p.get("exceptionDetails", {}))[:300])
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append(json.dumps(p.get("args", []))[:300])
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            out.append(p["entry"].get("text", "")[:300])
    return out


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    report = build_report(make_synthetic_study_dir(tmp_path))
    chrome = DevTools(tmp_path / "chrome-profile")
    try:
        target = chrome.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = chrome.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            chrome.send(f"{domain}.enable", session=session)
        chrome.send("Page.navigate", {"url": report.as_uri()}, session=session)
        chrome.wait_for("Page.loadEventFired")
        images = chrome.send("Runtime.evaluate", {"expression": "JSON.stringify([...document.images].map(i => "
                                                  "[i.complete, i.naturalWidth, i.naturalHeight]))",
                                                  "returnByValue": True}, session=session)["result"]["value"]
        height = chrome.send("Runtime.evaluate", {"expression": "document.body.scrollHeight", "returnByValue": True},
                             session=session)["result"]["value"]
        shot = chrome.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                           session=session)["data"]
        errors = _errors(chrome.events)
    finally:
        chrome.close()
    screenshot = tmp_path / "report-screenshot.png"
    screenshot.write_bytes(base64.b64decode(shot))
    print(f"screenshot: {screenshot}")
    assert errors == []
    dims = json.loads(images)
    assert len(dims) == 3
    assert all(complete and w > 300 and h > 200 for complete, w, h in dims), dims
    assert height > 2000  # tables and sections rendered below the figures
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 20_000
