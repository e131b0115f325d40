"""heartsock.server holds its ground: stuck writers, silent peers behind full buffers, floods (issue 15).

Every case runs a real ``websockets`` server and client over loopback and asserts that the
server ends the connection within its bound, however the client misbehaves.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from heartsock.server import HeartbeatConnection, serve

BIG = "x" * 256 * 1024
HANDSHAKE = (
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def never_reads(url: str) -> None:
    """A raw TCP client: completes the handshake, then never reads another byte (nor closes)."""
    host, port = url.removeprefix("ws://").rstrip("/").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(HANDSHAKE.encode())
    await reader.readuntil(b"\r\n\r\n")
    try:
        await asyncio.sleep(60)
    finally:
        writer.transport.abort()


async def serve_and_run(handler: Any, client: Any, **settings: Any) -> tuple[list[HeartbeatConnection], float]:
    """Serve ``handler``, run ``client(url)``; return the connections and the seconds until the handler ended."""
    from heartsock.server import Heartbeat

    conns: list[HeartbeatConnection] = []
    ended = asyncio.Event()

    async def wrapped(conn: HeartbeatConnection) -> None:
        conns.append(conn)
        try:
            await handler(conn)
        finally:
            await conn.wait_closed()
            ended.set()

    started = time.monotonic()
    async with serve(wrapped, "127.0.0.1", 0, heartbeat=Heartbeat(**settings)) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        task = asyncio.create_task(client(url))
        await asyncio.wait_for(ended.wait(), 20)
        took = time.monotonic() - started
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return conns, took


def test_a_client_that_stops_reading_is_aborted_within_the_stall_bound() -> None:
    """the send buffer stays above stall_buffer for stall_timeout: the connection is aborted, the handler freed"""

    async def flood_out(conn: HeartbeatConnection) -> None:
        try:
            while True:
                await conn.send(BIG)
                await asyncio.sleep(0)  # client and server share this loop: let the client run
        except ConnectionClosed:
            pass

    conns, took = asyncio.run(serve_and_run(flood_out, never_reads, timeout=None, stall_timeout=0.5))
    assert conns[0].ended_because == "stalled"
    assert took < 5.0, took


def test_a_silent_client_behind_a_full_buffer_is_still_closed_within_the_bound() -> None:
    """probe and close both wait on flow control; deadlines abort the connection anyway (timeout=1)"""

    async def push_once(conn: HeartbeatConnection) -> None:
        try:
            for _ in range(40):  # far more than the socket buffers hold: the transport buffer stays full
                await asyncio.wait_for(conn.send(BIG), 0.2)
        except (TimeoutError, ConnectionClosed):
            pass
        await conn.wait_closed()

    conns, took = asyncio.run(
        serve_and_run(push_once, never_reads, timeout=1.0, probe_timeout=0.5, close_timeout=0.5, stall_timeout=None)
    )
    assert conns[0].timed_out and conns[0].ended_because == "silent"
    assert took < 6.0, took


def test_a_flooding_client_is_closed_with_1008() -> None:
    """more inbound messages per second than max_messages_per_second: closed with 1008 'rate limit exceeded'"""
    codes: list[int | None] = []

    async def reads(conn: HeartbeatConnection) -> None:
        async for _ in conn:
            pass

    async def floods(url: str) -> None:
        async with connect(url, ping_interval=None) as ws:
            try:
                for i in range(10_000):
                    await ws.send(f"m{i}")
                    await asyncio.sleep(0)  # client and server share this loop
                await ws.wait_closed()
            except ConnectionClosed:
                pass
            codes.append(ws.close_code)

    conns, took = asyncio.run(serve_and_run(reads, floods, timeout=None, max_messages_per_second=100))
    assert conns[0].ended_because == "rate limit"
    assert took < 5.0, took


def test_a_client_within_the_rate_limit_is_left_alone() -> None:
    """a steady client under both limits keeps its connection"""

    async def echo(conn: HeartbeatConnection) -> None:
        async for message in conn:
            await conn.send(message)
            if message == "bye":
                await conn.close()

    async def polite(url: str) -> None:
        async with connect(url, ping_interval=None) as ws:
            for i in range(20):
                await ws.send(f"m{i}")
                assert await ws.recv() == f"m{i}"
                await asyncio.sleep(0.02)
            await ws.send("bye")
            await ws.wait_closed()

    conns, _ = asyncio.run(
        serve_and_run(echo, polite, timeout=None, max_messages_per_second=100, max_bytes_per_second=10_000)
    )
    assert conns[0].ended_because is None
