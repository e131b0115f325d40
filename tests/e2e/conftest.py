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

import contextlib
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, ViewportSize

from devtools.browser import chromium
from devtools.static import ROOT, check_assets
from tests.conftest import T

BOOT_TIMEOUT_MS = 30_000 * T  # PyScript + Pyodide boot (about 3-5 s here)
#: The dashboard's settings in tests (seconds): its defaults, scaled by T.
DASHBOARD_SETTINGS = {"heart": 0.5, "pong": 1.0, "retry": 0.25, "retry_max": 8.0, "uptime": 3.0, "connect": 1.0}
#: The window the demo's pages are designed for, and their screenshots are taken at.
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}


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

    def wait_output(self, text: str, after: int = 0, timeout: float = 5.0) -> str:
        """The first line of output from line ``after`` on that contains ``text``.

        The server writes a line before it answers the request that caused it; this
        waits for the reader thread to have collected it.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.output[after:] if text in line]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                tail = "".join(self.output[-10:])
                raise AssertionError(f"the demo server did not print {text!r}; its last lines:\n{tail}")
            time.sleep(0.02)


@contextlib.contextmanager
def running_demo(*args: str) -> Iterator[Demo]:
    """``python -m demo --host 127.0.0.1 --port 0 *args`` as a subprocess; stopped with SIGINT."""
    check_assets()
    process = subprocess.Popen(
        [sys.executable, "-m", "demo", "--host", "127.0.0.1", "--port", "0", *args],
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
    try:
        yield Demo(found.group(1), process, output)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            raise


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium (raises if it is not installed); one for the e2e session."""
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="session")
def demo() -> Iterator[Demo]:
    """``python -m demo --host 127.0.0.1 --port 0``, as ``make demo`` starts it.

    Its market publishes a round of ticks every ``T`` seconds (1 s unscaled), so that
    the quiet gap in which the dashboard sends its heartbeat (after ``heart`` = 0.5·T
    without a message) scales with the dashboard's settings.
    """
    with running_demo("--tick-period", f"{T:g}") as server:
        yield server


@dataclass
class Guard:
    """What the pages requested, and what they did that they must not (other hosts, errors)."""

    requested: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextlib.contextmanager
def guarded_context(browser: Browser, *allowed: str) -> Iterator[tuple[BrowserContext, Guard]]:
    """A fresh 1280×900 browser context whose pages may only load URLs under ``allowed``.

    Requested paths (under the first prefix) are recorded; a request anywhere else is
    aborted and fails the test at the end, and so does a Python traceback in a page.
    """
    guard = Guard()
    ctx = browser.new_context(viewport=VIEWPORT)

    def only_allowed(route: Route) -> None:
        url = route.request.url
        if url.startswith(allowed) or url.startswith("data:"):
            if url.startswith(allowed[0]):
                guard.requested.append(url[len(allowed[0]) - 1 :])
            route.continue_()
        else:
            guard.foreign.append(url)
            route.abort()

    ctx.route("**/*", only_allowed)
    try:
        yield ctx, guard
    finally:
        ctx.close()
    assert not guard.foreign, f"pages requested other addresses: {guard.foreign}"
    assert not guard.errors, "the page raised:\n" + "\n".join(guard.errors)


@pytest.fixture
def context(browser: Browser, demo: Demo) -> Iterator[tuple[BrowserContext, Guard]]:
    """A fresh browser context that may only talk to the demo server."""
    with guarded_context(browser, demo.url) as (ctx, guard):
        yield ctx, guard


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
