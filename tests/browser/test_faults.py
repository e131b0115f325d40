"""The resilience engine against real faults injected over loopback (issue 3)."""

from __future__ import annotations

import time

import pytest

from devtools.browser import PyPage
from devtools.faults import ThreadedFaultServer
from tests.conftest import T

pytestmark = pytest.mark.browser

OPEN = """
import asyncio, time, heartsock, hstest
from heartsock import State
rec = hstest.Recorder()
sock = hstest.track(heartsock.Socket({url!r}, **rec.callbacks(), {options}))
await hstest.wait_for(lambda: sock.state is State.OPEN, 5 * hstest.T, "OPEN")
"""


def handshakes(server: ThreadedFaultServer) -> list[tuple[float, str, str]]:
    return server.call(lambda: list(server.server.handshakes))  # type: ignore[no-any-return]


def test_silent_peer_detected_and_replaced(py: PyPage, server: ThreadedFaultServer) -> None:
    """a peer that goes silent (TCP open) is abandoned within heart_time + pong_timeout + 0.5 s and replaced."""
    heart, pong = 0.3 * T, 0.3 * T
    py.run_json(
        OPEN.format(
            url=server.url("/echo"),
            options=f"heart_time={heart}, pong_timeout={pong}, pong_msg='pong', reconnect_time={0.05 * T}",
        )
        + "await hstest.wait_for(lambda: sock.latency is not None, 5 * hstest.T, 'first pong')\n1"
    )
    server.call(server.server.set_silent, True)
    silent_at = time.monotonic()
    result = py.run_json(
        """
t0 = time.monotonic()
await hstest.wait_for(lambda: rec.names("close"), 5 * hstest.T, "heartbeat timeout")
detected = time.monotonic() - t0
[detected, rec.names("close"), sock.state.name]
"""
    )
    detected_after = time.monotonic() - silent_at
    assert result[1] == [[1, 4000, "heartbeat timeout"]]
    assert detected_after <= heart + pong + 0.5, detected_after
    server.call(server.server.set_silent, False)
    result = py.run_json(
        """
await hstest.wait_for(lambda: len(rec.names("open")) == 2 and sock.state is State.OPEN, 5 * hstest.T, "replacement")
[rec.names("open"), rec.names("state")]
"""
    )
    assert result[0] == [1, 2]
    assert result[1] == ["OPEN", "RECONNECTING", "CONNECTING", "OPEN"]
    peers = server.peers("/echo")
    assert len(peers) == 2 and peers[0].close_code is not None  # the old one was closed by heartsock


def test_latency_is_the_heartbeat_round_trip(py: PyPage, server: ThreadedFaultServer) -> None:
    """latency is None before the first pong, then a small positive round-trip time; pongs are filtered."""
    result = py.run_json(
        OPEN.format(url=server.url("/echo"), options=f"heart_time={0.1 * T}, pong_msg='pong'")
        + """
before = sock.latency
await hstest.wait_for(lambda: sock.latency is not None, 5 * hstest.T, "pong")
[before, sock.latency, rec.names("message")]
"""
    )
    before, latency, messages = result
    assert before is None and 0 < latency < 0.2
    assert messages == []  # "pong" matched pong_msg: not passed to message_cb


def test_hung_handshake_times_out_and_retries(py: PyPage, server: ThreadedFaultServer) -> None:
    """a handshake the server never answers is abandoned after connect_timeout (4001) and retried."""
    server.call(server.server.hang_next, 1)
    timeout = 0.4 * T
    result = py.run_json(
        f"""
import asyncio, time, heartsock, hstest
from heartsock import State
rec = hstest.Recorder()
sock = hstest.track(heartsock.Socket({server.url("/echo")!r}, connect_timeout={timeout}, reconnect_time={0.05 * T},
                                     **rec.callbacks()))
await hstest.wait_for(lambda: sock.state is State.OPEN, 5 * hstest.T, "OPEN after the hang")
[rec.names("close"), rec.names("reconnect"), [t for t, n, d in rec.events if n == "close"]]
"""
    )
    closes, reconnects, close_times = result
    assert closes == [[1, 4001, "connect timeout"]]
    assert [r[0] for r in reconnects] == [1]
    assert timeout * 0.9 <= close_times[0] <= timeout + 0.3
    assert [h[2] for h in handshakes(server)] == ["hung", "accepted"]


def test_server_down_then_back_loses_nothing(py: PyPage, server: ThreadedFaultServer) -> None:
    """messages sent while the server is down reach it exactly once, in order, after it comes back."""
    py.run_json(
        OPEN.format(
            url=server.url("/sink"),
            options=f"reconnect_time={0.05 * T}, reconnect_max_time={0.2 * T}, reconnect_count=-1",
        )
        + "sock.send('before')\n1"
    )
    server.call(server.server.stop)
    result = py.run_json(
        f"""
await hstest.wait_for(lambda: sock.state is not State.OPEN, 5 * hstest.T, "loss noticed")
flags = [sock.send(f"m{{i}}") for i in range(50)]
await asyncio.sleep({0.6 * T})
[flags, sock.queued, sock.state.name]
"""
    )
    flags, queued, state = result
    assert flags == [False] * 50 and queued == 50 and state in ("RECONNECTING", "CONNECTING")
    failed_attempts = len(py.run_json("rec.names('reconnect')"))
    assert failed_attempts >= 2  # it kept retrying while the listener was down
    server.call(server.server.start)
    py.run_json(
        """
await hstest.wait_for(lambda: sock.state is State.OPEN and sock.queued == 0, 5 * hstest.T, "flushed")
sock.send("after")
await sock.drain()
1
"""
    )
    time.sleep(0.2 * T)
    peers = server.peers("/sink")
    received = [m for p in peers for m in p.messages]
    assert received == ["before"] + [f"m{i}" for i in range(50)] + ["after"]


@pytest.mark.parametrize("code", [1008])
def test_policy_violation_is_final(py: PyPage, server: ThreadedFaultServer, code: int) -> None:
    """a close with 1008 (policy violation) does not reconnect: the socket is CLOSED and says why."""
    py.run_json(OPEN.format(url=server.url("/echo"), options=f"reconnect_time={0.02 * T}") + "1")
    server.call(server.server.close_all, code, "go away")
    result = py.run_json(
        f"""
await hstest.wait_for(lambda: sock.state is State.CLOSED, 5 * hstest.T, "CLOSED")
await asyncio.sleep({0.3 * T})
errors = []
try:
    sock.send("x")
except heartsock.SocketClosed as exc:
    errors.append(str(exc))
[rec.names("close"), rec.names("reconnect"), sock.last_close.code, errors, sock.closed_reason]
"""
    )
    closes, reconnects, last_code, errors, why = result
    assert why == f"close code {code} is final"
    assert closes == [[1, code, "go away"]] and reconnects == [] and last_code == code and len(errors) == 1
    assert len(handshakes(server)) == 1


@pytest.mark.parametrize("code", [1011, 1012])
def test_server_error_closes_reconnect(py: PyPage, server: ThreadedFaultServer, code: int) -> None:
    """closes with 1011 (internal error) or 1012 (service restart) reconnect."""
    py.run_json(OPEN.format(url=server.url("/echo"), options=f"reconnect_time={0.02 * T}") + "1")
    server.call(server.server.close_all, code, "bye")
    result = py.run_json(
        """
await hstest.wait_for(lambda: len(rec.names("open")) == 2, 5 * hstest.T, "reopen")
[rec.names("close"), len(rec.names("reconnect"))]
"""
    )
    assert result == [[[1, code, "bye"]], 1]


def test_should_reconnect_overrides_the_policy(py: PyPage, server: ThreadedFaultServer) -> None:
    """should_reconnect(event) decides: here 1008 reconnects and 4404 is final."""
    py.run_json(
        OPEN.format(
            url=server.url("/echo"),
            options=f"reconnect_time={0.02 * T}, should_reconnect=lambda e: e.code != 4404",
        )
        + "1"
    )
    server.call(server.server.close_all, 1008, "")
    py.run_json("await hstest.wait_for(lambda: len(rec.names('open')) == 2, 5 * hstest.T, 'reopen')\n1")
    server.call(server.server.close_all, 4404, "")
    result = py.run_json("await hstest.wait_for(lambda: sock.state is State.CLOSED, 5 * hstest.T, 'CLOSED')\n1")
    assert result == 1


def test_offline_pauses_retries_and_online_retries_at_once(py: PyPage, server: ThreadedFaultServer) -> None:
    """while navigator.onLine is false no attempt is made; the online event retries at once."""
    py.run_json(OPEN.format(url=server.url("/echo"), options=f"reconnect_time={0.05 * T}, reconnect_count=2") + "1")
    py.js(
        """() => {
        Object.defineProperty(navigator, "onLine", {configurable: true, get: () => false});
        window.dispatchEvent(new Event("offline"));
    }"""
    )
    server.call(server.server.drop_all)
    result = py.run_json(
        f"""
await hstest.wait_for(lambda: sock.state is State.RECONNECTING, 5 * hstest.T, "RECONNECTING")
await asyncio.sleep({0.8 * T})
[sock.state.name, rec.names("reconnect"), sock.retry_in, sock.attempt]
"""
    )
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
    py.run_json("await hstest.wait_for(lambda: sock.state is State.OPEN, 5 * hstest.T, 'OPEN')\n1")
    assert time.monotonic() - online_at <= 0.5 + 0.3 * T  # jitter is at most 0.5 s
    assert len(handshakes(server)) == 2


def test_visible_again_probes_at_once(py: PyPage, server: ThreadedFaultServer) -> None:
    """visibilitychange to visible sends a heartbeat at once instead of waiting for heart_time."""
    py.run_json(OPEN.format(url=server.url("/echo"), options="heart_time=30") + "1")
    py.js(
        """() => {
        Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "visible"});
        document.dispatchEvent(new Event("visibilitychange"));
    }"""
    )
    py.run_json("await hstest.wait_for(lambda: sock.latency is not None, 2 * hstest.T, 'probe answered')\n1")
    py.js("() => { delete document.visibilityState; }")
    assert len(server.peers("/echo")[0].pings) == 1


def test_visible_probe_detects_a_dead_peer_fast(py: PyPage, server: ThreadedFaultServer) -> None:
    """after a hidden period, a visibility probe that gets no pong abandons the socket after pong_timeout."""
    pong = 0.3 * T
    py.run_json(
        OPEN.format(url=server.url("/echo"), options=f"heart_time=30, pong_timeout={pong}, pong_msg='pong'") + "1"
    )
    server.call(server.server.set_silent, True)
    py.js(
        """() => {
        Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "visible"});
        document.dispatchEvent(new Event("visibilitychange"));
        delete document.visibilityState;
    }"""
    )
    result = py.run_json(
        "waited = await hstest.wait_for(lambda: rec.names('close'), 5 * hstest.T, 'timeout')\n"
        "[rec.names('close'), waited]"
    )
    assert result[0] == [[1, 4000, "heartbeat timeout"]]
    assert result[1] <= pong + 0.3  # not heart_time (30 s) later


def test_url_provider_called_before_every_attempt(py: PyPage, server: ThreadedFaultServer) -> None:
    """an async url provider is awaited before each attempt; a failing call is an error and a retry."""
    result = py.run_json(
        f"""
import asyncio, heartsock, hstest
from heartsock import State
rec = hstest.Recorder()
calls = []
async def provider():
    calls.append(len(calls))
    await asyncio.sleep(0.01)
    if len(calls) == 1:
        raise RuntimeError("token service down")
    return {server.url("/echo")!r} + f"?token={{len(calls)}}"
sock = hstest.track(heartsock.Socket(provider, reconnect_time={0.02 * T}, backoff="fixed", **rec.callbacks()))
await hstest.wait_for(lambda: sock.state is State.OPEN, 5 * hstest.T, "OPEN")
[calls, rec.names("error"), sock.url]
"""
    )
    calls, errors, url = result
    assert calls == [0, 1] and errors == ["token service down"] and url.endswith("?token=2")
    assert [h[1] for h in handshakes(server)] == ["/echo?token=2"]
