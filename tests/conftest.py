"""Fixtures for the browser tiers: real servers on 127.0.0.1 and headless Chromium.

The browser tier fails — never skips — when Chromium or the vendored Pyodide/PyScript
files are missing: ``browser`` and ``static_server`` raise, so every test using them
errors out and ``make test`` goes red.

Intervals in browser tests are multiples of ``T`` seconds (``HEARTSOCK_TIME_SCALE``,
default 1.0), like websockets' ``MS``: raise it on a slow machine instead of editing tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from devtools.browser import PyPage, launch
from devtools.faults import ThreadedFaultServer
from devtools.static import ROOT, Mounts, StaticServer, check_assets

T = float(os.environ.get("HEARTSOCK_TIME_SCALE", "1.0"))
HSTEST = ROOT / "devtools" / "pages" / "hstest.py"
TEST_WHEELS = ROOT / "build" / "test-wheels"  # built by the packaging tests, served at /testwheels/
ARTIFACTS = ROOT / "test-results"


@pytest.fixture(scope="session")
def static_server() -> Iterator[StaticServer]:
    """Serves www/, Pyodide, PyScript, heartsock's sources and wheels on 127.0.0.1."""
    check_assets()
    extra = {"/testpages/": ROOT / "tests" / "browser" / "pages", "/testwheels/": TEST_WHEELS}
    with StaticServer(Mounts.standard(www=ROOT / "www", extra=extra)) as server:
        yield server


@pytest.fixture(scope="session")
def fault_server() -> Iterator[ThreadedFaultServer]:
    """The fault-injection WebSocket server, shared by the session."""
    server = ThreadedFaultServer()
    yield server
    server.close()


@pytest.fixture
def server(fault_server: ThreadedFaultServer) -> ThreadedFaultServer:
    """The fault server, reset: no peers, no faults, listening."""
    fault_server.reset()
    return fault_server


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium (raises if it is not installed)."""
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


def boot_pypage(browser: Browser, static_server: StaticServer) -> PyPage:
    """A new page with Pyodide booted and heartsock plus ``hstest`` importable."""
    page = browser.new_page()
    py = PyPage(page, static_server.url)
    py.page.evaluate(
        "(src) => window.pyodide.FS.writeFile('/home/pyodide/hstest.py', src)",
        HSTEST.read_text(),
    )
    py.run(f"import hstest\nhstest.T = {T!r}\n''")
    return py


@pytest.fixture(scope="module")
def py_module(browser: Browser, static_server: StaticServer) -> Iterator[PyPage]:
    py = boot_pypage(browser, static_server)
    yield py
    py.page.close()


@pytest.fixture
def py(py_module: PyPage, fault_server: ThreadedFaultServer) -> Iterator[PyPage]:
    """The module's Pyodide page; sockets tracked with ``hstest.track`` die after the test."""
    fault_server.reset()
    yield py_module
    py_module.run("import hstest\nstr(hstest.destroy_all())")


def artifact_path(name: str) -> Path:
    """Where a test saves a file for humans to look at (screenshots)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """CPython-only tests first: once Playwright's sync API runs, asyncio.run() refuses to start."""
    items.sort(key=lambda item: 0 if item.nodeid.startswith("tests/unit/") else 1)
