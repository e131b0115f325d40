"""Reconnection: attempt budgets, connect timeout, close-code policy, min_uptime, observability."""

from __future__ import annotations

import logging

import pytest

from heartsock import CLOSE_CONNECT_TIMEOUT, Socket, SocketClosed, State

from .helpers import (
    attempts,
    hang_every_attempt,
    make_socket,
    opened_ids,
    refuse_every_attempt,
    run_until_next_attempt,
)

# ---- attempt budgets ----------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_reconnect_count_n_means_n_plus_one_attempts_with_the_server_down(count: int) -> None:
    """reconnect_count=N with the server down makes exactly N+1 attempts, then CLOSED"""
    sock, rt, rec = make_socket(reconnect_count=count, reconnect_time=1)
    assert refuse_every_attempt(rt) == count + 1
    assert sock.state is State.CLOSED
    assert [a for a, _ in rec.reconnects] == list(range(1, count + 1))
    rt.advance(10_000)
    assert attempts(rt) == count + 1
    assert rt.armed == []


def test_reconnect_count_counts_retries_after_a_drop() -> None:
    """after a connection that lasted drops, reconnect_count=2 means 2 attempts"""
    sock, rt, rec = make_socket(reconnect_count=2, reconnect_time=1, min_uptime=5, heart_time=100)
    rt.net.opened(1)
    rt.advance(10)
    rt.net.closed_by_peer(1, 1006)
    run_until_next_attempt(rt)
    assert refuse_every_attempt(rt) - 1 == 2
    assert sock.state is State.CLOSED


def test_reconnect_count_minus_one_keeps_trying() -> None:
    """reconnect_count=-1 never gives up"""
    sock, rt, _ = make_socket(reconnect_count=-1, reconnect_time=0.01, reconnect_max_time=0.5)
    assert refuse_every_attempt(rt, limit=300) == 300
    assert sock.state is State.CONNECTING


def test_is_reconnect_false_makes_no_retry() -> None:
    """is_reconnect=False: a refused first attempt and a dropped connection both end in CLOSED"""
    sock, rt, rec = make_socket(is_reconnect=False)
    assert refuse_every_attempt(rt) == 1
    assert sock.state is State.CLOSED
    sock2, rt2, rec2 = make_socket(is_reconnect=False)
    rt2.net.opened(1)
    rt2.net.closed_by_peer(1, 1006)
    rt2.advance(10_000)
    assert attempts(rt2) == 1
    assert rec2.reconnects == []
    assert sock2.state is State.CLOSED


def test_gave_up_is_reported_once_with_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    """giving up logs one INFO record that says why (an expected happening, not a warning)"""
    with caplog.at_level(logging.INFO, logger="heartsock"):
        sock, rt, rec = make_socket(reconnect_count=1, reconnect_time=1)
        refuse_every_attempt(rt)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    gave_up = [r for r in caplog.records if "gave up" in r.getMessage()]
    assert len(gave_up) == 1
    assert "reconnect_count" in gave_up[0].getMessage()


def test_send_after_giving_up_raises_socket_closed() -> None:
    """send() once the socket gave up raises SocketClosed"""
    sock, rt, _ = make_socket(reconnect_count=0)
    refuse_every_attempt(rt)
    with pytest.raises(SocketClosed):
        sock.send("x")


def test_create_from_closed_restarts_with_a_fresh_budget() -> None:
    """create() after giving up connects again and has the whole reconnect_count again"""
    sock, rt, rec = make_socket(reconnect_count=1, reconnect_time=1)
    assert refuse_every_attempt(rt) == 2
    sock.create()
    assert sock.state is State.CONNECTING
    assert refuse_every_attempt(rt) == 4
    assert sock.state is State.CLOSED


def test_onreconnect_from_open_drops_and_retries() -> None:
    """onreconnect() closes the live socket (1000) and schedules a retry"""
    sock, rt, rec = make_socket(reconnect_time=1, backoff="fixed")
    rt.net.opened(1)
    sock.onreconnect()
    assert rt.net.sockets[1].abandoned is not None and rt.net.sockets[1].abandoned[0] == 1000
    assert rec.close_codes == [1000]
    assert sock.state is State.RECONNECTING
    assert rec.reconnects == [(1, 1.0)]
    rt.advance(1)
    assert opened_ids(rt) == [1, 2]


def test_onreconnect_from_closed_restarts() -> None:
    """onreconnect() after giving up schedules a retry with a fresh budget"""
    sock, rt, rec = make_socket(reconnect_count=0, reconnect_time=1, backoff="fixed")
    refuse_every_attempt(rt)
    sock.onreconnect()
    assert sock.state is State.RECONNECTING
    rt.advance(1)
    assert attempts(rt) == 2


# ---- connect timeout ------------------------------------------------------------------------


def test_connect_timeout_abandons_with_4001_and_retries() -> None:
    """a handshake that hangs is abandoned after connect_timeout (4001) and retried"""
    sock, rt, rec = make_socket(connect_timeout=3, reconnect_time=1)
    rt.advance(2.99)
    assert rec.closes == []
    rt.advance(0.01)
    assert rt.net.sockets[1].abandoned == (CLOSE_CONNECT_TIMEOUT, "connect timeout")
    assert rec.close_codes == [4001]
    assert rec.closes[0].was_clean is False
    assert sock.state is State.RECONNECTING
    assert rt.net.live_ids() == []
    assert run_until_next_attempt(rt)


def test_connect_timeout_counts_as_a_failed_attempt() -> None:
    """hanging handshakes use up reconnect_count like refusals do"""
    sock, rt, rec = make_socket(connect_timeout=2, reconnect_count=2, reconnect_time=1)
    assert hang_every_attempt(rt) == 3
    assert sock.state is State.CLOSED
    assert rec.close_codes == [4001, 4001, 4001]
    assert sock.last_close is not None and sock.last_close.code == 4001


def test_connect_timeout_does_not_apply_once_open() -> None:
    """an open connection is not affected by connect_timeout"""
    sock, rt, rec = make_socket(connect_timeout=2, heart_time=1)
    rt.advance(1)
    rt.net.opened(1)
    for _ in range(10):
        rt.advance(1)
        rt.net.message(1, "pong")
    assert rec.closes == []


# ---- close-code policy ----------------------------------------------------------------------


def test_close_1008_is_final(caplog: pytest.LogCaptureFixture) -> None:
    """a 1008 close goes to CLOSED without reconnecting, reporting the code"""
    sock, rt, rec = make_socket(reconnect_time=1)
    rt.net.opened(1)
    with caplog.at_level(logging.INFO, logger="heartsock"):
        rt.net.closed_by_peer(1, 1008, "bad token", True)
    rt.advance(10_000)
    assert sock.state is State.CLOSED
    assert attempts(rt) == 1
    assert rec.reconnects == []
    assert (rec.closes[0].code, rec.closes[0].reason, rec.closes[0].was_clean) == (1008, "bad token", True)
    assert sock.last_close is not None and sock.last_close.code == 1008
    assert any("1008" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    assert sock.closed_reason == "close code 1008 is final"


@pytest.mark.parametrize("code", [1000, 1001, 1006, 1011, 1012, 1013, 4000, 4999])
def test_other_close_codes_reconnect(code: int) -> None:
    """every close other than 1008 reconnects by default (1011, 1012 included)"""
    sock, rt, rec = make_socket(reconnect_time=1)
    rt.net.opened(1)
    rt.net.closed_by_peer(1, code)
    assert sock.state is State.RECONNECTING
    assert rec.close_codes == [code]
    assert run_until_next_attempt(rt)


def test_should_reconnect_overrides_the_close_code_rule() -> None:
    """should_reconnect decides: here 1008 reconnects and 4403 is final"""
    seen: list[int | None] = []

    def rule(event: object) -> bool:
        code = event.code  # type: ignore[attr-defined]
        seen.append(code)
        return code != 4403

    sock, rt, rec = make_socket(reconnect_time=1, should_reconnect=rule)
    rt.net.opened(1)
    rt.net.closed_by_peer(1, 1008)
    assert sock.state is State.RECONNECTING
    run_until_next_attempt(rt)
    rt.net.opened(2)
    rt.net.closed_by_peer(2, 4403, "forbidden")
    assert sock.state is State.CLOSED
    assert seen == [1008, 4403]


def test_should_reconnect_that_raises_falls_back_to_the_default(caplog: pytest.LogCaptureFixture) -> None:
    """a should_reconnect that raises is reported and the default rule applies"""

    def rule(event: object) -> bool:
        raise RuntimeError("oops")

    sock, rt, rec = make_socket(should_reconnect=rule)
    rt.net.opened(1)
    rt.net.closed_by_peer(1, 1011)
    assert sock.state is State.RECONNECTING
    assert [(str(e), "should_reconnect" in c) for e, c in rt.reported] == [("oops", True)]


def test_close_codes_are_the_browsers() -> None:
    """close_cb receives the browser's code, reason and was_clean unchanged"""
    sock, rt, rec = make_socket()
    rt.net.opened(1)
    rt.net.closed_by_peer(1, 1012, "service restart", True)
    (event,) = rec.closes
    assert (event.type, event.code, event.reason, event.was_clean) == ("close", 1012, "service restart", True)


# ---- min_uptime and a flapping server --------------------------------------------------------


def flap(rt: object, sock: Socket, times: int, uptime: float = 0.0) -> None:
    """Accept the current attempt, keep it ``uptime`` seconds, drop it, wait for the retry; ``times`` times."""
    for _ in range(times):
        sid = rt.net.last_id  # type: ignore[attr-defined]
        rt.net.opened(sid)  # type: ignore[attr-defined]
        if uptime:
            rt.advance(uptime)  # type: ignore[attr-defined]
        rt.net.closed_by_peer(sid, 1006)  # type: ignore[attr-defined]
        assert run_until_next_attempt(rt)  # type: ignore[arg-type]


def test_flapping_server_gets_backed_off() -> None:
    """a server that accepts then drops at once sees growing delays, not a hammering"""
    sock, rt, rec = make_socket(
        reconnect_time=1, reconnect_max_time=64, reconnect_count=-1, min_uptime=5, heart_time=100
    )
    flap(rt, sock, 8)
    assert rec.delays == [0.5, 1, 2, 4, 8, 16, 32, 32]
    assert [a for a, _ in rec.reconnects] == list(range(1, 9))


def test_short_connections_do_not_reset_the_counter() -> None:
    """connections shorter than min_uptime keep the attempt counter growing"""
    sock, rt, rec = make_socket(
        reconnect_time=1, reconnect_max_time=64, reconnect_count=-1, min_uptime=5, heart_time=100
    )
    flap(rt, sock, 4, uptime=4.9)
    assert rec.delays == [0.5, 1, 2, 4]


def test_flapping_server_exhausts_a_finite_budget() -> None:
    """with reconnect_count=3 a flapping server is given up on after 3 retries"""
    sock, rt, rec = make_socket(reconnect_time=1, reconnect_count=3, min_uptime=5, heart_time=100)
    flap(rt, sock, 3)
    rt.net.opened(4)
    rt.net.closed_by_peer(4)
    assert sock.state is State.CLOSED
    assert attempts(rt) == 4


def test_a_connection_that_lasts_min_uptime_resets_the_counter() -> None:
    """after a connection stayed open min_uptime, the next drop starts the backoff over"""
    sock, rt, rec = make_socket(
        reconnect_time=1, reconnect_max_time=64, reconnect_count=-1, min_uptime=5, heart_time=100
    )
    flap(rt, sock, 4)
    assert sock.attempt == 4
    rt.net.opened(5)
    rt.advance(5)
    assert sock.attempt == 0  # reset while still open, at min_uptime
    rt.net.closed_by_peer(5)
    assert rec.reconnects[-1] == (1, 0.5)


def test_min_uptime_restores_a_finite_budget() -> None:
    """a connection that lasted min_uptime restores the full reconnect_count"""
    sock, rt, rec = make_socket(reconnect_time=1, reconnect_count=2, min_uptime=5, heart_time=100)
    flap(rt, sock, 2)  # two retries used
    rt.net.opened(3)
    rt.advance(6)
    rt.net.closed_by_peer(3)
    run_until_next_attempt(rt)
    assert refuse_every_attempt(rt) - 3 == 2


# ---- observability --------------------------------------------------------------------------


def test_state_cb_sequence_through_reconnects_to_closed() -> None:
    """state_cb sees CONNECTING→OPEN→RECONNECTING→CONNECTING→…→CLOSED, then DESTROYED"""
    C, OP, R = State.CONNECTING, State.OPEN, State.RECONNECTING
    sock, rt, rec = make_socket(reconnect_count=2, reconnect_time=1, heart_time=100)
    rt.net.opened(1)
    rt.net.closed_by_peer(1)
    run_until_next_attempt(rt)
    rt.net.opened(2)
    rt.net.closed_by_peer(2)
    run_until_next_attempt(rt)
    rt.net.closed_by_peer(3)
    sock.destroy()
    assert rec.states == [
        (C, OP),
        (OP, R),
        (R, C),
        (C, OP),
        (OP, R),
        (R, C),
        (C, State.CLOSED),
        (State.CLOSED, State.DESTROYED),
    ]
    assert sock.state is State.DESTROYED


def test_state_property_and_ready_state_follow_the_life_cycle() -> None:
    """state and ready_state report CONNECTING, OPEN, then CLOSED while waiting to retry"""
    sock, rt, _ = make_socket(reconnect_time=1)
    assert (sock.state, sock.ready_state) == (State.CONNECTING, Socket.CONNECTING)
    rt.net.opened(1)
    assert (sock.state, sock.ready_state) == (State.OPEN, Socket.OPEN)
    rt.net.closed_by_peer(1)
    assert (sock.state, sock.ready_state) == (State.RECONNECTING, Socket.CLOSED)
    sock.destroy()
    assert (sock.state, sock.ready_state) == (State.DESTROYED, Socket.CLOSED)


def test_reconnect_cb_gets_attempt_and_delay() -> None:
    """reconnect_cb(attempt, delay) fires when each retry is scheduled, and the retry keeps to it"""
    sock, rt, rec = make_socket(reconnect_time=2, backoff="fixed")
    rt.net.closed_by_peer(1)
    assert rec.reconnects == [(1, 2.0)]
    assert sock.retry_in == 2.0
    rt.advance(1.99)
    assert attempts(rt) == 1
    rt.advance(0.01)
    assert attempts(rt) == 2
    rt.net.closed_by_peer(2)
    assert rec.reconnects == [(1, 2.0), (2, 2.0)]


def test_close_cb_once_per_underlying_socket() -> None:
    """close_cb is called exactly once for every underlying socket that ends"""
    sock, rt, rec = make_socket(reconnect_time=1, connect_timeout=2, heart_time=1, pong_timeout=1)
    rt.net.closed_by_peer(1)  # refused
    run_until_next_attempt(rt)
    rt.advance(2)  # 2: connect timeout
    run_until_next_attempt(rt)
    rt.net.opened(3)
    rt.advance(2)  # 3: heartbeat timeout
    run_until_next_attempt(rt)
    rt.net.opened(4)
    sock.create()  # 4: replaced
    sock.destroy()  # 5: destroyed while connecting
    assert [e.socket_id for e in rec.closes] == [1, 2, 3, 4, 5]
    assert rec.close_codes == [1006, 4001, 4000, 1000, 1000]


@pytest.mark.parametrize(
    "options, code, expected",
    [
        ({}, 1008, "1008"),
        ({"reconnect_count": 0}, 1006, "reconnect_count"),
        ({"is_reconnect": False}, 1006, "is_reconnect"),
    ],
    ids=["final-code", "retries-spent", "reconnect-off"],
)
def test_closed_reason_says_why_the_socket_gave_up(options: dict[str, object], code: int, expected: str) -> None:
    """once CLOSED, closed_reason says which rule ended it; ready_state is CLOSED; create() clears it"""
    sock, rt, _ = make_socket(**options)
    assert sock.closed_reason is None
    rt.net.opened(1)
    rt.net.closed_by_peer(1, code)
    assert sock.state is State.CLOSED
    assert sock.ready_state == Socket.CLOSED
    assert sock.closed_reason is not None and expected in sock.closed_reason
    sock.create()
    assert sock.closed_reason is None


def test_a_peer_that_accepts_then_goes_silent_spends_the_budget() -> None:
    """a server that accepts and never answers a heartbeat earns no fresh budget: it is given up on"""
    sock, rt, rec = make_socket(
        reconnect_time=1, reconnect_count=2, min_uptime=1.5, heart_time=1, pong_timeout=1, backoff="fixed"
    )
    for _ in range(3):
        rt.net.opened(rt.net.last_id)  # accepted, then silence: abandoned 2 s later (> min_uptime)
        run_until_next_attempt(rt)
    assert sock.state is State.CLOSED
    assert attempts(rt) == 3
    assert [e.code for e in rec.closes] == [4000, 4000, 4000]


def test_uptime_with_answered_heartbeats_resets_the_budget() -> None:
    """a connection whose heartbeats are answered for min_uptime resets the counter before it drops"""
    sock, rt, rec = make_socket(reconnect_time=1, reconnect_count=1, min_uptime=1.5, heart_time=1, backoff="fixed")
    rt.net.closed_by_peer(1)
    run_until_next_attempt(rt)
    assert sock.attempt == 1
    rt.net.opened(2)
    for _ in range(3):
        rt.advance(1)  # a ping …
        rt.net.message(2, "pong")  # … answered
    assert sock.attempt == 0
    rt.net.closed_by_peer(2)
    assert sock.state is State.RECONNECTING
