"""Driver.on_messages — a batch of received messages — against the per-message path, on FakeRuntime."""

from __future__ import annotations

from typing import Any

import pytest

import heartsock
from heartsock.testing import FakeRuntime

URL = "ws://127.0.0.1:9/ws"


def opened(**options: Any) -> tuple[heartsock.Socket, FakeRuntime, list[Any]]:
    """An OPEN socket on a FakeRuntime whose message_cb appends to the returned list."""
    rt = FakeRuntime()
    got: list[Any] = []
    sock = heartsock.Socket(URL, runtime=rt, message_cb=got.append, **options)
    transport = sock._driver.transport
    transport.opened(transport.last_id)  # type: ignore[attr-defined]
    return sock, rt, got


def feed(sock: heartsock.Socket, batch: list[Any], batched: bool) -> None:
    driver = sock._driver
    sid = driver.machine.socket_id
    if batched:
        driver.on_messages(sid, batch)
    else:
        for data in batch:
            driver.on_message(sid, data)


@pytest.mark.parametrize(
    ("options", "batch", "delivered"),
    [
        ({}, ["a", b"b", "", b"", "pong"], ["a", b"b", "", b"", "pong"]),
        ({"pong_msg": "pong"}, ["a", "pong", b"pong", "b"], ["a", b"pong", "b"]),  # only the text reply is dropped
        ({"pong_msg": lambda d: d == b"!"}, [b"!", "x", b"!"], ["x"]),
    ],
)
def test_a_batch_delivers_what_the_messages_one_by_one_would(
    options: dict[str, Any], batch: list[Any], delivered: list[Any]
) -> None:
    """same deliveries, counters and heartbeat state as the per-message path"""
    results = []
    for batched in (False, True):
        sock, _, got = opened(**options)
        feed(sock, batch, batched)
        stats = sock.stats()
        results.append((got, stats.messages_in, sock._driver.size_in, sock.state))
        sock.destroy()
    assert results[0] == results[1]
    assert results[1][0] == delivered and results[1][1] == len(batch)


def test_a_reply_in_a_batch_ends_the_heartbeat_in_flight() -> None:
    """with a ping awaiting its reply, the batch's first message is the reply: latency measured, then plain delivery"""
    sock, rt, got = opened(heart_time=1, pong_timeout=1)
    rt.advance(1.0)
    assert sock._driver.transport.sent(1) == ["ping"]  # type: ignore[attr-defined]
    assert sock._machine.heartbeat.in_doubt
    rt.jump(0.25)
    feed(sock, ["pong", "x", "y"], batched=True)
    assert got == ["pong", "x", "y"] and not sock._machine.heartbeat.in_doubt
    assert sock.latency == pytest.approx(0.25)
    sock.destroy()


def test_a_send_from_a_callback_goes_out_before_the_next_message_is_delivered() -> None:
    """message_cb sends on each message of a batch: each send is written right after its own message"""
    rt = FakeRuntime()
    order: list[Any] = []
    box: list[heartsock.Socket] = []

    def on_message(data: Any) -> None:
        order.append(("got", data))
        box[0].send(f"re:{data}")
        order.append(("wrote", list(box[0]._driver.transport.sent(1))))  # type: ignore[attr-defined]

    sock = heartsock.Socket(URL, runtime=rt, message_cb=on_message)
    box.append(sock)
    sock._driver.transport.opened(1)  # type: ignore[attr-defined]
    feed(sock, ["a", "b"], batched=True)
    assert [entry[0] for entry in order] == ["got", "wrote", "got", "wrote"]
    assert sock._driver.transport.sent(1) == ["re:a", "re:b"]  # type: ignore[attr-defined]
    sock.destroy()


def test_destroy_from_a_callback_stops_the_batch() -> None:
    """destroy() at the 2nd message: the 3rd and 4th reach no callback"""
    rt = FakeRuntime()
    got: list[Any] = []
    box: list[heartsock.Socket] = []

    def on_message(data: Any) -> None:
        got.append(data)
        if len(got) == 2:
            box[0].destroy()

    sock = heartsock.Socket(URL, runtime=rt, message_cb=on_message)
    box.append(sock)
    sock._driver.transport.opened(1)  # type: ignore[attr-defined]
    feed(sock, ["1", "2", "3", "4"], batched=True)
    assert got == ["1", "2"] and sock.state is heartsock.State.DESTROYED


def test_a_stale_socket_id_delivers_nothing() -> None:
    """a batch for a connection already replaced by create() is ignored, counted as received"""
    sock, _, got = opened()
    sock.create()
    sock._driver.on_messages(1, ["late", b"late"])
    assert got == [] and sock.stats().messages_in == 2
    sock.destroy()


def test_recv_buffer_takes_a_batch_in_order() -> None:
    """with the receive buffer on, every message of a batch is buffered in order"""
    sock, _, got = opened()
    sock._buffer_from_the_start()
    feed(sock, ["a", b"b", "c"], batched=True)
    inbox = sock._driver.inbox
    assert [inbox.take() for _ in range(3)] == ["a", b"b", "c"] and got == ["a", b"b", "c"]
    sock.destroy()
