"""The live dashboard end to end: the real demo server, PyScript in headless Chromium.

Each test opens a fresh dashboard (``dashboard`` fixture: booted and OPEN), presses a
fault button, and checks the sequence the page shows in its event log and widgets,
plus what the server saw. The event log entries carry ``data-kind``, ``data-state``,
``data-code``, ``data-attempt``, ``data-delay`` and ``data-t`` (seconds on the page's
clock), so these assertions read what a person reads.
"""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

import pytest
from playwright.sync_api import Page

from devtools.static import heartsock_modules
from tests.conftest import T, artifact_path
from tests.e2e.conftest import DASHBOARD_SETTINGS, Demo

pytestmark = pytest.mark.browser

HEART, PONG = DASHBOARD_SETTINGS["heart"] * T, DASHBOARD_SETTINGS["pong"] * T
CONNECT = DASHBOARD_SETTINGS["connect"] * T
WAIT_MS = 15_000 * T

_EVENTS = """() => [...document.querySelectorAll('#log li')].reverse().map(
    li => ({...li.dataset, text: li.querySelector('.msg').textContent}))"""

_EVENT_AFTER = """([n, kind, key, value]) => [...document.querySelectorAll('#log li')].reverse().slice(n)
    .some(li => li.dataset.kind === kind && (key === null || li.dataset[key] === value))"""


def events(page: Page) -> list[dict[str, Any]]:
    """The event log, oldest first."""
    return page.evaluate(_EVENTS)  # type: ignore[no-any-return]


def wait_event(page: Page, after: int, kind: str, key: str | None = None, value: str | None = None) -> None:
    """Wait until an entry of ``kind`` (with ``data-<key> == value``) follows entry ``after``."""
    page.wait_for_function(_EVENT_AFTER, arg=[after, kind, key, value], timeout=WAIT_MS)


def lifecycle(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The connection's story in ``entries``: closes, timeouts, state changes and retries."""
    story = []
    for e in entries:
        if e["kind"] in ("close", "timeout"):
            story.append((e["kind"], e["code"]))
        elif e["kind"] == "state":
            story.append(("state", e["state"]))
        elif e["kind"] == "retry":
            story.append(("retry", e["attempt"]))
    return story


def test_dashboard_opens_streams_ticks_and_charts_heartbeats(dashboard: Page, context: Any, demo: Demo) -> None:
    """the dashboard, all from local files, reaches OPEN, shows quotes, rates and heartbeat RTTs."""
    page = dashboard
    assert page.text_content("#state") == "OPEN"
    page.wait_for_function("document.querySelectorAll('#ticker tbody tr').length === 5", timeout=WAIT_MS)
    page.wait_for_selector("#latency[data-ms]", timeout=WAIT_MS)  # a heartbeat went out and came back
    page.wait_for_selector("#chart polyline", timeout=WAIT_MS)
    page.wait_for_function("parseFloat(document.querySelector('#rate-in').textContent) > 0", timeout=WAIT_MS)
    assert 0 < float(page.get_attribute("#latency", "data-ms") or "nan") < 1000
    assert "heartbeats" in (page.text_content("#latency-meta") or "")
    feed = [c for c in demo.status()["connections"] if c["path"] == "/ws/feed"]
    assert feed and min(feed, key=lambda c: c["age"])["heartbeats"] >= 1  # the server answered them

    # Everything came from the demo server (the context's teardown fails the test on any
    # other address), and heartsock from its sources: no wheel, no micropip.
    _, guard = context
    requested = set(guard.requested)
    assert {f"/heartsock/{name}" for name in heartsock_modules()} <= requested
    assert {"/pyodide/pyodide.asm.wasm", "/pyscript/core.js", "/dashboard.py", "/pyscript.json"} <= requested
    assert not [r for r in requested if r.startswith(("/wheels/", "/vendor/")) or "micropip" in r]


def test_drop_shows_reconnecting_then_open(dashboard: Page) -> None:
    """the Drop button: close 1006 → RECONNECTING → retry #1 → CONNECTING → OPEN."""
    page = dashboard
    n = len(events(page))
    page.click("#btn-drop")
    wait_event(page, n, "state", "state", "OPEN")
    assert lifecycle(events(page)[n:]) == [
        ("close", "1006"),
        ("state", "RECONNECTING"),
        ("retry", "1"),
        ("state", "CONNECTING"),
        ("state", "OPEN"),
    ]
    assert page.text_content("#state") == "OPEN"


def test_silent_server_is_caught_by_the_heartbeat(dashboard: Page) -> None:
    """Go silent: a heartbeat timeout (4000) within heart_time + pong_timeout, then OPEN again."""
    page = dashboard
    page.wait_for_selector("#latency[data-ms]", timeout=WAIT_MS)
    n = len(events(page))
    page.click("#btn-silent")
    wait_event(page, n, "state", "state", "OPEN")
    after = events(page)[n:]
    assert lifecycle(after) == [
        ("timeout", "4000"),
        ("state", "RECONNECTING"),
        ("retry", "1"),
        ("state", "CONNECTING"),
        ("state", "OPEN"),
    ]
    fault = next(e for e in after if e["kind"] == "fault")
    timeout = next(e for e in after if e["kind"] == "timeout")
    assert "heartbeat timeout" in timeout["text"]
    # The server went silent before it answered the button; the last message came earlier still.
    assert float(timeout["t"]) - float(fault["t"]) <= HEART + PONG + 0.5 * T
    assert page.locator("#chart .mark").count() >= 1  # the timeout is marked on the chart


def test_refused_handshakes_make_failed_attempts_with_growing_delays(dashboard: Page, demo: Demo) -> None:
    """Refuse next 3: 3 failed attempts, 4 retries with growing delays, then OPEN."""
    page = dashboard
    refused = 3
    page.fill("#refuse-n", str(refused))
    n = len(events(page))
    page.click("#btn-refuse")
    page.wait_for_function(
        "document.querySelector('#retry-in').textContent.startsWith('next retry in')", timeout=WAIT_MS
    )
    wait_event(page, n, "state", "state", "OPEN")
    after = events(page)[n:]
    closes = [e for e in after if e["kind"] == "close"]
    retries = [e for e in after if e["kind"] == "retry"]
    assert [e["code"] for e in closes] == ["1006"] * (1 + refused)  # the drop, then each refusal
    assert [int(e["attempt"]) for e in retries] == [1, 2, 3, 4]
    delays = [float(e["delay"]) for e in retries]
    assert all(a < b for a, b in pairwise(delays)), delays
    # Each attempt really waited its delay: from the retry entry to the next CONNECTING.
    connecting = [float(e["t"]) for e in after if e["kind"] == "state" and e["state"] == "CONNECTING"]
    for retry, started in zip(retries, connecting, strict=True):
        assert started - float(retry["t"]) >= float(retry["delay"]) - 0.02
    assert page.text_content("#state") == "OPEN"
    assert demo.status()["refusing"] == 0


def test_close_codes_reconnect_except_1008(dashboard: Page) -> None:
    """Close with 1012 reconnects; close with 1008 gives up (CLOSED) until Reconnect now."""
    page = dashboard
    page.select_option("#close-code", "1012")
    n = len(events(page))
    page.click("#btn-close")
    wait_event(page, n, "state", "state", "OPEN")
    after = events(page)[n:]
    assert lifecycle(after)[:2] == [("close", "1012"), ("state", "RECONNECTING")]
    assert "closed by the demo's control" in next(e for e in after if e["kind"] == "close")["text"]

    page.select_option("#close-code", "1008")
    n = len(events(page))
    page.click("#btn-close")
    page.wait_for_selector("#state[data-state=CLOSED]", timeout=WAIT_MS)
    wait_event(page, n, "gave-up")
    assert lifecycle(events(page)[n:]) == [("close", "1008"), ("state", "CLOSED")]
    assert "gave up" in (page.text_content("#retry-in") or "")

    page.click("#btn-reconnect")
    page.wait_for_selector("#state[data-state=OPEN]", timeout=WAIT_MS)


def test_hung_handshake_hits_the_connect_timeout(dashboard: Page) -> None:
    """Hang handshake: the attempt is abandoned after connect_timeout (4001), the next opens."""
    page = dashboard
    n = len(events(page))
    page.click("#btn-hang")
    wait_event(page, n, "timeout", "code", "4001")
    wait_event(page, n, "state", "state", "OPEN")
    story = lifecycle(events(page)[n:])
    assert story[:4] == [("close", "1006"), ("state", "RECONNECTING"), ("retry", "1"), ("state", "CONNECTING")]
    assert story[4:6] == [("timeout", "4001"), ("state", "RECONNECTING")]
    assert story[-1] == ("state", "OPEN")


def test_messages_sent_while_offline_reach_the_server_after_a_restart(dashboard: Page, demo: Demo) -> None:
    """notes sent while the server is down are queued, then delivered once each, in order."""
    page = dashboard
    before = demo.status()["restarts"]
    page.fill("#restart-down", f"{2 * T:g}")
    page.click("#btn-restart")
    page.wait_for_selector("#state[data-state=RECONNECTING]", timeout=WAIT_MS)
    notes = ["buy 10 HSK", "sell 5 PYO", "hold WASM — €5"]
    for text in notes:
        page.fill("#note-text", text)
        page.press("#note-text", "Enter")
    statuses = page.eval_on_selector_all("#notes li", "rows => rows.map(r => r.dataset.status)")
    assert statuses == ["queued"] * 3
    assert page.get_attribute("#queue", "data-queued") == "3"

    page.wait_for_selector("#state[data-state=OPEN]", timeout=WAIT_MS)
    page.wait_for_function(
        "[...document.querySelectorAll('#notes li')].every(r => r.dataset.status === 'acked')", timeout=WAIT_MS
    )
    page.wait_for_function("document.querySelector('#queue').dataset.queued === '0'", timeout=WAIT_MS)

    status = demo.status()
    assert status["restarts"] == before + 1
    mine = [r for r in status["received"] if r["route"] == "feed" and json.loads(r["data"]).get("text") in notes]
    assert [json.loads(r["data"])["text"] for r in mine] == notes  # once each, in order
    live = [c["peer"] for c in status["connections"] if c["path"] == "/ws/feed"]
    assert {r["peer"] for r in mine} == set(live)  # by the connection made after the restart

    page.fill("#note-text", "back online")
    page.press("#note-text", "Enter")
    page.wait_for_selector("#notes li[data-status=acked][data-seq='4']", timeout=WAIT_MS)
    page.wait_for_timeout(3000 * T)  # a few heartbeats after the reconnect, for the picture
    page.screenshot(path=artifact_path("dashboard.png"), full_page=True)
