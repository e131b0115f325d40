"""Browser hints: offline/online and page visibility (issue 3 item 2)."""

from __future__ import annotations

from heartsock import State
from heartsock._core import ONLINE_JITTER
from heartsock._outputs import Retrying, Send
from heartsock.testing import FakeRuntime

from .helpers import attempts, drain, machine, make_socket, of_type, refuse_every_attempt, run_until_next_attempt


def test_offline_close_burns_no_attempts() -> None:
    """a close while offline schedules nothing and uses no reconnect attempt"""
    sock, rt, rec = make_socket(reconnect_time=1, reconnect_count=2)
    rt.net.opened(1)
    rt.set_online(False)
    assert sock.state is State.OPEN  # going offline alone keeps the socket
    rt.net.closed_by_peer(1, 1006)
    assert sock.state is State.RECONNECTING
    assert rec.reconnects == []
    assert sock.retry_in is None
    rt.advance(3600)
    assert attempts(rt) == 1
    assert sock.attempt == 0
    assert sock.state is State.RECONNECTING


def test_online_retries_at_once_with_small_jitter() -> None:
    """'online' after an offline close retries within a small jitter (≤ 0.5 s)"""
    sock, rt, rec = make_socket(rt=FakeRuntime(rand=lambda: 0.999), reconnect_time=30, reconnect_count=2)
    rt.net.opened(1)
    rt.set_online(False)
    rt.net.closed_by_peer(1, 1006)
    rt.advance(100)
    t0 = rt.now
    rt.set_online(True)
    assert run_until_next_attempt(rt)
    assert 0 <= rt.now - t0 <= ONLINE_JITTER <= 0.5
    assert rt.net.live_ids() == [2]


def test_online_retry_uses_its_own_jitter_value() -> None:
    """the online retry time is rand * min(0.5, reconnect_time) after the event"""
    m = machine(rand=lambda: 0.5, reconnect_time=10)
    m.create(0.0)
    m.socket_opened(1, 0.0)
    m.went_offline(1.0)
    m.socket_closed(1, 1006, "", False, 2.0)
    assert of_type(drain(m), Retrying) == []
    assert m.next_deadline() is None
    m.went_online(50.0)
    assert m.next_deadline() == 50.25


def test_offline_pauses_a_scheduled_retry_and_online_resumes_it_soon() -> None:
    """going offline while waiting to retry pauses the retry; online brings it forward"""
    sock, rt, rec = make_socket(reconnect_time=20, backoff="fixed")
    rt.net.closed_by_peer(1)
    rt.advance(5)
    rt.set_online(False)
    rt.advance(100)
    assert attempts(rt) == 1
    rt.set_online(True)
    rt.advance(ONLINE_JITTER)
    assert attempts(rt) == 2


def test_offline_time_leaves_the_whole_budget() -> None:
    """after an offline spell the socket still has its full reconnect_count once online"""
    sock, rt, rec = make_socket(reconnect_time=1, reconnect_count=2)
    rt.net.opened(1)
    rt.set_online(False)
    rt.net.closed_by_peer(1)
    rt.advance(1000)
    rt.set_online(True)
    rt.advance(ONLINE_JITTER)
    assert attempts(rt) == 2
    # Interpretation: the retry triggered by 'online' is free (offline time burns no
    # attempts), so the refused server then still gets reconnect_count retries.
    assert refuse_every_attempt(rt) == 2 + 2
    assert sock.state is State.CLOSED


def test_online_probes_an_open_socket() -> None:
    """'online' with a socket open sends a heartbeat at once, with the pong deadline"""
    sock, rt, rec = make_socket(heart_time=30, pong_timeout=2)
    rt.net.opened(1)
    rt.advance(3)
    rt.set_online(False)
    rt.set_online(True)
    assert rt.net.sent(1) == ["ping"]
    rt.advance(2)
    assert rec.close_codes == [4000]


def test_visible_probes_an_open_socket_with_a_ping() -> None:
    """visibilitychange to visible sends a heartbeat at once; no reply within pong_timeout abandons"""
    sock, rt, rec = make_socket(heart_time=30, pong_timeout=2)
    rt.net.opened(1)
    rt.advance(1)
    rt.became_visible()
    assert rt.net.sent(1) == ["ping"]
    rt.advance(1.99)
    assert rec.closes == []
    rt.advance(0.01)
    assert rec.close_codes == [4000]


def test_visible_probe_answered_keeps_the_socket() -> None:
    """a probe that is answered keeps the connection and measures latency"""
    sock, rt, rec = make_socket(heart_time=30, pong_timeout=2)
    rt.net.opened(1)
    rt.became_visible()
    rt.advance(0.5)
    rt.net.message(1, "pong")
    rt.advance(10)
    assert rec.closes == []
    assert sock.latency == 0.5


def test_visible_with_a_probe_pending_sends_no_second_ping() -> None:
    """a visibility event while a heartbeat is already pending does not send another"""
    sock, rt, _ = make_socket(heart_time=5, pong_timeout=5)
    rt.net.opened(1)
    rt.advance(5)
    rt.became_visible()
    assert rt.net.sent(1) == ["ping"]


def test_visible_after_a_frozen_page_abandons_an_overdue_peer() -> None:
    """waking a frozen page with a heartbeat long overdue abandons the socket at once"""
    sock, rt, rec = make_socket(heart_time=5, pong_timeout=2)
    rt.net.opened(1)
    rt.advance(5)
    rt.jump(300)
    rt.became_visible()
    assert rec.close_codes == [4000]
    assert sock.state is State.RECONNECTING


def test_visible_while_offline_does_not_probe() -> None:
    """visibility while the browser is offline sends nothing"""
    sock, rt, _ = make_socket(heart_time=30)
    rt.net.opened(1)
    rt.set_online(False)
    rt.became_visible()
    assert rt.net.sent(1) == []


def test_core_probe_is_a_heartbeat_send() -> None:
    """the core's probe is a Send marked heartbeat"""
    m = machine(heart_time=30)
    m.create(0.0)
    m.socket_opened(1, 0.0)
    drain(m)
    m.became_visible(1.0)
    assert drain(m) == [Send(1, "ping", heartbeat=True)]
