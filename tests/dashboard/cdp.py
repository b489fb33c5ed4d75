"""A small Chrome DevTools Protocol driver for the distribution's headless Chromium (a copy of issue 14's
tests/browser/cdp.py, made while that branch was unmerged: keep one after both merge).

No browser download and no driver binary: Chromium is started with a debugging port and driven
over one websocket (``websockets``' sync client). Clicks and typing are real input events at the
element's position, so an element hidden or covered on the page cannot be "clicked" by a test.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
DESKTOP = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium process with one page."""

    def __init__(self, executable: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="skillpass-chromium-")
        args = [
            executable,
            "--headless=new",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--remote-debugging-port=0",
            f"--user-data-dir={self.profile}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = self._debugging_port()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t["type"] == "page")
        # Entered by hand: the connection lives as long as this object, closed in close().
        self.ws: ClientConnection = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10).__enter__()
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self._page_start = 0  # events of the current page start here
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    def _debugging_port(self) -> int:
        deadline = time.monotonic() + 30
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if found:
                return int(found.group(1))
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError("chromium did not start")

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            shutil.rmtree(self.profile, ignore_errors=True)

    # -- the protocol -------------------------------------------------------------------------

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        self._next_id += 1
        call_id = self._next_id
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self.events.append(message)

    def _drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = json.loads(self.ws.recv(timeout=left))
            except TimeoutError:
                return
            if "method" in message:
                self.events.append(message)

    def _wait_event(self, method: str, since: int, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events[since:]:
                if event["method"] == method:
                    return event
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} in {timeout} s")
            self._drain(0.05)

    # -- what a test does ---------------------------------------------------------------------

    def viewport(self, metrics: dict[str, Any]) -> None:
        self.send("Emulation.setDeviceMetricsOverride", metrics)

    def goto(self, url: str, timeout: float = 30) -> None:
        since = self._page_start = len(self.events)
        self.send("Page.navigate", {"url": url})
        self._wait_event("Page.loadEventFired", since, timeout)

    def eval(self, expression: str) -> Any:
        answer = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> Any:
        """Polls until ``expression`` is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"not true in {timeout} s: {expression}")
            self._drain(0.1)

    def _centre(self, selector: str) -> tuple[float, float]:
        box = self.wait_for(
            f"""(() => {{ const el = document.querySelector({json.dumps(selector)});
                if (!el) return null; el.scrollIntoView({{block: "center"}});
                const r = el.getBoundingClientRect();
                if (r.width === 0 || r.height === 0) return null;
                const x = r.left + r.width / 2, y = r.top + r.height / 2;
                const top = document.elementFromPoint(x, y);
                return (top === el || el.contains(top)) ? [x, y] : null; }})()"""
        )
        return float(box[0]), float(box[1])

    def click(self, selector: str) -> None:
        x, y = self._centre(selector)
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def click_and_load(self, selector: str, timeout: float = 30) -> None:
        since = len(self.events)
        self.click(selector)
        self._wait_event("Page.loadEventFired", since, timeout)

    def type(self, selector: str, text: str) -> None:
        """Focuses the field, clears it and types ``text`` as keyboard input."""
        self.click(selector)
        self.eval(f"document.querySelector({json.dumps(selector)}).select()")
        self.send("Input.insertText", {"text": text})

    def text(self, selector: str) -> str:
        value = self.eval(f"(document.querySelector({json.dumps(selector)}) || {{}}).innerText || ''")
        return str(value)

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def console_errors(self) -> list[str]:
        """Errors logged since the last :meth:`goto` (CSP refusals included)."""
        self._drain(0.05)
        out = []
        for event in self.events[self._page_start :]:
            if event["method"] == "Log.entryAdded" and event["params"]["entry"]["level"] == "error":
                out.append(event["params"]["entry"]["text"])
            if event["method"] == "Runtime.exceptionThrown":
                out.append(str(event["params"]["exceptionDetails"].get("text")))
        return out


def start_browser() -> Browser | None:
    path = os.environ.get("SKILLPASS_CHROMIUM") or chromium_path()
    return Browser(path) if path else None
