"""One heartsock, several runtimes: the same page code under Pyodide and MicroPython, the same servers.

Each test here runs twice, on a Pyodide page and on a MicroPython page (PyScript's ``mpy``
interpreter, vendored from npm), against the session's real fault server. The page side
is tests/browser/pages/scenarios/runtimes.py, written in the Python both interpreters
run. The README's runtime table is checked against feature probes run in every runtime
(Pyodide page, Pyodide worker, MicroPython page, CPython).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser

from devtools.faults import ThreadedFaultServer
from devtools.mpypage import MpyPage
from devtools.static import ROOT, StaticServer
from tests.browser.conftest import SCENARIOS, boot_pypage
from tests.browser.test_worker import RUN_IN_WORKER
from tests.conftest import T

pytestmark = pytest.mark.browser

INTERPRETERS = ["pyodide", "micropython"]


@pytest.fixture(scope="module", params=INTERPRETERS)
def runtime_page(request: pytest.FixtureRequest, browser: Browser, static_server: StaticServer) -> Iterator[Any]:
    """A Pyodide page or a MicroPython page, booted once per module, with the scenarios importable."""
    page: Any
    if request.param == "pyodide":
        page = boot_pypage(browser, static_server)
    else:
        page = MpyPage(browser.new_page(), static_server.url, scenarios=SCENARIOS)
    page.interpreter = request.param
    yield page
    page.page.close()


@pytest.fixture
def rt(runtime_page: Any, fault_server: ThreadedFaultServer) -> Iterator[Any]:
    """The module's page for this interpreter; its socket under test is destroyed after the test."""
    fault_server.reset()
    expected = "micropython/micropython" if runtime_page.interpreter == "micropython" else "cpython/pyodide"
    assert runtime_page.call("runtimes.set_scale", T) == expected
    yield runtime_page
    runtime_page.call("runtimes.destroy")


def test_silent_peer_is_abandoned_with_4000_and_replaced(rt: Any, server: ThreadedFaultServer) -> None:
    """a peer that goes silent is abandoned (4000) within heart_time + pong_timeout + 0.5 s, then replaced."""
    heart, pong = 0.3 * T, 0.3 * T
    assert rt.call("runtimes.start", server.url("/echo"), heart, pong, 0.05 * T) == rt.interpreter
    assert rt.call("runtimes.first_pong")
    server.call(server.server.set_silent, True)
    silent_at = time.monotonic()
    closes, state = rt.call("runtimes.closes_after_silence")
    detected_after = time.monotonic() - silent_at
    assert closes == [[1, 4000, "heartbeat timeout"]]
    assert detected_after <= heart + pong + 0.5 * T, detected_after
    server.call(server.server.set_silent, False)
    opens, states = rt.call("runtimes.reopened", 2)
    assert opens == [1, 2]
    assert states == ["OPEN", "RECONNECTING", "CONNECTING", "OPEN"]
    peers = server.peers("/echo")
    assert len(peers) == 2 and peers[0].close_code is not None


def test_a_dropped_server_means_reconnect_and_the_queue_flushed_in_order(rt: Any, server: ThreadedFaultServer) -> None:
    """while the server is down sends queue; when it is back they arrive once, in order, after a reconnect."""
    rt.call("runtimes.start", server.url("/sink"), 10 * T, 10 * T, 0.05 * T, reconnect_max_time=0.2 * T)
    assert rt.call("runtimes.send_all", ["before"]) == [[True], 0, "OPEN"]
    server.call(server.server.stop)
    time.sleep(0.1 * T)
    messages = [f"m{i}" for i in range(20)]
    flags, queued, state = rt.call("runtimes.send_all", messages)
    assert flags == [False] * 20 and queued == 20 and state in ("RECONNECTING", "CONNECTING")
    server.call(server.server.start)
    retries, sent = rt.call("runtimes.until_flushed")
    assert retries >= 1
    time.sleep(0.2 * T)
    received = [m for p in server.peers("/sink") for m in p.messages]
    assert received == ["before", *messages]


def test_close_code_1008_is_final(rt: Any, server: ThreadedFaultServer) -> None:
    """a server that closes with 1008 makes the socket give up: CLOSED, no retry, and it says why."""
    closes, states, state, why = rt.call("runtimes.final_close", server.url("/close/1008"), 0.05 * T)
    assert [c[:2] for c in closes] == [[1, 1008]]
    assert states == ["OPEN", "CLOSED"] and state == "CLOSED"  # the route accepts, then closes
    assert why == "close code 1008 is final"
    assert len(server.peers("/close")) == 1


def test_the_asyncio_api(rt: Any, server: ThreadedFaultServer) -> None:
    """connect(), recv(), async for and async with work; a refused connect() raises ConnectionFailed."""
    assert rt.call("runtimes.asyncio_round_trip", server.url("/echo")) == ["one", "two", "three", "OPEN", "DESTROYED"]
    server.call(server.server.refuse_next, 1)
    assert rt.call("runtimes.connect_refused", server.url("/echo")) == "ConnectionFailed 1006"


def test_destroyed_sockets_leave_no_proxy_behind(rt: Any, server: ThreadedFaultServer) -> None:
    """three heartbeating sockets hold proxies; once destroyed, heartsock holds none (a tick later)."""
    before, during, after = rt.call("runtimes.proxies_after_destroy", server.url("/echo"), 3)
    assert before == 0 and during > 0 and after == 0, (before, during, after)


def test_an_exception_in_a_callback_is_reported_and_the_socket_carries_on(rt: Any, server: ThreadedFaultServer) -> None:
    """a callback that raises is reported like an uncaught exception (console.error, with the traceback)."""
    got, state = rt.call("runtimes.a_callback_raises", server.url("/echo"))
    assert got == ["boom", "after"] and state == "OPEN"
    reports = [line for line in rt.console if line.startswith("error: heartsock: callback")]
    assert len(reports) == 1 and "ValueError: raised by the app's message_cb" in reports[0], rt.console[-5:]


# ---- the README's runtime table, checked against reality ------------------------------------
_TABLE = re.compile(r"<!-- runtime-table -->\n(.*?)\n<!-- /runtime-table -->", re.S)
_MARKS = {"✓": True, "✗": False}


def readme_table() -> tuple[list[str], dict[str, dict[str, bool]]]:
    """The README's runtime table: its runtime columns and ``{feature key: {runtime: supported}}``."""
    found = _TABLE.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert found, "README.md has no <!-- runtime-table --> block"
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in found.group(1).splitlines()]
    header, body = rows[0], rows[2:]
    runtimes = [re.sub(r"[`*]", "", h) for h in header[1:]]
    table: dict[str, dict[str, bool]] = {}
    for row in body:
        key = re.search(r"`([a-z-]+)`\s*$", row[0])
        assert key, f"a table row without its probe key in backticks: {row[0]!r}"
        table[key.group(1)] = {rt: _MARKS[cell] for rt, cell in zip(runtimes, row[1:], strict=True)}
    return runtimes, table


def check_column(runtime: str, probes: dict[str, Any]) -> None:
    runtimes, table = readme_table()
    assert runtime in runtimes
    assert probes.pop("runtime") == runtime
    assert sorted(probes) == sorted(table), "the probes and the table's rows differ"
    column = {feature: marks[runtime] for feature, marks in table.items()}
    assert probes == column, f"README says {column}, {runtime} does {probes}"


def test_readme_runtime_table_matches_the_page(rt: Any, server: ThreadedFaultServer) -> None:
    """the README's column for this page's runtime is what the feature probes find in it."""
    probes = rt.call("runtimes.probe", server.url("/echo"), server.url("/close/1008"))
    check_column(rt.interpreter, probes)


def test_readme_runtime_table_matches_a_worker(
    browser: Browser, static_server: StaticServer, server: ThreadedFaultServer
) -> None:
    """the README's pyodide-worker column is what the probes find in a module Web Worker."""
    from devtools.browser import call_source, install_source

    page = browser.new_page()
    try:
        page.goto(f"{static_server.url}/testpages/blank.html")
        code = (
            install_source(SCENARIOS)
            + call_source("scenarios.runtimes", "set_scale", [T])
            + call_source("scenarios.runtimes", "probe", [server.url("/echo"), server.url("/close/1008")])
        )
        status, value = page.evaluate(RUN_IN_WORKER, code)
    finally:
        page.close()
    assert status == 0, value
    check_column("pyodide-worker", json.loads(value))


def test_readme_runtime_table_matches_cpython(server: ThreadedFaultServer) -> None:
    """the README's cpython column is what the probes find in this CPython (websockets' asyncio client)."""
    sys.path.insert(0, str(SCENARIOS.parent))
    try:
        from scenarios import runtimes  # the page-side module, importable here too
    finally:
        sys.path.remove(str(SCENARIOS.parent))
    runtimes.set_scale(T)
    found: list[dict[str, Any]] = []  # its own thread: Playwright's loop runs in this one
    worker = threading.Thread(
        target=lambda: found.append(asyncio.run(runtimes.probe(server.url("/echo"), server.url("/close/1008"))))
    )
    worker.start()
    worker.join(60 * T)
    assert found, "the CPython probes did not finish"
    check_column("cpython", found[0])


# ---- one application, three runtimes: examples/runtimes/app.py --------------------------------
APP_PAGES = {"pyodide": "index.html", "micropython": "index-mpy.html"}
BOOT_MS = 90_000 * T


def _page_has(page: Any, line: str, timeout_ms: float) -> None:
    page.wait_for_function(
        "(line) => [...document.querySelectorAll('#log li')].some((li) => li.textContent.trim() === line)",
        arg=line,
        timeout=timeout_ms,
    )


def _survives_the_faults(has: Any, server: ThreadedFaultServer, runtime: str) -> None:
    """The app says hello on open, sees a silent peer closed with 4000 and reopens, then a drop."""
    has(f"message hello from {runtime}", BOOT_MS)
    server.call(server.server.set_silent, True)
    has("close 4000 heartbeat timeout", 5_000 * T)
    server.call(server.server.set_silent, False)
    has("open 2", 5_000 * T)
    server.call(server.server.drop_all)
    has("open 3", 5_000 * T)
    has("state OPEN", 1_000 * T)


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_the_example_app_in_a_pyscript_page(
    interpreter: str, browser: Browser, static_server: StaticServer, server: ThreadedFaultServer
) -> None:
    """examples/runtimes/app.py in a PyScript py / mpy page: connects, survives silence and a drop, reports it."""
    page = browser.new_page()
    try:
        url = server.url("/echo")
        page.goto(f"{static_server.url}/examples/runtimes/{APP_PAGES[interpreter]}?url={url}&heart={0.3 * T}")
        _survives_the_faults(lambda line, ms: _page_has(page, line, ms), server, interpreter)
        first = page.evaluate("document.querySelector('#log li').textContent")
        assert first == f"runtime {interpreter}"
    finally:
        page.close()


def test_the_example_app_under_cpython(server: ThreadedFaultServer) -> None:
    """the same app.py as a CPython program (websockets' client): the same lines, the same faults survived."""
    app = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "runtimes" / "app.py"), server.url("/echo"), str(0.3 * T), "60"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.strip() for line in app.stdout or ()), daemon=True)
    reader.start()

    def has(line: str, timeout_ms: float) -> None:
        deadline = time.monotonic() + timeout_ms / 1000
        while line not in lines:
            assert app.poll() is None, f"app.py exited: {app.stderr.read() if app.stderr else ''}"
            assert time.monotonic() < deadline, f"{line!r} not printed; got {lines}"
            time.sleep(0.02)

    try:
        _survives_the_faults(has, server, "cpython")
        assert lines[0] == "runtime cpython"
    finally:
        app.terminate()
        app.wait(10)


def test_the_micropython_chat_page_boots(browser: Browser, static_server: StaticServer) -> None:
    """www/index-mpy.html (the demo chat under MicroPython) runs heartsock: its state badge leaves BOOTING."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    try:
        page.goto(f"{static_server.url}/index-mpy.html")
        page.wait_for_function("document.getElementById('state').dataset.state !== 'BOOTING'", timeout=BOOT_MS)
        # the test's static server has no /ws/echo, so the socket keeps trying: it never opens here
        assert page.evaluate("document.getElementById('state').dataset.state") in ("CONNECTING", "RECONNECTING")
        assert errors == []
    finally:
        page.close()


_APP_IN_WORKER = """\
import asyncio as _asyncio, json as _json, os as _os, sys as _sys
_os.makedirs("/home/pyodide/runtimes_app", exist_ok=True)
with open("/home/pyodide/runtimes_app/app.py", "w") as _f:
    _f.write({source!r})
_sys.path.insert(0, "/home/pyodide/runtimes_app")
import app as _app
_lines = []
_running = _app.App({url!r}, _lines.append, {heart!r})
for _ in range(int({seconds!r} / 0.05)):
    if "open 3" in _lines:
        break
    await _asyncio.sleep(0.05)
_running.sock.destroy()
_json.dumps(_lines)
"""


def test_the_example_app_in_a_pyodide_worker(
    browser: Browser, static_server: StaticServer, server: ThreadedFaultServer
) -> None:
    """the same app.py in a Web Worker: the host injects the faults as the server sees the worker's socket."""

    def wait(cond: Any, what: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not cond():
            assert time.monotonic() < deadline, what
            time.sleep(0.02)

    def inject() -> None:
        hello = "hello from pyodide-worker"
        wait(lambda: any(hello in p.messages for p in server.peers("/echo")), "hello", BOOT_MS / 1000)
        server.call(server.server.set_silent, True)
        wait(lambda: server.peers("/echo")[0].close_code is not None, "silent peer abandoned", 5 * T)
        server.call(server.server.set_silent, False)
        wait(lambda: sum(hello in p.messages for p in server.peers("/echo")) >= 2, "second hello", 5 * T)
        server.call(server.server.drop_all)

    source = (ROOT / "examples" / "runtimes" / "app.py").read_text(encoding="utf-8")
    code = _APP_IN_WORKER.format(source=source, url=server.url("/echo"), heart=0.3 * T, seconds=BOOT_MS / 1000)
    injector = threading.Thread(target=inject, daemon=True)
    page = browser.new_page()
    try:
        page.goto(f"{static_server.url}/testpages/blank.html")
        injector.start()
        status, value = page.evaluate(RUN_IN_WORKER, code)
    finally:
        page.close()
    injector.join(1)
    assert status == 0, value
    lines = json.loads(value)
    assert lines[0] == "runtime pyodide-worker"
    assert "close 4000 heartbeat timeout" in lines and "open 2" in lines and "open 3" in lines, lines
    assert lines.index("close 4000 heartbeat timeout") < lines.index("open 2") < lines.index("open 3")
