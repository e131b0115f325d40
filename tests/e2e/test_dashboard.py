"""The live dashboard end to end: the real demo server, PyScript in headless Chromium.

Each test opens a fresh dashboard (``dashboard`` fixture: booted and OPEN), presses a
fault button, and checks the sequence the page shows in its event log and widgets,
plus what the server saw. The event log entries carry ``data-kind``, ``data-state``,
``data-code``, ``data-attempt``, ``data-delay`` and ``data-t`` (seconds on the page's
clock), so these assertions read what a person reads.
"""

from __future__ import annotations

import json
import re
import time
from itertools import pairwise
from typing import Any

import pytest
from playwright.sync_api import Page

from devtools.static import heartsock_modules
from tests.conftest import T, artifact_path
from tests.e2e.conftest import DASHBOARD_SETTINGS, VIEWPORT, Demo

pytestmark = pytest.mark.browser

HEART, PONG = DASHBOARD_SETTINGS["heart"] * T, DASHBOARD_SETTINGS["pong"] * T
CONNECT = DASHBOARD_SETTINGS["connect"] * T
WAIT_MS = 15_000 * T

_EVENTS = """() => [...document.querySelectorAll('#log li')].reverse().map(
    li => ({...li.dataset, text: li.querySelector('.msg').textContent}))"""

_EVENT_AFTER = """([n, kind, key, value]) => [...document.querySelectorAll('#log li')].reverse().slice(n)
    .some(li => li.dataset.kind === kind && (key === null || li.dataset[key] === value))"""


_CLIPPED = """() => [...document.querySelectorAll('.card .value, .card .meta')]
    .filter(e => e.scrollWidth > e.clientWidth).map(e => `${e.id}: ${e.textContent.trim()}`)"""

_BOXES = """(selectors) => Object.fromEntries(selectors.map(s => {
    const r = document.querySelector(s).getBoundingClientRect();
    return [s, [r.left, r.top, r.right, r.bottom]];
}))"""

#: What a person must see without scrolling at 1280×900.
KEY_PANELS = [".top", ".cards", ".chart-panel", ".faults", ".log-panel", ".ticker-panel", ".notes-panel"]


def events(page: Page) -> list[dict[str, Any]]:
    """The event log, oldest first."""
    return page.evaluate(_EVENTS)  # type: ignore[no-any-return]


def clipped(page: Page) -> list[str]:
    """The cards' values and captions whose text does not fit their box."""
    return page.evaluate(_CLIPPED)  # type: ignore[no-any-return]


def assert_log_reads_well(page: Page) -> None:
    """every event log line is single-spaced and trimmed (no hole where a name is missing)."""
    texts = [e["text"] for e in events(page)]
    assert not [t for t in texts if "  " in t or t != t.strip()], texts


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

    # One screen: every panel within the 1280×900 window, nothing to scroll, no card clipped.
    assert page.viewport_size == VIEWPORT
    boxes = page.evaluate(_BOXES, KEY_PANELS)
    outside = {s: box for s, box in boxes.items() if box[0] < 0 or box[1] < 0 or box[2] > 1280 or box[3] > 900}
    assert not outside, outside
    assert page.evaluate("document.documentElement.scrollHeight") <= 900
    assert page.text_content("#conn-word") == "up"
    assert clipped(page) == []
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
    page.wait_for_selector("#retry-countdown:not([hidden])", timeout=WAIT_MS)
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
    """Close with 1012 or 3999 reconnects; close with 1008 gives up (CLOSED) until Reconnect now.
    Each close reads as one line, with the code's name when it has one."""
    page = dashboard
    page.select_option("#close-code", "1012")
    n = len(events(page))
    page.click("#btn-close")
    wait_event(page, n, "state", "state", "OPEN")
    after = events(page)[n:]
    assert lifecycle(after)[:2] == [("close", "1012"), ("state", "RECONNECTING")]
    closed = next(e for e in after if e["kind"] == "close")
    assert closed["text"] == f"closed 1012 service restart “closed by the demo's control” (socket #{closed_id(closed)})"

    page.select_option("#close-code", "3999")  # an application's code: no name to show
    n = len(events(page))
    page.click("#btn-close")
    wait_event(page, n, "state", "state", "OPEN")
    closed = next(e for e in events(page)[n:] if e["kind"] == "close")
    assert closed["text"] == f"closed 3999 “closed by the demo's control” (socket #{closed_id(closed)})"

    page.select_option("#close-code", "1008")
    n = len(events(page))
    page.click("#btn-close")
    page.wait_for_selector("#state[data-state=CLOSED]", timeout=WAIT_MS)
    wait_event(page, n, "gave-up")
    assert lifecycle(events(page)[n:]) == [("close", "1008"), ("state", "CLOSED")]
    assert "gave up" in (page.text_content("#retry-in") or "")

    page.click("#btn-reconnect")
    page.wait_for_selector("#state[data-state=OPEN]", timeout=WAIT_MS)
    assert_log_reads_well(page)


def closed_id(entry: dict[str, Any]) -> str:
    """The socket number at the end of a close entry: ``… (socket #3)`` → ``3``."""
    return str(entry["text"].rsplit("#", 1)[1].rstrip(")"))


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
    assert_log_reads_well(page)
    page.wait_for_timeout(3000 * T)  # a few heartbeats after the reconnect, for the picture
    page.screenshot(path=artifact_path("dashboard.png"))  # the 1280×900 window, as a person sees it


_SESSION_CARD = """() => ({...document.querySelector('#session-seq').dataset,
    ...document.querySelector('#queue-meta').dataset, queued: document.querySelector('#queue').dataset.queued})"""


def drop_once_held(demo: Demo) -> int:
    """Abort the page's connections as soon as the server holds one: between the page's OPEN
    and the session's welcome the server has none to abort yet. How many it aborted."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        dropped: int = demo.control("drop")["dropped"]
        if dropped:
            return dropped
        time.sleep(0.02)
    return 0


def test_notes_typed_while_the_server_drops_connections_arrive_exactly_once(dashboard: Page, demo: Demo) -> None:
    """a heartsock session, not hand-made acks: 12 notes, the server aborting the page's connection
    right after every third (so they are in flight when it dies), reach it once each, in order; each
    row turns "delivered ✓", and the Session card counts them (out #12, acked #12, nothing
    unacknowledged, no reset) and shows what the server replayed."""
    page = dashboard
    notes = [f"order {i} — {'x' * (1 + i % 4)}" for i in range(12)]
    dropped = 0
    for batch in range(4):
        page.wait_for_selector("#state[data-state=OPEN]", timeout=WAIT_MS)
        for text in notes[3 * batch : 3 * batch + 3]:
            page.fill("#note-text", text)
            page.press("#note-text", "Enter")
        dropped += drop_once_held(demo)
    assert dropped >= 4
    page.wait_for_selector("#state[data-state=OPEN]", timeout=WAIT_MS)
    page.wait_for_function(
        "[...document.querySelectorAll('#notes li')].every(r => r.dataset.status === 'acked')", timeout=WAIT_MS
    )
    status = demo.status()
    mine = [r for r in status["received"] if r["route"] == "feed" and json.loads(r["data"]).get("text") in notes]
    assert [json.loads(r["data"])["text"] for r in mine] == notes  # once each, in order
    feed = [c for c in status["connections"] if c["path"] == "/ws/feed"]
    assert len(feed) == 1 and {r["peer"] for r in mine} == {feed[0]["peer"]}  # one session, every connection

    card = page.evaluate(_SESSION_CARD)
    assert (card["out"], card["acked"], card["queued"], card["resets"]) == ("12", "12", "0", "0")
    assert int(card["received"]) > 12  # the hello and the ticks, each delivered once
    assert [e["seq"] for e in events(page) if e["kind"] == "ack"] == [str(n) for n in range(1, 13)]
    # What the server replayed (the ticks a drop caught unacknowledged) reaches the card within a round.
    replayed = feed[0]["session"]["replayed"]
    page.wait_for_function(
        "(n) => +document.querySelector('#queue-meta').dataset.replayed >= n", arg=replayed, timeout=WAIT_MS
    )
    assert_log_reads_well(page)


def test_a_restart_shows_the_scheduled_retry_counting_down(dashboard: Page, demo: Demo) -> None:
    """Restart server, 3 s down: the Reconnect card shows "retry N in X s", counting down,
    with the interval the delay was drawn from; the Connection card says how long it has
    been down, unclipped; both settle once the connection is back."""
    page = dashboard
    retry, cap = DASHBOARD_SETTINGS["retry"] * T, DASHBOARD_SETTINGS["retry_max"] * T
    page.fill("#restart-down", f"{3 * T:g}")
    page.click("#btn-restart")
    page.wait_for_selector("#state[data-state=RECONNECTING]", timeout=WAIT_MS)
    # Equal jitter: retry n waits between half and all of min(cap, retry·2^(n-1)), so
    # retries 1-3 take at most 1.75 s of the 3 s down, and retry 4 (1-2 s) is still to come.
    page.wait_for_function(
        """(min) => { const c = document.querySelector('#retry-countdown');
            return !c.hidden && +c.dataset.attempt === 4 && +c.dataset.remaining >= min; }""",
        arg=0.7 * T,
        timeout=WAIT_MS,
    )
    first, text = page.evaluate("(c => [{...c.dataset}, c.textContent])(document.querySelector('#retry-countdown'))")
    shown = re.fullmatch(r"retry 4 in (\d+\.\d) s", " ".join(text.split()))
    assert shown is not None, text
    assert abs(float(shown[1]) - float(first["remaining"])) <= 0.051
    drawn = re.fullmatch(r"drew (\d+\.\d+) s from (\d+\.\d+)–(\d+\.\d+) s", page.text_content("#retry-in") or "")
    assert drawn is not None, page.text_content("#retry-in")
    high = min(cap, retry * 2**3)
    assert (float(drawn[2]), float(drawn[3])) == (round(high / 2, 2), round(high, 2))
    assert high / 2 - 0.01 <= float(drawn[1]) <= high + 0.01
    assert page.text_content("#conn-word") == "down"
    assert clipped(page) == []
    page.wait_for_timeout(300 * T)
    later = page.evaluate("({...document.querySelector('#retry-countdown').dataset})")
    assert later["attempt"] == "4"
    assert float(later["remaining"]) < float(first["remaining"])  # it counts down

    page.wait_for_selector("#state[data-state=OPEN]", timeout=WAIT_MS)
    page.wait_for_selector("#retry-countdown", state="hidden", timeout=WAIT_MS)
    assert page.text_content("#conn-word") == "up"
    assert clipped(page) == []


_STALL_AFTER_PING = """(ms) => {
    // The next heartbeat goes out, then the page's main thread stays busy for `ms`.
    const send = WebSocket.prototype.send;
    let armed = true;
    WebSocket.prototype.send = function (data) {
        send.call(this, data);
        if (armed && data === 'ping') {
            armed = false;
            const end = performance.now() + ms;
            while (performance.now() < end) {}
        }
    };
}"""


def test_a_busy_page_is_shown_on_the_chart_not_passed_off_as_network_time(dashboard: Page) -> None:
    """a round trip that a busy main thread stretched is drawn hollow, over a "page busy" bar.

    The heartbeat is timed on the page's main thread, so a page (or a machine) too busy
    to run it inflates the round trip: this is what the chart's 100-500 ms spikes were
    on a loaded machine. Here the page blocks its own thread for 300 ms right after a ping.
    """
    page = dashboard
    page.wait_for_selector("#latency[data-ms]", timeout=WAIT_MS)
    page.evaluate(_STALL_AFTER_PING, 300)
    # The slowest round trip marked "slowed" is that one (a loaded machine may add more).
    page.wait_for_function("+document.querySelector('#slowed-count').dataset.slowest >= 300", timeout=WAIT_MS)
    count = int(page.get_attribute("#slowed-count", "data-count") or 0)
    assert count >= 1 and page.text_content("#slowed-count") == f"({count} slowed)"
    page.wait_for_selector("#chart circle.slowed", state="attached", timeout=WAIT_MS)
    page.wait_for_selector("#chart rect.stall", state="attached", timeout=WAIT_MS)
