"""The offline queue: FIFO, flushed before open_cb, bounded, never a silent drop (issue 3 item 5)."""

from __future__ import annotations

import pytest

from heartsock import QueueFull, SocketClosed, State

from .helpers import make_socket, refuse_every_attempt, run_until_next_attempt, writes


def test_send_while_connecting_is_queued_and_flushed_in_order() -> None:
    """messages sent before the socket opens are written in order, once, when it opens"""
    sock, rt, _ = make_socket()
    assert [sock.send(f"m{i}") for i in range(5)] == [False] * 5
    assert sock.queued == 5
    rt.net.opened(1)
    assert rt.net.sent(1) == ["m0", "m1", "m2", "m3", "m4"]
    assert sock.queued == 0


def test_send_while_open_returns_true() -> None:
    """send() returns True when the message was written to the open socket"""
    sock, rt, _ = make_socket()
    rt.net.opened(1)
    assert sock.send("now") is True
    assert rt.net.sent(1) == ["now"]
    assert sock.queued == 0


def test_queue_is_flushed_before_open_cb_runs() -> None:
    """open_cb runs after the queued messages were written"""
    seen_at_open: list[list[object]] = []
    sock, rt, rec = make_socket(open_cb=lambda event: seen_at_open.append(list(rt.net.sent(event.socket_id))))
    sock.send("a")
    sock.send(b"b")
    rt.net.opened(1)
    assert seen_at_open == [["a", b"b"]]


def test_open_cb_sends_go_after_the_flushed_queue() -> None:
    """a send from open_cb is written after the queued messages"""
    holder: dict[str, object] = {}
    sock, rt, rec = make_socket(open_cb=lambda event: holder["sock"].send("from open_cb"))  # type: ignore[attr-defined]
    holder["sock"] = sock
    sock.send("queued")
    rt.net.opened(1)
    assert rt.net.sent(1) == ["queued", "from open_cb"]


def test_queue_survives_a_reconnect_and_goes_to_the_next_socket() -> None:
    """messages sent while reconnecting reach the next connection exactly once, in order"""
    sock, rt, _ = make_socket(reconnect_time=1, heart_time=100)
    rt.net.opened(1)
    sock.send("before")
    rt.net.closed_by_peer(1)
    sock.send("during-1")
    run_until_next_attempt(rt)
    sock.send("during-2")
    rt.net.closed_by_peer(2)  # refused: the queue must not be touched
    run_until_next_attempt(rt)
    sock.send("during-3")
    rt.net.opened(3)
    sock.send("after")
    assert writes(rt) == [(1, "before"), (3, "during-1"), (3, "during-2"), (3, "during-3"), (3, "after")]


def test_bytes_like_messages_are_queued_as_bytes() -> None:
    """bytearray and memoryview are sent as bytes, also when queued"""
    sock, rt, _ = make_socket()
    buf = bytearray(b"abc")
    sock.send(buf)
    buf[0] = ord("z")  # the queued copy must not change with the caller's buffer
    sock.send(memoryview(b"\x00\x01"))
    rt.net.opened(1)
    assert rt.net.sent(1) == [b"abc", b"\x00\x01"]
    assert all(type(m) is bytes for m in rt.net.sent(1))


@pytest.mark.parametrize("data", [123, None, 1.5, ["x"], {"a": 1}])
def test_send_rejects_other_types(data: object) -> None:
    """send() of anything but str or bytes-like raises TypeError and queues nothing"""
    sock, rt, _ = make_socket()
    with pytest.raises(TypeError):
        sock.send(data)  # type: ignore[arg-type]
    assert sock.queued == 0


def test_queue_full_raises_at_max_queue() -> None:
    """a send that would overflow max_queue raises QueueFull and the queue keeps what it had"""
    sock, rt, _ = make_socket(max_queue=3)
    for i in range(3):
        sock.send(f"m{i}")
    with pytest.raises(QueueFull):
        sock.send("overflow")
    assert sock.queued == 3
    rt.net.opened(1)
    assert rt.net.sent(1) == ["m0", "m1", "m2"]
    assert sock.send("then fine") is True


def test_max_queue_zero_means_every_send_while_not_open_raises() -> None:
    """max_queue=0: every send while not open raises QueueFull; sends while open work"""
    sock, rt, _ = make_socket(max_queue=0, reconnect_time=1)
    with pytest.raises(QueueFull):
        sock.send("x")
    rt.net.opened(1)
    assert sock.send("y") is True
    rt.net.closed_by_peer(1)
    with pytest.raises(QueueFull):
        sock.send("z")
    assert rt.net.sent(1) == ["y"]


def test_send_after_destroy_raises_socket_closed() -> None:
    """send() after destroy() raises SocketClosed"""
    sock, rt, _ = make_socket()
    sock.destroy()
    with pytest.raises(SocketClosed):
        sock.send("x")


def test_send_after_giving_up_raises_socket_closed() -> None:
    """send() after the socket gave up raises SocketClosed (not a silent queue)"""
    sock, rt, _ = make_socket(reconnect_count=1, reconnect_time=1)
    refuse_every_attempt(rt)
    assert sock.state is State.CLOSED
    with pytest.raises(SocketClosed):
        sock.send("x")


def test_destroy_returns_the_unsent_messages() -> None:
    """destroy() returns the queued messages in order; the queue is then empty"""
    sock, rt, _ = make_socket()
    for m in ("a", b"b", "c"):
        sock.send(m)
    assert sock.destroy() == ["a", b"b", "c"]
    assert sock.queued == 0
    assert sock.destroy() == []


def test_queued_messages_survive_giving_up_and_create() -> None:
    """messages queued before a give-up are still sent when create() connects again"""
    sock, rt, _ = make_socket(reconnect_count=0)
    sock.send("kept")
    refuse_every_attempt(rt)
    assert sock.state is State.CLOSED
    assert sock.queued == 1
    sock.create()
    rt.net.opened(rt.net.last_id)
    assert rt.net.sent(rt.net.last_id) == ["kept"]


def test_messages_sent_to_a_replaced_socket_are_not_resent() -> None:
    """a message written to a socket is never queued again when that socket is replaced"""
    sock, rt, _ = make_socket(heart_time=100)
    rt.net.opened(1)
    sock.send("once")
    sock.create()
    rt.net.opened(2)
    assert writes(rt) == [(1, "once")]


# ---- outbox policies: ttl, key, overflow ------------------------------------------------------


def test_drop_oldest_makes_room_and_reports_it() -> None:
    """queue_overflow="drop_oldest": the oldest queued message goes, counted, with an error event"""
    from heartsock import QueueFull

    sock, rt, rec = make_socket(max_queue=2, queue_overflow="drop_oldest")
    for text in ("a", "b", "c"):
        assert sock.send(text) is False
    rt.net.opened(1)
    assert rt.net.sent(1) == ["b", "c"]
    assert sock.stats().overflowed == 1
    assert [type(e.error) for e in rec.errors] == [QueueFull] and "oldest" in rec.errors[0].reason


def test_drop_newest_keeps_the_queue_and_reports_it() -> None:
    """queue_overflow="drop_newest": the message being sent is dropped, counted, with an error event"""
    sock, rt, rec = make_socket(max_queue=2, queue_overflow="drop_newest")
    for text in ("a", "b", "c"):
        sock.send(text)
    rt.net.opened(1)
    assert rt.net.sent(1) == ["a", "b"]
    assert sock.stats().overflowed == 1 and "newest" in rec.errors[0].reason


def test_a_message_that_outlives_its_ttl_is_dropped_and_reported() -> None:
    """send(ttl=…) while offline: still queued after ttl seconds, it is dropped at the flush, with an error event"""
    from heartsock import MessageExpired

    sock, rt, rec = make_socket()
    sock.send("stale", ttl=1.0)
    sock.send("fresh", ttl=10.0)
    sock.send("forever")
    rt.jump(2.0)
    rt.net.opened(1)
    assert rt.net.sent(1) == ["fresh", "forever"]
    assert sock.stats().expired == 1
    assert [type(e.error) for e in rec.errors] == [MessageExpired]


def test_a_newer_message_with_the_same_key_replaces_the_queued_one_in_place() -> None:
    """send(key=…) while offline: the latest value wins, in the first one's place"""
    sock, rt, rec = make_socket()
    sock.send("price 1", key="AAPL")
    sock.send("news")
    sock.send("price 2", key="AAPL")
    assert sock.queued == 2
    rt.net.opened(1)
    assert rt.net.sent(1) == ["price 2", "news"]
    assert sock.stats().coalesced == 1


def test_policies_are_validated() -> None:
    """a bad ttl, an unhashable key, an unknown overflow policy, and ttl/key with resume=True are refused clearly"""
    from heartsock import ConfigError, ConfigTypeError

    sock, rt, rec = make_socket()
    with pytest.raises(ConfigError, match="ttl"):
        sock.send("x", ttl=0)
    with pytest.raises(ConfigTypeError, match="key must be hashable"):
        sock.send("x", key=["list"])
    with pytest.raises(ConfigError, match="queue_overflow"):
        make_socket(queue_overflow="drop_random")
    session, _, _ = make_socket(resume=True)
    with pytest.raises(ConfigError, match="resume=True"):
        session.send("x", ttl=1.0)
    assert sock.queued == 0 and session.queued == 0
