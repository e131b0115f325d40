"""Page side of tests/browser/test_asyncio.py: the asyncio API and listeners."""

from __future__ import annotations

import asyncio
from typing import Any

import hstest

import heartsock


class Reading:
    """The connected socket and its first echo, between the two steps of a test."""

    sock: heartsock.Socket
    first: heartsock.Data


reading = Reading()


async def connect_and_echo(url: str, reconnect_time: float) -> None:
    """await connect(); send "one" and recv() its echo."""
    reading.sock = hstest.track(await heartsock.connect(url, reconnect_time=reconnect_time))
    reading.sock.send("one")
    reading.first = await asyncio.wait_for(reading.sock.recv(), 5 * hstest.T)


async def iterate_after_drop() -> tuple[heartsock.Data, list[heartsock.Data], str]:
    """After the server dropped it: send two messages, read them with async for, destroy()."""
    sock = reading.sock
    sock.send("two")  # queued while reconnecting, or sent at once if already back
    sock.send("three")
    got = []

    async def consume() -> None:
        async for data in sock:
            got.append(data)
            if len(got) == 2:
                sock.destroy()

    await asyncio.wait_for(consume(), 5 * hstest.T)  # ends quietly after destroy()
    return reading.first, got, sock.state.name


async def async_with(url: str) -> list[Any]:
    """async with connect(): an echo inside, the state after; then a block that raises."""
    async with heartsock.connect(url) as a:
        a.send("x")
        echoed = await a.recv()
    states: list[Any] = [echoed, a.state.name]
    try:
        async with heartsock.connect(url) as b:
            raise KeyError("boom")
    except KeyError:
        states.append(b.state.name)
    return states


async def connect_refused(url: str) -> Any:
    """connect() with reconnect_count=2 to a server refusing every handshake."""
    try:
        await heartsock.connect(url, reconnect_count=2, reconnect_time=0.01)
        out: Any = "connected?"
    except heartsock.ConnectionFailed as exc:
        out = [exc.code, exc.reason, isinstance(exc, ConnectionError), str(exc)]
    return out


async def every_receiver(url: str) -> list[Any]:
    """message_cb, a decorated listener, an async listener and recv() on the same messages."""
    order, via_cb, via_recv = [], [], []

    def on_message(d: heartsock.Data) -> None:
        via_cb.append(d)
        order.append("cb")

    sock = hstest.track(heartsock.Socket(url, message_cb=on_message))

    @sock.on("message")
    def first(data: heartsock.Data) -> None:
        order.append("first")

    async def second(data: heartsock.Data) -> None:
        order.append("second-async")

    sock.on("message", second)
    states = []
    sock.on("state", lambda old, new: states.append(new.name))
    await sock.wait_open(5 * hstest.T)
    for i in range(3):
        sock.send(f"m{i}")
    for _ in range(3):
        via_recv.append(await asyncio.wait_for(sock.recv(), 5 * hstest.T))
    await asyncio.sleep(0.05)
    removed = [sock.off("message", first), sock.off("message", first)]
    sock.send("m3")
    await asyncio.wait_for(sock.recv(), 5 * hstest.T)
    await asyncio.sleep(0.05)
    return [via_cb, via_recv, order[:3], order.count("first"), order.count("second-async"), removed, states]


async def json_round_trip(url: str) -> list[Any]:
    """send_json/recv_json, recv_json of a long text that is not JSON, then send_json again."""
    sock = hstest.track(await heartsock.connect(url))
    sock.send_json({"price": 1.5, "sym": "ACME", "tags": ["a", "ü"]})
    obj = await sock.recv_json()
    sock.send("not json " + "x" * 500)
    try:
        await sock.recv_json()
        err = None
    except ValueError as exc:
        err = [type(exc).__name__, str(exc)]
    sock.send_json([1, 2])
    return [obj, err, await sock.recv_json(), sock.state.name]


async def cancel_waiters(url: str, connect_timeout: float) -> list[Any]:
    """Cancel a task in wait_open() (first handshake hangs) and one in recv(); then echo."""
    sock = hstest.track(heartsock.Socket(url, connect_timeout=connect_timeout, reconnect_time=0.01))
    waiter = asyncio.ensure_future(sock.wait_open())
    await asyncio.sleep(0.05)
    waiter.cancel()
    await sock.wait_open(5 * hstest.T)
    reader = asyncio.ensure_future(sock.recv())
    await asyncio.sleep(0.02)
    reader.cancel()
    try:
        await reader
    except asyncio.CancelledError:
        pass
    sock.send("still here")
    return [waiter.cancelled(), reader.cancelled(), await asyncio.wait_for(sock.recv(), 5 * hstest.T), sock.state.name]


async def queue_then_drain(url: str, reconnect_time: float) -> list[Any]:
    """Queue 100 messages of 1000 bytes while the first handshakes are refused; drain()."""
    sock = hstest.track(heartsock.Socket(url, reconnect_time=reconnect_time, backoff="fixed"))
    flags = [sock.send("x" * 1000) for _ in range(100)]
    await sock.drain()
    return [all(f is False for f in flags), sock.queued, sock.buffered_amount]
