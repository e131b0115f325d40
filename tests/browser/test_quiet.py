"""heartsock is quiet in a PyScript page; a bug in the app's own callback is loud (issue 9)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Browser

from devtools.browser import PyPage
from devtools.faults import ThreadedFaultServer
from devtools.static import StaticServer
from tests.conftest import T

pytestmark = pytest.mark.browser


def run_scenario(browser: Browser, static: StaticServer, server: ThreadedFaultServer, name: str) -> dict[str, Any]:
    """Open the quiet page on ``name``; return its report plus the error elements PyScript drew."""
    page = browser.new_page()
    try:
        ws = server.url("/echo").rsplit("/echo", 1)[0]
        page.goto(f"{static.url}/testpages/quiet.html#{name}|{ws}")
        page.wait_for_selector("#result", state="attached", timeout=120_000 * T)
        report: dict[str, Any] = json.loads(page.text_content("#result") or "{}")
        report["py_errors"] = page.eval_on_selector_all(".py-error", "els => els.map(e => e.textContent)")
        return report
    finally:
        page.close()


@pytest.mark.parametrize("name", ["final_close", "give_up", "overflow"])
def test_expected_happenings_draw_no_error_box(
    browser: Browser, static_server: StaticServer, server: ThreadedFaultServer, name: str
) -> None:
    """a final close code, giving up and a full receive buffer write nothing to stderr and draw no error box"""
    report = run_scenario(browser, static_server, server, name)
    assert report["stderr"] == ""
    assert report["py_errors"] == []
    if name == "final_close":
        assert report["closed_reason"] == "close code 1008 is final"
    elif name == "give_up":
        assert report["closed_reason"] == "reconnect_count=2 retries spent"
    else:  # reported to the app through its error callback instead
        assert report["dropped"] > 0 and len(report["errors"]) == 1 and "max_recv_queue" in report["errors"][0]


def test_a_raising_message_cb_is_shown_and_the_next_message_arrives(
    browser: Browser, static_server: StaticServer, server: ThreadedFaultServer
) -> None:
    """an exception in message_cb is drawn by PyScript's error display, with its traceback; the socket carries on"""
    report = run_scenario(browser, static_server, server, "raising_callback")
    assert report["got"] == ["first", "second"]
    assert "RuntimeError: a bug in the app's message_cb" in report["stderr"]
    assert "Traceback" in report["stderr"] and "on_message" in report["stderr"]
    shown = "\n".join(report["py_errors"])  # PyScript draws one box per line of stderr
    assert "on_message raised" in shown and "RuntimeError: a bug in the app's message_cb" in shown


def test_in_bare_pyodide_a_raising_callback_goes_to_console_error(py: PyPage, server: ThreadedFaultServer) -> None:
    """without PyScript, a callback's exception reaches console.error with its traceback; heartsock logs nothing"""
    before = len(py.console)
    got = py.run_json(
        f"""
import heartsock, hstest
got = []
def on_message(data):
    got.append(data)
    if data == "first":
        raise ValueError("bug in a bare-Pyodide callback")
sock = hstest.track(heartsock.Socket({server.url("/echo")!r}, message_cb=on_message))
await sock.wait_open(5 * hstest.T)
sock.send("first")
await hstest.wait_for(lambda: got == ["first"], 5 * hstest.T, "first echo")
sock.send("second")
await hstest.wait_for(lambda: len(got) == 2, 5 * hstest.T, "second echo")
got
"""
    )
    assert got == ["first", "second"]
    errors = [line for line in py.console[before:] if line.startswith("error:")]
    assert len(errors) == 1, errors
    assert "on_message raised" in errors[0] and "ValueError: bug in a bare-Pyodide callback" in errors[0]
    assert "Traceback" in errors[0]
    assert not [line for line in py.console[before:] if line.startswith("warning:")]
