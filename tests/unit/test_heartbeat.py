"""Heartbeat and dead-peer detection, driven with explicit time (issue 3 items 1 and 2)."""

from __future__ import annotations

import pytest

from heartsock import CLOSE_HEARTBEAT_TIMEOUT, State
from heartsock._outputs import Abandon, Open, Opened, Retrying, Send, SocketEnded, StateChanged

from .helpers import attempts, drain, machine, make_socket, of_type

# ---- the core, stepped by hand ----------------------------------------------------------


def test_core_pings_after_heart_time_of_silence() -> None:
    """the core asks for a heartbeat exactly heart_time after the last inbound traffic"""
    m = machine(heart_time=5)
    m.create(0.0)
    m.socket_opened(1, 0.0)
    drain(m)
    assert m.next_deadline() == 5.0
    m.handle_timer(4.999)
    assert drain(m) == []
    m.handle_timer(5.0)
    assert drain(m) == [Send(1, "ping", heartbeat=True)]


def test_core_abandons_a_silent_peer_with_4000() -> None:
    """no reply within pong_timeout: Abandon(4000, 'heartbeat timeout'), a close event, a retry"""
    m = machine(heart_time=5, pong_timeout=2)
    m.create(0.0)
    m.socket_opened(1, 0.0)
    m.handle_timer(5.0)
    drain(m)
    assert m.next_deadline() == 7.0
    m.handle_timer(6.99)
    assert drain(m) == []
    m.handle_timer(7.0)
    out = drain(m)
    assert out[0] == Abandon(1, CLOSE_HEARTBEAT_TIMEOUT, "heartbeat timeout")
    (ended,) = of_type(out, SocketEnded)
    assert (ended.event.code, ended.event.reason, ended.event.was_clean) == (4000, "heartbeat timeout", False)
    assert len(of_type(out, Retrying)) == 1
    assert m.state is State.RECONNECTING
    assert m.socket_id == 0


def test_core_every_inbound_message_restarts_the_heart() -> None:
    """each inbound message pushes the next heartbeat to heart_time after it"""
    m = machine(heart_time=5)
    m.create(0.0)
    m.socket_opened(1, 0.0)
    m.socket_message(1, "a", 3.0)
    assert m.next_deadline() == 8.0
    m.handle_timer(5.0)
    assert of_type(drain(m), Send) == []
    m.socket_message(1, "b", 7.5)
    assert m.next_deadline() == 12.5


# ---- through the Socket and FakeRuntime -------------------------------------------------


def test_heartbeat_is_sent_after_heart_time_of_silence() -> None:
    """a heartbeat goes out after heart_time without inbound traffic, and again after each reply"""
    sock, rt, _ = make_socket(heart_time=5)
    rt.net.opened(1)
    rt.advance(4.9)
    assert rt.net.sent(1) == []
    rt.advance(0.1)
    assert rt.net.sent(1) == ["ping"]
    rt.net.message(1, "pong")  # any reply is proof of life (pong_msg=None)
    rt.advance(5)
    assert rt.net.sent(1) == ["ping", "ping"]


def test_inbound_messages_restart_the_heartbeat() -> None:
    """while the peer talks, no heartbeat is sent; it comes heart_time after the last message"""
    sock, rt, _ = make_socket(heart_time=5)
    rt.net.opened(1)
    for _ in range(10):
        rt.advance(4)
        rt.net.message(1, "tick")
    assert rt.net.sent(1) == []
    rt.advance(5)
    assert rt.net.sent(1) == ["ping"]


def test_outbound_sends_do_not_count_as_proof_of_life() -> None:
    """sending does not postpone the heartbeat: only inbound traffic does"""
    sock, rt, _ = make_socket(heart_time=5)
    rt.net.opened(1)
    for i in range(4):
        rt.advance(1)
        sock.send(f"m{i}")
    rt.advance(1)
    assert rt.net.sent(1) == ["m0", "m1", "m2", "m3", "ping"]


def test_heart_msg_bytes_is_sent_as_bytes() -> None:
    """heart_msg may be bytes; it is written as a binary message"""
    sock, rt, _ = make_socket(heart_time=1, heart_msg=b"\x01")
    rt.net.opened(1)
    rt.advance(1)
    assert rt.net.sent(1) == [b"\x01"]


def test_silent_peer_is_abandoned_after_pong_timeout() -> None:
    """a silent peer is abandoned (4000) after heart_time + pong_timeout; close_cb told, retry scheduled"""
    sock, rt, rec = make_socket(heart_time=5, pong_timeout=2, reconnect_time=1)
    rt.net.opened(1)
    rt.advance(6.99)
    assert sock.state is State.OPEN and rt.net.sockets[1].abandoned is None
    rt.advance(0.01)
    assert rt.net.sockets[1].abandoned == (4000, "heartbeat timeout")
    assert rec.close_codes == [4000]
    assert rec.closes[0].reason == "heartbeat timeout"
    assert rec.closes[0].was_clean is False
    assert sock.state is State.RECONNECTING
    assert len(rec.reconnects) == 1
    assert rt.net.live_ids() == []
    rt.advance(rec.delays[0])
    assert attempts(rt) == 2


def test_pong_timeout_defaults_to_heart_time() -> None:
    """without pong_timeout, the peer is presumed dead heart_time after the heartbeat"""
    sock, rt, rec = make_socket(heart_time=3)
    rt.net.opened(1)
    rt.advance(5.99)
    assert rec.closes == []
    rt.advance(0.01)
    assert rec.close_codes == [4000]


def test_abandon_does_not_wait_for_the_browser_close_event() -> None:
    """the dead socket is replaced without any close event from the browser"""
    sock, rt, rec = make_socket(heart_time=1, pong_timeout=1, reconnect_time=0.5, backoff="fixed")
    rt.net.opened(1)
    rt.advance(2.5)  # dead at 2, retry after 0.5
    assert attempts(rt) == 2
    assert rt.net.live_ids() == [2]
    rt.net.closed_by_peer(1, 1006)  # the browser's late close of the old socket changes nothing
    assert rec.close_codes == [4000]
    assert sock.state is State.CONNECTING


def test_any_message_answers_the_heartbeat_by_default() -> None:
    """pong_msg=None: any inbound message is proof of life and is delivered to message_cb"""
    sock, rt, rec = make_socket(heart_time=5, pong_timeout=2)
    rt.net.opened(1)
    rt.advance(5)
    rt.net.message(1, "whatever")
    rt.advance(6.9)  # next heartbeat at 10, its deadline at 12: not reached
    assert rec.closes == []
    assert rt.net.sent(1) == ["ping", "ping"]
    assert rec.messages == ["whatever"]


def test_pong_msg_string_only_a_matching_reply_counts() -> None:
    """pong_msg='pong': other traffic does not answer the heartbeat, the pong does and is filtered"""
    sock, rt, rec = make_socket(heart_time=5, pong_timeout=2, pong_msg="pong")
    rt.net.opened(1)
    rt.advance(5)
    rt.net.message(1, "chatter")
    rt.net.message(1, b"pong")  # bytes do not match a str pong_msg
    rt.advance(1)
    rt.net.message(1, "pong")
    rt.advance(1.5)
    assert rec.closes == []
    assert rec.messages == ["chatter", b"pong"]
    assert sock.latency == pytest.approx(1.0)


def test_pong_msg_string_without_reply_abandons() -> None:
    """pong_msg='pong': a peer that talks but never pongs is still abandoned"""
    sock, rt, rec = make_socket(heart_time=5, pong_timeout=2, pong_msg="pong")
    rt.net.opened(1)
    rt.advance(5)
    rt.net.message(1, "chatter")
    rt.advance(1.5)
    rt.net.message(1, "more chatter")
    rt.advance(0.5)
    assert rec.close_codes == [4000]


def test_pong_msg_bytes_matches_binary_only() -> None:
    """pong_msg=b'pong' matches the binary message, not the text one"""
    sock, rt, rec = make_socket(heart_time=5, pong_timeout=2, pong_msg=b"pong")
    rt.net.opened(1)
    rt.advance(5)
    rt.net.message(1, "pong")
    rt.net.message(1, b"pong")
    rt.advance(3)
    assert rec.closes == []
    assert rec.messages == ["pong"]


def test_pong_msg_predicate() -> None:
    """pong_msg may be a predicate; matches answer the heartbeat and are not delivered"""
    sock, rt, rec = make_socket(
        heart_time=5, pong_timeout=2, pong_msg=lambda data: isinstance(data, str) and data.startswith("pong:")
    )
    rt.net.opened(1)
    rt.advance(5)
    rt.net.message(1, "hello")
    rt.net.message(1, "pong:42")
    rt.advance(3)
    assert rec.closes == []
    assert rec.messages == ["hello"]


def test_pong_msg_predicate_that_raises_is_reported() -> None:
    """a predicate that raises is reported; the message is treated as an ordinary one"""

    def bad(data: object) -> bool:
        raise RuntimeError("boom")

    sock, rt, rec = make_socket(heart_time=5, pong_msg=bad)
    rt.net.opened(1)
    rt.net.message(1, "x")
    assert rec.messages == ["x"]
    assert [(str(e), "pong_msg" in c) for e, c in rt.reported] == [("boom", True)]
    assert sock.state is State.OPEN


def test_unsolicited_pong_is_still_filtered() -> None:
    """a message matching pong_msg never reaches message_cb, even with no heartbeat pending"""
    sock, rt, rec = make_socket(pong_msg="pong")
    rt.net.opened(1)
    rt.net.message(1, "pong")
    assert rec.messages == []


def test_latency_is_the_heartbeat_round_trip() -> None:
    """latency is None before the first answered heartbeat, then its round-trip time"""
    sock, rt, _ = make_socket(heart_time=4, pong_msg="pong")
    rt.net.opened(1)
    assert sock.latency is None
    rt.advance(4)
    rt.advance(0.25)
    rt.net.message(1, "pong")
    assert sock.latency == pytest.approx(0.25)
    rt.advance(4)
    rt.advance(0.5)
    rt.net.message(1, "pong")
    assert sock.latency == pytest.approx(0.5)


def test_heartbeats_are_never_queued() -> None:
    """no heartbeat is written while not open, and none is put on the offline queue"""
    sock, rt, _ = make_socket(heart_time=1, connect_timeout=100)
    rt.advance(10)  # CONNECTING for 10 s
    assert sock.queued == 0
    rt.net.opened(1)
    assert rt.net.sent(1) == []


# ---- late timers (throttled or frozen tabs) ----------------------------------------------


def test_late_timer_abandons_an_overdue_peer_at_once() -> None:
    """a timer that fires long after the pong deadline declares the peer dead on wake-up"""
    sock, rt, rec = make_socket(heart_time=5, pong_timeout=2)
    rt.net.opened(1)
    rt.advance(5)
    assert rt.net.sent(1) == ["ping"]
    rt.jump(60)  # the tab was frozen for a minute
    rt.fire_late()
    assert rec.close_codes == [4000]
    assert sock.state is State.RECONNECTING


def test_late_timer_without_pending_ping_probes_instead_of_abandoning() -> None:
    """a late wake-up with no heartbeat outstanding sends one; the peer gets pong_timeout to answer"""
    sock, rt, rec = make_socket(heart_time=5, pong_timeout=2)
    rt.net.opened(1)
    rt.jump(60)
    rt.fire_late()
    assert rt.net.sent(1) == ["ping"]
    assert rec.closes == []
    rt.advance(1)
    rt.net.message(1, "alive")
    rt.advance(3)
    assert rec.closes == []
    assert sock.state is State.OPEN


def test_late_timer_fires_an_overdue_retry() -> None:
    """a retry whose time passed while the tab slept starts on wake-up"""
    sock, rt, rec = make_socket(reconnect_time=1)
    rt.net.closed_by_peer(1)
    rt.jump(100)
    rt.fire_late()
    assert attempts(rt) == 2


def test_late_timer_fires_an_overdue_connect_timeout() -> None:
    """a connect timeout that passed while the tab slept is applied on wake-up"""
    sock, rt, rec = make_socket(connect_timeout=3)
    rt.jump(100)
    rt.fire_late()
    assert rec.close_codes == [4001]


def test_send_while_pong_overdue_does_not_write_to_the_dead_socket() -> None:
    """a send after the (missed) pong deadline abandons the dead socket and queues the message"""
    sock, rt, rec = make_socket(heart_time=5, pong_timeout=2)
    rt.net.opened(1)
    rt.advance(5)
    rt.jump(3)  # the deadline passed but the timer has not fired yet
    assert sock.send("important") is False
    assert rt.net.sent(1) == ["ping"]
    assert rt.net.sockets[1].abandoned == (4000, "heartbeat timeout")
    assert sock.queued == 1
    run_to_open = rec.delays[0]
    rt.advance(run_to_open)
    rt.net.opened(2)
    assert rt.net.sent(2) == ["important"]


def test_send_before_pong_deadline_is_written() -> None:
    """a send while a heartbeat is pending but not yet overdue goes straight out"""
    sock, rt, _ = make_socket(heart_time=5, pong_timeout=2)
    rt.net.opened(1)
    rt.advance(6)
    assert sock.send("x") is True
    assert rt.net.sent(1) == ["ping", "x"]


def test_core_outputs_of_a_heartbeat_replacement_in_order() -> None:
    """abandon, close event and retry come out in order, and the retry opens a new id"""
    m = machine(heart_time=1, pong_timeout=1, backoff="fixed", reconnect_time=0.5)
    m.create(0.0)
    assert drain(m)[-1] == Open(1)
    m.socket_opened(1, 0.0)
    assert of_type(drain(m), Opened)
    m.handle_timer(1.0)
    drain(m)
    m.handle_timer(2.0)
    assert m.take_actions() == [Abandon(1, 4000, "heartbeat timeout")]
    kinds = [type(o) for o in drain(m) if not isinstance(o, StateChanged)]
    assert kinds == [SocketEnded, Retrying]
    m.handle_timer(2.5)
    assert of_type(drain(m), Open) == [Open(2)]
    m.socket_message(1, "late", 2.6)  # stale id
    assert drain(m) == []
