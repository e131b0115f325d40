"""The resilience engine against real faults injected over loopback (issue 3)."""

from __future__ import annotations

import time

import pytest

from devtools.browser import PyPage
from devtools.faults import ThreadedFaultServer
from tests.conftest import T

pytestmark = pytest.mark.browser

# The page side of each test is a function of tests/browser/pages/scenarios/faults.py;
# common.open_socket opens the socket that a test's later calls act on.


def handshakes(server: ThreadedFaultServer) -> list[tuple[float, str, str]]:
    return server.call(lambda: list(server.server.handshakes))  # type: ignore[no-any-return]


def test_silent_peer_detected_and_replaced(py: PyPage, server: ThreadedFaultServer) -> None:
    """a peer that goes silent (TCP open) is abandoned within heart_time + pong_timeout + 0.5 s and replaced."""
    heart, pong = 0.3 * T, 0.3 * T
    py.call("faults.open_until_pong", server.url("/echo"), heart, pong, 0.05 * T)
    server.call(server.server.set_silent, True)
    silent_at = time.monotonic()
    result = py.call("faults.heartbeat_timeout")
    detected_after = time.monotonic() - silent_at
    assert result[1] == [[1, 4000, "heartbeat timeout"]]
    assert detected_after <= heart + pong + 0.5, detected_after
    server.call(server.server.set_silent, False)
    result = py.call("faults.replaced")
    assert result[0] == [1, 2]
    assert result[1] == ["OPEN", "RECONNECTING", "CONNECTING", "OPEN"]
    peers = server.peers("/echo")
    assert len(peers) == 2 and peers[0].close_code is not None  # the old one was closed by heartsock


def test_latency_is_the_heartbeat_round_trip(py: PyPage, server: ThreadedFaultServer) -> None:
    """latency is None before the first pong, then a small positive round-trip time; pongs are filtered."""
    result = py.call("faults.first_latency", server.url("/echo"), 0.1 * T)
    before, latency, messages = result
    assert before is None and 0 < latency < 0.2
    assert messages == []  # "pong" matched pong_msg: not passed to message_cb


def test_hung_handshake_times_out_and_retries(py: PyPage, server: ThreadedFaultServer) -> None:
    """a handshake the server never answers is abandoned after connect_timeout (4001) and retried."""
    server.call(server.server.hang_next, 1)
    timeout = 0.4 * T
    result = py.call("faults.through_a_hung_handshake", server.url("/echo"), timeout, 0.05 * T)
    closes, reconnects, close_times = result
    assert closes == [[1, 4001, "connect timeout"]]
    assert [r[0] for r in reconnects] == [1]
    assert timeout * 0.9 <= close_times[0] <= timeout + 0.3
    assert [h[2] for h in handshakes(server)] == ["hung", "accepted"]


def test_server_down_then_back_loses_nothing(py: PyPage, server: ThreadedFaultServer) -> None:
    """messages sent while the server is down reach it exactly once, in order, after it comes back."""
    py.call(
        "faults.open_and_send",
        server.url("/sink"),
        "before",
        reconnect_time=0.05 * T,
        reconnect_max_time=0.2 * T,
        reconnect_count=-1,
    )
    server.call(server.server.stop)
    result = py.call("faults.send_while_down", 50, 0.6 * T)
    flags, queued, state = result
    assert flags == [False] * 50 and queued == 50 and state in ("RECONNECTING", "CONNECTING")
    failed_attempts = len(py.call("common.names", "reconnect"))
    assert failed_attempts >= 2  # it kept retrying while the listener was down
    server.call(server.server.start)
    py.call("faults.flush_then_send", "after")
    time.sleep(0.2 * T)
    peers = server.peers("/sink")
    received = [m for p in peers for m in p.messages]
    assert received == ["before"] + [f"m{i}" for i in range(50)] + ["after"]


@pytest.mark.parametrize("code", [1008])
def test_policy_violation_is_final(py: PyPage, server: ThreadedFaultServer, code: int) -> None:
    """a close with 1008 (policy violation) does not reconnect: the socket is CLOSED and says why."""
    py.call("common.open_socket", server.url("/echo"), reconnect_time=0.02 * T)
    server.call(server.server.close_all, code, "go away")
    result = py.call("faults.final_close", 0.3 * T)
    closes, reconnects, last_code, errors, why = result
    assert why == f"close code {code} is final"
    assert closes == [[1, code, "go away"]] and reconnects == [] and last_code == code and len(errors) == 1
    assert len(handshakes(server)) == 1


@pytest.mark.parametrize("code", [1011, 1012])
def test_server_error_closes_reconnect(py: PyPage, server: ThreadedFaultServer, code: int) -> None:
    """closes with 1011 (internal error) or 1012 (service restart) reconnect."""
    py.call("common.open_socket", server.url("/echo"), reconnect_time=0.02 * T)
    server.call(server.server.close_all, code, "bye")
    result = py.call("faults.reopened")
    assert result == [[[1, code, "bye"]], 1]


def test_should_reconnect_overrides_the_policy(py: PyPage, server: ThreadedFaultServer) -> None:
    """should_reconnect(event) decides: here 1008 reconnects and 4404 is final."""
    py.call("faults.open_with_should_reconnect", server.url("/echo"), 0.02 * T, 4404)
    server.call(server.server.close_all, 1008, "")
    py.call("common.wait_opens", 2)
    server.call(server.server.close_all, 4404, "")
    result = py.call("common.wait_closed")
    assert result is None  # it returned: the socket reached CLOSED


def test_offline_pauses_retries_and_online_retries_at_once(py: PyPage, server: ThreadedFaultServer) -> None:
    """while navigator.onLine is false no attempt is made; the online event retries at once."""
    py.call("common.open_socket", server.url("/echo"), reconnect_time=0.05 * T, reconnect_count=2)
    py.js(
        """() => {
        Object.defineProperty(navigator, "onLine", {configurable: true, get: () => false});
        window.dispatchEvent(new Event("offline"));
    }"""
    )
    server.call(server.server.drop_all)
    result = py.call("faults.offline_wait", 0.8 * T)
    state, reconnects, retry_in, attempt = result
    assert state == "RECONNECTING" and reconnects == [] and retry_in is None and attempt == 0
    assert len(handshakes(server)) == 1  # no attempt while offline
    online_at = time.monotonic()
    py.js(
        """() => {
        delete navigator.onLine;
        window.dispatchEvent(new Event("online"));
    }"""
    )
    py.call("common.wait_open")
    assert time.monotonic() - online_at <= 0.5 + 0.3 * T  # jitter is at most 0.5 s
    assert len(handshakes(server)) == 2


def test_visible_again_probes_at_once(py: PyPage, server: ThreadedFaultServer) -> None:
    """visibilitychange to visible sends a heartbeat at once instead of waiting for heart_time."""
    py.call("common.open_socket", server.url("/echo"), heart_time=30)
    py.js(
        """() => {
        Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "visible"});
        document.dispatchEvent(new Event("visibilitychange"));
    }"""
    )
    py.call("faults.probe_answered")
    py.js("() => { delete document.visibilityState; }")
    assert len(server.peers("/echo")[0].pings) == 1


def test_visible_probe_detects_a_dead_peer_fast(py: PyPage, server: ThreadedFaultServer) -> None:
    """after a hidden period, a visibility probe that gets no pong abandons the socket after pong_timeout."""
    pong = 0.3 * T
    py.call("common.open_socket", server.url("/echo"), heart_time=30, pong_timeout=pong, pong_msg="pong")
    server.call(server.server.set_silent, True)
    py.js(
        """() => {
        Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "visible"});
        document.dispatchEvent(new Event("visibilitychange"));
        delete document.visibilityState;
    }"""
    )
    result = py.call("faults.probe_timeout")
    assert result[0] == [[1, 4000, "heartbeat timeout"]]
    assert result[1] <= pong + 0.3  # not heart_time (30 s) later


def test_url_provider_called_before_every_attempt(py: PyPage, server: ThreadedFaultServer) -> None:
    """an async url provider is awaited before each attempt; a failing call is an error and a retry."""
    result = py.call("faults.with_url_provider", server.url("/echo"), 0.02 * T)
    calls, errors, url = result
    assert calls == [0, 1] and errors == ["token service down"] and url.endswith("?token=2")
    assert [h[1] for h in handshakes(server)] == ["/echo?token=2"]
