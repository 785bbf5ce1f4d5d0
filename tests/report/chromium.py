"""Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``).

No driver package and no port: Chromium reads NUL-terminated JSON commands on fd 3 and writes
replies and events on fd 4. Enough of CDP to load a page, collect console errors, exceptions and
network requests, read the DOM, take a screenshot and print to PDF.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
    "--disable-extensions", "--mute-audio", "--hide-scrollbars", "--remote-debugging-pipe",
)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class CdpError(RuntimeError):
    pass


@dataclass
class PageLoad:
    """What happened while a page loaded: console messages, exceptions, log entries, requests, dialogs."""

    console: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    log_entries: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        out = [f"console.{m.get('type')}: {m.get('args')}" for m in self.console
               if m.get("type") in ("error", "assert")]
        out += [f"exception: {e.get('exceptionDetails', {}).get('text')}" for e in self.exceptions]
        out += [f"log {e.get('entry', {}).get('source')}: {e.get('entry', {}).get('text')}"
                for e in self.log_entries if e.get("entry", {}).get("level") == "error"]
        out += [f"dialog: {d}" for d in self.dialogs]
        return out


class Chromium:
    """One headless browser; use as a context manager so it is always stopped."""

    def __init__(self, binary: str, profile_dir: Path, timeout: float = 30.0) -> None:
        self.timeout = timeout
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Chromium wants the pipe on fd 3 and 4. Lift our ends above 9 so they cannot collide with 3 or 4,
        # then let bash (dash cannot redirect fds above 9) put them in place; no preexec_fn needed.
        child_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)
        shell = f'exec "$0" "$@" 3<&{child_r} 4>&{child_w} {child_r}<&- {child_w}>&-'
        self.process = subprocess.Popen(
            ["/bin/bash", "-c", shell, binary, *FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
            pass_fds=(child_r, child_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True,
        )
        os.close(child_r)
        os.close(child_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self.session: str | None = None

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CdpError("no reply from Chromium in time")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                stderr = self.process.stderr.read().decode(errors="replace")[-2000:] if self.process.stderr else ""
                raise CdpError(f"Chromium closed the pipe (exit {self.process.poll()}): {stderr}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return dict(json.loads(message))

    def send(self, method: str, params: dict[str, Any] | None = None, session: bool = True) -> dict[str, Any]:
        self._next_id += 1
        command: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            command["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise CdpError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self._events.append(message)

    def wait_for(self, event: str, timeout: float | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + (timeout or self.timeout)
        for message in self._events:
            if message.get("method") == event:
                return message
        while True:
            message = self._read_message(deadline)
            self._events.append(message)
            if message.get("method") == event:
                return message

    def open_page(self, width: int = 1280, height: int = 900) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
                             session=False)
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def load(self, url: str) -> PageLoad:
        """Navigate and wait for the load event (plus a moment for late console messages)."""
        self._events.clear()
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")
        self.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(r, 50)))", await_promise=True)
        load = PageLoad()
        for m in self._events:
            params = m.get("params", {})
            match m.get("method"):
                case "Runtime.consoleAPICalled":
                    args = [a.get("value", a.get("description")) for a in params.get("args", [])]
                    load.console.append({"type": params.get("type"), "args": args})
                case "Runtime.exceptionThrown":
                    load.exceptions.append(params)
                case "Log.entryAdded":
                    load.log_entries.append(params)
                case "Network.requestWillBeSent":
                    load.requests.append(params.get("request", {}).get("url", ""))
                case "Page.javascriptDialogOpening":
                    load.dialogs.append(params.get("message", ""))
        return load

    def evaluate(self, expression: str, await_promise: bool = False) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": await_promise})
        if "exceptionDetails" in result:
            raise CdpError(f"{expression!r}: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    def screenshot(self, path: Path, max_height: int = 8000) -> Path:
        """A PNG of the whole page (up to ``max_height`` pixels tall)."""
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        width = int(self.evaluate("document.documentElement.clientWidth"))
        shot = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": min(height, max_height), "scale": 1},
        })
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def print_pdf(self) -> bytes:
        pdf = self.send("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True})
        return base64.b64decode(pdf["data"])

    def close(self) -> None:
        """Ask the browser to quit; kill its process group (ours, by id) if it does not."""
        if self.process.poll() is None:
            with contextlib.suppress(CdpError, OSError):
                self.send("Browser.close", session=False)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        for fd in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.process.stderr:
            self.process.stderr.close()
