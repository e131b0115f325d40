"""heartsock.Socket on CPython's asyncio with websockets (issue 12, part 1), against real servers and faults.

The same fault server as the browser tier (devtools.faults, on its own loop in a thread)
and heartsock.server sessions; the socket runs on the test's own event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

import heartsock
from devtools.faults import ThreadedFaultServer
from heartsock import ConnectionFailed, State
from heartsock.server import Session, serve

R = TypeVar("R")


def run(main: Callable[[], Awaitable[R]]) -> R:
    return asyncio.run(asyncio.wait_for(main(), 30))


@pytest.fixture(scope="module")
def faults() -> Iterator[ThreadedFaultServer]:
    server = ThreadedFaultServer()
    yield server
    server.close()


@pytest.fixture
def server(faults: ThreadedFaultServer) -> ThreadedFaultServer:
    faults.reset()
    return faults


async def until(predicate: Callable[[], Any], seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.005)


def test_connect_send_recv_and_async_for(server: ThreadedFaultServer) -> None:
    """connect(), send text and bytes, recv() them back, iterate; the server got them in order"""

    async def main() -> list[Any]:
        async with heartsock.connect(server.url("/echo")) as sock:
            sock.send("héllo")
            sock.send(b"\x00\x01")
            got = [await sock.recv(), await sock.recv()]
            sock.send_json({"n": 1})
            got.append(await sock.recv_json())
        return got

    assert run(main) == ["héllo", b"\x00\x01", {"n": 1}]
    assert server.peers("/echo")[0].messages == ["héllo", b"\x00\x01", '{"n":1}']


def test_a_silent_peer_is_abandoned_with_4000_and_replaced(server: ThreadedFaultServer) -> None:
    """the server stops answering: after heart_time + pong_timeout the socket is abandoned (4000) and reconnects"""

    async def main() -> list[int | None]:
        closes: list[int | None] = []
        sock = heartsock.Socket(
            server.url("/echo"),
            heart_time=0.2,
            pong_timeout=0.2,
            reconnect_time=0.05,
            backoff="fixed",
            close_cb=lambda e: closes.append(e.code),
        )
        await sock.wait_open(5)
        server.call(server.server.set_silent, True)
        await until(lambda: closes)
        server.call(server.server.set_silent, False)
        await until(lambda: sock.state is State.OPEN and sock.stats().connections == 2)
        sock.destroy()
        return closes

    assert run(main)[0] == 4000


def test_a_dropped_connection_reconnects_and_flushes_the_queue_in_order(server: ThreadedFaultServer) -> None:
    """abort the TCP connection; messages sent meanwhile reach the server once, in order"""

    async def main() -> None:
        sock = heartsock.Socket(server.url("/echo"), reconnect_time=0.05, backoff="fixed")
        await sock.wait_open(5)
        server.call(server.server.drop_all)
        await until(lambda: sock.state is not State.OPEN)
        for i in range(20):
            sock.send(f"m{i}")
        await until(lambda: sock.state is State.OPEN)
        await sock.drain()
        await until(lambda: sum(len(p.messages) for p in server.peers("/echo")) == 20)
        sock.destroy()

    run(main)
    assert [m for p in server.peers("/echo") for m in p.messages] == [f"m{i}" for i in range(20)]


def test_a_hung_handshake_times_out_with_4001(server: ThreadedFaultServer) -> None:
    """a handshake the server never answers is abandoned after connect_timeout (4001), then retried"""
    server.call(server.server.hang_next, 1)

    async def main() -> list[int | None]:
        closes: list[int | None] = []
        sock = heartsock.Socket(
            server.url("/echo"),
            connect_timeout=0.3,
            reconnect_time=0.05,
            backoff="fixed",
            close_cb=lambda e: closes.append(e.code),
        )
        await sock.wait_open(5)
        sock.destroy()
        return closes

    assert run(main)[0] == 4001


def test_a_refused_handshake_and_a_final_close(server: ThreadedFaultServer) -> None:
    """refused handshakes are retried then given up on, explained; a 1008 close is final"""

    async def refused() -> str:
        server.call(server.server.refuse_next, 10)
        try:
            await heartsock.connect(server.url("/echo"), reconnect_count=1, reconnect_time=0.01)
        except ConnectionFailed as exc:
            return str(exc)
        return "connected?"

    message = run(refused)
    assert "the handshake failed: server rejected WebSocket connection: HTTP 503" in message
    server.reset()

    async def final() -> str | None:
        sock = heartsock.Socket(server.url("/close/1008"), reconnect_time=0.01)
        await until(lambda: sock.state is State.CLOSED)
        return sock.closed_reason

    assert run(final) == "close code 1008 is final"


def test_sessions_on_cpython_survive_aborts() -> None:
    """resume=True on CPython: 200 messages each way through TCP aborts arrive once, in order"""
    count = 200
    received: list[str] = []

    async def main() -> list[Any]:
        sessions: list[Session] = []

        async def handler(session: Session) -> None:
            sessions.append(session)

            async def produce() -> None:
                for i in range(count):
                    await session.send(f"s{i}")
                    await asyncio.sleep(0.001)

            producer = asyncio.ensure_future(produce())
            async for message in session:
                received.append(str(message))
            producer.cancel()

        async with serve(handler, "127.0.0.1", 0, resume=True) as srv:
            url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/"
            got: list[Any] = []
            sock = heartsock.Socket(
                url,
                resume=True,
                reconnect_count=-1,
                backoff="fixed",
                reconnect_time=0.01,
                min_uptime=0,
                message_cb=got.append,
            )

            async def chaos() -> None:
                while True:
                    await asyncio.sleep(0.05)
                    for session in sessions:
                        if session.connection is not None:
                            session.connection.transport.abort()

            chaos_task = asyncio.ensure_future(chaos())
            for i in range(count):
                sock.send(f"c{i}")
                await asyncio.sleep(0.001)
            await until(lambda: len(got) >= count, 20)
            chaos_task.cancel()
            await sock.drain()
            sock.destroy()
            await asyncio.sleep(0.05)
            return got

    got = run(main)
    assert got == [f"s{i}" for i in range(count)]
    assert received == [f"c{i}" for i in range(count)]


def test_destroy_on_cpython_says_goodbye_like_a_browser() -> None:
    """destroy() after send(): the message and the session's goodbye go out before the close

    A browser's ``ws.close()`` sends what was queued first; the CPython transport must too,
    or the server's session waits for its ttl instead of ending at once.
    """

    async def main() -> tuple[list[str], float]:
        received: list[str] = []
        ended = asyncio.Event()

        async def handler(session: Session) -> None:
            async for message in session:
                received.append(str(message))
            ended.set()

        async with serve(handler, "127.0.0.1", 0, resume=True, session_ttl=60.0) as srv:
            url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/"
            async with heartsock.connect(url, resume=True) as sock:
                for i in range(50):
                    sock.send(f"m{i}")
                started = asyncio.get_running_loop().time()
            await asyncio.wait_for(ended.wait(), 10)
            return received, asyncio.get_running_loop().time() - started

    received, took = run(main)
    assert received == [f"m{i}" for i in range(50)]
    assert took < 5.0  # ended by the goodbye, not by the 60 s session_ttl
