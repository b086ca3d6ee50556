"""Open a page in real headless Chromium and say what a reader would see go wrong.

Chromium is driven over the Chrome DevTools Protocol on a pipe (``--remote-debugging-pipe``:
JSON messages ending in NUL, commands on the browser's fd 3, replies and events on its fd 4),
so no port, no websocket library and no network are involved. :func:`check_page` loads a
file, records console errors, uncaught exceptions, Content-Security-Policy violations and
failed requests, decodes every ``<img>``, takes a screenshot and counts its colours.
:class:`Chromium` can also evaluate JavaScript in the page, to click a header or read text.

Only the standard library; test helper, not part of symact.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import io
import json
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

CHROMIUM = os.environ.get("SYMACT_CHROMIUM", "/usr/bin/chromium")
INSTALL_HINT = (
    "headless Chromium is needed for the report's browser test and was not found at {path}; "
    "install it with `apt-get install -y chromium` (Debian's package; .ci/run does this) or "
    "point SYMACT_CHROMIUM at a Chromium binary"
)
# As root, in a closed network: no sandbox, no GPU, and none of the background services that
# would try to reach the internet (their refused connections would look like page errors).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--metrics-recording-only",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)


class BrowserError(RuntimeError):
    """Chromium could not be started or stopped answering."""


@dataclass
class PageCheck:
    """What loading one page showed. ``problems`` is empty for a page a reader can trust."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    images: int = 0
    screenshot: bytes = b""
    screenshot_colours: int = 0

    @property
    def problems(self) -> list[str]:
        found = [f"console error: {m}" for m in self.console_errors]
        found += [f"failed request: {m}" for m in self.failed_requests]
        found += [f"image does not decode: {m}" for m in self.broken_images]
        if self.screenshot_colours < MIN_COLOURS:
            found.append(
                f"screenshot looks blank: {self.screenshot_colours} distinct colours "
                f"(< {MIN_COLOURS})"
            )
        return found


MIN_COLOURS = 64


def find_chromium(path: str = CHROMIUM) -> str:
    """The Chromium binary, or an error saying how to install it (never a skip)."""
    found = shutil.which(path)
    if found is None:
        raise FileNotFoundError(INSTALL_HINT.format(path=path))
    return found


class Chromium:
    """One headless Chromium process and one page (tab) in it, driven over the pipe."""

    def __init__(self, path: str = CHROMIUM, *, width: int = 1366, height: int = 900) -> None:
        binary = find_chromium(path)
        self._profile = tempfile.mkdtemp(prefix="symact-chromium-")
        self._log = open(os.path.join(self._profile, "stderr.log"), "wb")  # noqa: SIM115
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The browser expects the pipe on exactly fds 3 and 4; posix_spawn's dup2 puts them
        # there (first moved above 4, so dup2 never targets its own fd and keeps CLOEXEC).
        high_r = _above_four(to_browser_r)
        high_w = _above_four(from_browser_w)
        argv = [binary, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"]
        self.pid = os.posix_spawn(
            binary,
            argv,
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, self._log.fileno(), 1),
                (os.POSIX_SPAWN_DUP2, self._log.fileno(), 2),
                (os.POSIX_SPAWN_DUP2, high_r, 3),
                (os.POSIX_SPAWN_DUP2, high_w, 4),
            ],
            setpgroup=0,
        )
        for fd in {to_browser_r, from_browser_w, high_r, high_w}:
            os.close(fd)
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.session = ""
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.call(
                "Target.attachToTarget", {"targetId": target, "flatten": True}
            )["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.call(f"{domain}.enable", session=True)
            self.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=True,
            )
        except BaseException:
            self.close()
            raise

    # --- protocol -------------------------------------------------------------------------

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._lock:
                    self._replies[-1] = {"error": {"message": "browser closed the pipe"}}
                    self._lock.notify_all()
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    with self._lock:
                        self._replies[message["id"]] = message
                        self._lock.notify_all()
                else:
                    self._events.put(message)

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: bool = False,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Send one command and wait for its reply; raise BrowserError on a protocol error."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._next_id not in self._replies:
                if -1 in self._replies:
                    raise BrowserError(f"{method}: {self._replies[-1]['error']['message']}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BrowserError(f"{method}: no reply within {timeout} s")
                self._lock.wait(left)
            reply = self._replies.pop(self._next_id)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def events(self, until: str | None = None, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Events received so far; with ``until``, wait for an event of that method first."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                left = max(0.0, deadline - time.monotonic()) if until else 0.0
                event = self._events.get(timeout=left) if until else self._events.get_nowait()
            except queue.Empty:
                if until:
                    raise BrowserError(f"no {until} event within {timeout} s") from None
                return seen
            seen.append(event)
            if until and event.get("method") == until:
                return seen

    def evaluate(self, expression: str, *, await_promise: bool = False) -> Any:
        """The value of a JavaScript expression in the page; an exception fails loudly."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": await_promise},
            session=True,
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        """Stop this browser (its own process group only) and remove its profile."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        for fd in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one page -------------------------------------------------------------------------

    def check(self, path: Path, *, settle: float = 0.3) -> PageCheck:
        """Load ``path`` and report everything a reader would see go wrong."""
        self.events()  # forget what earlier pages said
        self.call("Page.navigate", {"url": Path(path).resolve().as_uri()}, session=True)
        events = self.events(until="Page.loadEventFired")
        time.sleep(settle)  # late console messages and requests
        events += self.events()
        result = PageCheck()
        for event in events:
            _record(event, result)
        decoded = self.evaluate(
            "Promise.all(Array.from(document.images).map(img => img.decode().then("
            "() => [img.alt, img.naturalWidth], () => [img.alt, 0])))",
            await_promise=True,
        )
        result.images = len(decoded)
        result.broken_images = [f"<img alt={alt!r}>" for alt, width in decoded if width <= 0]
        shot = self.call("Page.captureScreenshot", {"format": "png"}, session=True)
        result.screenshot = base64.b64decode(shot["data"])
        result.screenshot_colours = distinct_colours(result.screenshot)
        return result


def _above_four(fd: int) -> int:
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)


def _record(event: dict[str, Any], result: PageCheck) -> None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        text = details.get("exception", {}).get("description") or details.get("text", "")
        result.console_errors.append(f"uncaught {text}")
    elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        args = [a.get("value", a.get("description", "")) for a in params.get("args", [])]
        result.console_errors.append(" ".join(str(a) for a in args))
    elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        entry = params["entry"]
        result.console_errors.append(f"{entry.get('source')}: {entry.get('text')}")
    elif method == "Network.loadingFailed":
        result.failed_requests.append(
            f"{params.get('errorText')} ({params.get('blockedReason') or params.get('type')})"
        )
    elif method == "Network.responseReceived":
        response = params.get("response", {})
        if int(response.get("status", 200)) >= 400:
            result.failed_requests.append(f"HTTP {response.get('status')} {response.get('url')}")


def distinct_colours(png: bytes) -> int:
    """Distinct RGB colours in a PNG: a blank page has one or two, a real report hundreds."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3).astype(np.uint32)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    return int(np.unique(packed).size)
