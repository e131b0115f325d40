"""Fixtures for the browser tier: real servers on 127.0.0.1 and headless Chromium.

The browser tier fails — never skips — when Chromium or the vendored Pyodide/PyScript
files are missing: ``browser`` and ``static_server`` raise, so every test using them
errors out and ``make test`` goes red.

Intervals are multiples of ``tests.conftest.T`` (``HEARTSOCK_TIME_SCALE``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from devtools.browser import PyPage, chromium
from devtools.faults import ThreadedFaultServer
from devtools.static import ROOT, Mounts, StaticServer, check_assets
from tests.conftest import TEST_WHEELS, T

HSTEST = ROOT / "devtools" / "pages" / "hstest.py"
SCENARIOS = ROOT / "tests" / "browser" / "pages" / "scenarios"  # page-side code, run with PyPage.call()


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
    with chromium() as browser:
        yield browser


def boot_pypage(browser: Browser, static_server: StaticServer) -> PyPage:
    """A new page with Pyodide booted, heartsock plus ``hstest`` importable, ``py.call()`` ready."""
    page = browser.new_page()
    py = PyPage(page, static_server.url, scenarios=SCENARIOS)
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
