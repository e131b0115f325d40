"""Fixtures for the end-to-end tier: the real demo server, and its pages in Chromium.

``demo`` runs ``python -m demo`` (what ``make demo`` runs) as a subprocess on a free
port and reads the URL it prints. Page fixtures open a fresh browser context per test,
refuse (and record) any request that is not for the demo server, and collect Python
tracebacks and page errors: a test whose page talked to another address, or whose
Python raised, errors at teardown.

Intervals are multiples of ``T`` (``HEARTSOCK_TIME_SCALE``), passed to the dashboard in
its query string.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route

from devtools.static import ROOT, check_assets
from tests.conftest import T

BOOT_TIMEOUT_MS = 30_000 * T  # PyScript + Pyodide boot (about 3-5 s here)
#: The dashboard's settings in tests (seconds): its defaults, scaled by T.
DASHBOARD_SETTINGS = {"heart": 0.5, "pong": 1.0, "retry": 0.25, "retry_max": 8.0, "uptime": 3.0, "connect": 1.0}


@dataclass
class Demo:
    """The running demo server: its URL, its output, and its HTTP API."""

    url: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    @property
    def ws(self) -> str:
        return "ws" + self.url[len("http") :]

    def status(self) -> dict[str, Any]:
        """``GET /api/status``."""
        with urllib.request.urlopen(self.url + "api/status", timeout=5) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def control(self, action: str, **query: object) -> dict[str, Any]:
        """``POST /api/<action>?<query>``."""
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        request = urllib.request.Request(f"{self.url}api/{action}?{qs}", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def received(self, route: str) -> list[str]:
        """The application messages the server received on ``route``, oldest first."""
        return [r["data"] for r in self.status()["received"] if r["route"] == route]


@pytest.fixture(scope="session")
def demo() -> Iterator[Demo]:
    """``python -m demo --host 127.0.0.1 --port 0``, as ``make demo`` starts it."""
    check_assets()
    process = subprocess.Popen(
        [sys.executable, "-m", "demo", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            lines.put(line)

    threading.Thread(target=pump, name="demo-output", daemon=True).start()
    try:
        first = lines.get(timeout=20)
    except queue.Empty:
        process.kill()
        raise RuntimeError(f"the demo server printed nothing: {''.join(output)}") from None
    found = re.search(r"(https?://127\.0\.0\.1:\d+/)", first)
    if not found:
        process.kill()
        raise RuntimeError(f"the demo server did not print its URL: {first!r}")
    yield Demo(found.group(1), process, output)
    process.send_signal(signal.SIGINT)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


@dataclass
class Guard:
    """What the pages requested, and what they did that they must not (other hosts, errors)."""

    requested: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def context(browser: Browser, demo: Demo) -> Iterator[tuple[BrowserContext, Guard]]:
    """A fresh browser context that may only talk to the demo server."""
    guard = Guard()
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})

    def only_demo(route: Route) -> None:
        url = route.request.url
        if url.startswith(demo.url) or url.startswith("data:"):
            guard.requested.append(url[len(demo.url) - 1 :])
            route.continue_()
        else:
            guard.foreign.append(url)
            route.abort()

    ctx.route("**/*", only_demo)
    yield ctx, guard
    ctx.close()
    assert not guard.foreign, f"pages requested other addresses: {guard.foreign}"
    assert not guard.errors, "the page raised:\n" + "\n".join(guard.errors)


def open_page(ctx: BrowserContext, guard: Guard, url: str) -> Page:
    """Open ``url`` in ``ctx``, recording Python tracebacks and page errors in ``guard``."""
    page = ctx.new_page()

    def on_console(message: Any) -> None:
        if message.type == "error" and ("Traceback" in message.text or "PythonError" in message.text):
            guard.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: guard.errors.append(f"pageerror: {error}"))
    page.goto(url)
    return page


def dashboard_url(demo: Demo, **overrides: float) -> str:
    settings = {**DASHBOARD_SETTINGS, **overrides}
    query = "&".join(f"{k}={v * T:g}" for k, v in settings.items())
    return f"{demo.url}dashboard.html?{query}"


@pytest.fixture
def dashboard(context: tuple[BrowserContext, Guard], demo: Demo) -> Page:
    """The dashboard, booted and OPEN."""
    ctx, guard = context
    page = open_page(ctx, guard, dashboard_url(demo))
    page.wait_for_selector("html[data-ready]", state="attached", timeout=BOOT_TIMEOUT_MS)
    page.wait_for_selector("#state[data-state=OPEN]", timeout=10_000 * T)
    return page
