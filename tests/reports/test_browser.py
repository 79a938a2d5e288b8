"""A real browser opens the smoke report: it renders, every image decodes, no console error, no network request.

Headless Chromium (``.ci/run`` installs it when absent; ``SFLAUDIT_CHROMIUM`` names another binary) is driven two
ways: its command line (``--screenshot``, ``--dump-dom``) and the DevTools protocol over ``--remote-debugging-pipe``
(fd 3 in, fd 4 out, NUL-separated JSON), which reports every request and console message. Set
``SFLAUDIT_SCREENSHOT_DIR`` to keep the screenshots.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "headless_shell")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--hide-scrollbars", "--window-size=1280,2000"]
IMAGES = 20   # 8 plots + 12 reconstruction grids (2 depths × 2 methods × 3 attacks, 8 of them under <details>)


def chromium() -> str:
    found = os.environ.get("SFLAUDIT_CHROMIUM") or next((p for n in NAMES if (p := shutil.which(n))), None)
    if not found:
        pytest.skip("no chromium binary found (install chromium, or set SFLAUDIT_CHROMIUM; .ci/run installs it)")
    return found


def keep(path: Path) -> None:
    where = os.environ.get("SFLAUDIT_SCREENSHOT_DIR")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(where) / path.name)


class DevTools:
    """The smallest DevTools-protocol client: one browser over --remote-debugging-pipe, flat sessions."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_chrome_r, self._out = os.pipe()
        self._in, from_chrome_w = os.pipe()

        def fds() -> None:  # runs in the child: the protocol wants its pipe on fds 3 and 4
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
                                      "about:blank"], preexec_fn=fds, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf, self._id = b"", 0
        self.events: list[dict[str, Any]] = []

    def _recv(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._in], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed the pipe")
            self._buf += chunk
        message, _, self._buf = self._buf.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 60) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._recv(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            self.events.append(self._recv(deadline))

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (OSError, EOFError, TimeoutError, RuntimeError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._out)
        os.close(self._in)


class Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.attrs: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs.append((tag, {k: v or "" for k, v in attrs}))


def test_browser__command_line_screenshot_and_dom(smoke_sweep, tmp_path: Path) -> None:
    binary = chromium()
    url = smoke_sweep.html.resolve().as_uri()
    shot = tmp_path / "report-screenshot.png"
    base = [binary, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run([*base, f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    keep(shot)
    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 2000)
    spread = ImageStat.Stat(img).stddev
    assert min(spread) > 20, f"screenshot looks blank (pixel std {spread})"
    assert len(img.getcolors(maxcolors=1 << 20) or []) > 500               # text, plots and images, not a flat page

    dom_text = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120,
                              check=True).stdout
    dom = Dom()
    dom.feed(dom_text)
    assert "<title>sflaudit report — where to cut resnet18 on photos</title>" in dom_text
    images = [a for t, a in dom.attrs if t == "img"]
    assert len(images) == IMAGES and all(a["src"].startswith(("data:image/png;base64,", "data:image/webp;base64,"))
                                         for a in images)
    assert {a["data-plot"] for a in images if "data-plot" in a} == {"tradeoff", "accuracy", "attack", "attacks",
                                                                     "bandwidth", "membership", "membership_roc", "time"}
    for _, attrs in dom.attrs:
        for key in ("src", "href"):
            assert not attrs.get(key, "").startswith(("http:", "https:", "//")), attrs


def test_browser__no_console_errors_no_network_and_every_image_decodes(smoke_sweep, tmp_path: Path) -> None:
    url = smoke_sweep.html.resolve().as_uri()
    tools = DevTools(chromium(), tmp_path / "profile")
    try:
        target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            tools.call(f"{domain}.enable", session=session)
        tools.call("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 2000, "deviceScaleFactor": 1,
                                                          "mobile": False}, session=session)
        tools.call("Page.navigate", {"url": url}, session=session)
        tools.wait_for("Page.loadEventFired")
        probe = ("JSON.stringify({title: document.title, images: [...document.images].map(i => "
                 "[i.complete, i.naturalWidth, i.naturalHeight]), height: document.body.scrollHeight})")
        page = json.loads(tools.call("Runtime.evaluate", {"expression": probe, "returnByValue": True},
                                     session=session)["result"]["value"])
        full = tools.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                          session=session)
    finally:
        tools.close()
    import base64

    (tmp_path / "report-full.png").write_bytes(base64.b64decode(full["data"]))
    keep(tmp_path / "report-full.png")
    assert page["title"] == "sflaudit report — where to cut resnet18 on photos"
    assert len(page["images"]) == IMAGES and all(ok and w > 100 and h > 50 for ok, w, h in page["images"])
    assert page["height"] > 3000                                               # the whole report laid out
    requests = [e["params"]["request"]["url"] for e in tools.events if e.get("method") == "Network.requestWillBeSent"]
    assert requests and requests[0] == url
    assert all(r == url or r.startswith("data:") for r in requests), [r[:80] for r in requests]
    console = [e["params"] for e in tools.events if e.get("method") in ("Runtime.consoleAPICalled",
                                                                       "Runtime.exceptionThrown")]
    logged = [e["params"]["entry"] for e in tools.events if e.get("method") == "Log.entryAdded"
              and e["params"]["entry"].get("level") in ("error", "warning")]
    assert console == [] and logged == []
