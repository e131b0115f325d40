"""heartsock.server under CPython, against real ``websockets`` clients on 127.0.0.1.

Each test runs its own server on a free port inside ``asyncio.run`` (on a worker
thread: Playwright's sync API may own the main thread's event loop when the whole suite
runs); intervals are tenths of a second, so the whole module takes a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from heartsock.server import CLOSE_HEARTBEAT_TIMEOUT, Heartbeat, HeartbeatConnection, heartbeat, serve
from tests.cycles import cyclic_garbage

Handler = Callable[[HeartbeatConnection], Awaitable[None]]
R = TypeVar("R")


def run(coro: Coroutine[Any, Any, R]) -> R:
    """``asyncio.run(coro)`` with a 20 s limit."""
    return asyncio.run(asyncio.wait_for(coro, 20))


@contextlib.asynccontextmanager
async def running(handler: Handler, **settings: Any) -> AsyncIterator[str]:
    """Serve ``handler`` behind ``Heartbeat(**settings)``; yield the ws:// URL."""
    async with serve(handler, "127.0.0.1", 0, heartbeat=Heartbeat(**settings), close_timeout=0.3) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/"


def client(url: str) -> Any:
    """A websockets client without its own keepalive (so only the test sends frames)."""
    return connect(url, ping_interval=None, close_timeout=0.3)


async def drain(ws: ClientConnection, seconds: float) -> list[str | bytes]:
    """Everything ``ws`` receives within ``seconds``."""
    got: list[str | bytes] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                got.append(await ws.recv())
    return got


class Recorder:
    """A handler that echoes and records what it saw, how it ended, and its connection."""

    def __init__(self) -> None:
        self.seen: list[str | bytes] = []
        self.conns: list[HeartbeatConnection] = []
        self.ended: list[str] = []

    async def __call__(self, ws: HeartbeatConnection) -> None:
        self.conns.append(ws)
        try:
            async for message in ws:
                self.seen.append(message)
                await ws.send(message)
            self.ended.append("normally")
        except ConnectionClosed as exc:
            self.ended.append(type(exc).__name__)
            raise


def test_heartbeats_are_answered_and_hidden_from_the_handler() -> None:
    """every "ping" gets a "pong"; the handler sees only application messages, in order."""
    rec = Recorder()

    async def main() -> list[str | bytes]:
        async with running(rec) as url, client(url) as ws:
            for message in ["ping", "hello", "ping", "world"]:
                await ws.send(message)
            return await drain(ws, 0.3)

    got = run(main())
    assert sorted(got, key=str) == ["hello", "pong", "pong", "world"]
    assert [m for m in got if m != "pong"] == ["hello", "world"]
    assert rec.seen == ["hello", "world"]
    assert rec.conns[0].heartbeats == 2


def test_binary_heartbeat_is_configurable_and_type_sensitive() -> None:
    """a bytes ping is answered with a bytes pong; the same text is an ordinary message."""
    rec = Recorder()

    async def main() -> list[str | bytes]:
        async with running(rec, ping=b"\x00hb", pong=b"\x00ok") as url, client(url) as ws:
            await ws.send(b"\x00hb")
            await ws.send("\x00hb")
            return await drain(ws, 0.3)

    got = run(main())
    assert sorted(got, key=repr) == sorted([b"\x00ok", "\x00hb"], key=repr)
    assert rec.seen == ["\x00hb"]


def test_pong_none_answers_nothing_but_counts_as_life() -> None:
    """with pong=None a heartbeat gets no reply, yet it keeps the connection open."""
    rec = Recorder()

    async def main() -> tuple[list[str | bytes], bool]:
        async with running(rec, pong=None, timeout=0.3, probe_timeout=None) as url, client(url) as ws:
            got: list[str | bytes] = []
            for _ in range(6):
                await ws.send("ping")
                got += await drain(ws, 0.1)
            return got, ws.close_code is None

    got, still_open = run(main())
    assert got == []
    assert still_open
    assert rec.seen == []


def test_silent_client_is_closed_with_4000_after_timeout() -> None:
    """without probing, a client silent for `timeout` is closed with 4000 "heartbeat timeout"."""
    rec = Recorder()

    async def main() -> tuple[float, int | None, str | None]:
        async with running(rec, timeout=0.3, probe_timeout=None) as url, client(url) as ws:
            start = time.monotonic()
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return time.monotonic() - start, ws.close_code, ws.close_reason

    elapsed, code, reason = run(main())
    assert (code, reason) == (CLOSE_HEARTBEAT_TIMEOUT, "heartbeat timeout")
    assert 0.25 <= elapsed < 0.8
    assert rec.conns[0].timed_out
    assert rec.ended == ["normally"]  # async for ends quietly after a heartbeat timeout


def test_heartbeats_keep_a_quiet_connection_alive() -> None:
    """a client that pings more often than `timeout` stays connected, probed or not."""

    async def main() -> bool:
        async with running(Recorder(), timeout=0.3, probe_timeout=None) as url, client(url) as ws:
            for _ in range(10):
                await ws.send("ping")
                assert await ws.recv() == "pong"
                await asyncio.sleep(0.1)
            return ws.close_code is None

    assert run(main())


def test_a_listen_only_client_is_probed_not_closed() -> None:
    """a client that only receives a push feed answers the Ping probe and stays connected."""
    conns: list[HeartbeatConnection] = []

    async def push(ws: HeartbeatConnection) -> None:
        conns.append(ws)
        while True:
            await ws.send("tick")
            await asyncio.sleep(0.05)

    async def main() -> tuple[int, bool]:
        async with running(push, timeout=0.2, probe_timeout=0.2) as url, client(url) as ws:
            got = await drain(ws, 1.0)
            return len(got), ws.close_code is None

    ticks, still_open = run(main())
    assert still_open
    assert ticks >= 10
    assert conns[0].probes >= 2
    assert not conns[0].timed_out


def test_a_dead_client_fails_the_probe_and_is_closed() -> None:
    """a client that stops reading (no Pong) is closed after timeout + probe_timeout."""
    rec = Recorder()

    async def main() -> float:
        async with running(rec, timeout=0.2, probe_timeout=0.2) as url, client(url) as ws:
            ws.transport.pause_reading()  # a half-open peer: it never answers anything
            start = time.monotonic()
            while not rec.ended:
                await asyncio.sleep(0.01)
                assert time.monotonic() - start < 3, "the server never gave up on the dead client"
            return time.monotonic() - start

    elapsed = run(main())
    conn = rec.conns[0]
    assert conn.timed_out and conn.probes == 1
    assert elapsed >= 0.4
    assert rec.ended == ["normally"]


def test_handler_reads_every_message_in_order_under_backpressure() -> None:
    """with a tiny buffer and a slow handler, every message arrives once and in order."""
    seen: list[str | bytes] = []

    async def slow(ws: HeartbeatConnection) -> None:
        async for message in ws:
            seen.append(message)
            await asyncio.sleep(0.002)
            if len(seen) == 50:
                await ws.send("done")

    async def main() -> None:
        async with running(slow, max_queue=2) as url, client(url) as ws:
            for i in range(50):
                await ws.send(f"m{i}")
                if i % 10 == 0:
                    await ws.send("ping")
            got = [m async for m in _until(ws, "done")]
            assert got.count("pong") == 5

    run(main())
    assert seen == [f"m{i}" for i in range(50)]


async def _until(ws: ClientConnection, last: str) -> AsyncIterator[str | bytes]:
    async with asyncio.timeout(3):
        while (message := await ws.recv()) != last:
            yield message


def test_a_client_that_vanishes_is_not_logged_as_a_handler_failure(caplog: pytest.LogCaptureFixture) -> None:
    """ConnectionClosed escaping the handler ends the connection quietly (no ERROR log)."""

    async def main() -> None:
        finished = asyncio.Event()

        async def reader(ws: HeartbeatConnection) -> None:
            try:
                while True:
                    await ws.recv()
            finally:
                finished.set()

        async with running(reader) as url:
            async with client(url) as ws:
                await ws.send("hello")
                await asyncio.sleep(0.05)
                ws.transport.abort()
            await asyncio.wait_for(finished.wait(), 2)
            await asyncio.sleep(0.05)

    with caplog.at_level(logging.DEBUG):
        run(main())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_wrapped_connection_delegates_to_websockets() -> None:
    """request, remote_address and the rest come from the websockets connection."""
    paths: list[str] = []

    async def handler(ws: HeartbeatConnection) -> None:
        paths.append(ws.request.path)
        assert ws.remote_address[0] == "127.0.0.1"
        assert ws.silence < 1.0
        assert ws.pending == 0
        await ws.send("ok")

    async def main() -> str | bytes:
        async with running(handler) as url, client(url + "room/7") as ws:
            return await ws.recv()

    assert run(main()) == "ok"
    assert paths == ["/room/7"]


def test_recv_streaming_yields_whole_messages_without_heartbeats() -> None:
    """recv_streaming() (websockets' API) also skips heartbeats; the message is one fragment."""
    fragments: list[list[str | bytes]] = []

    async def handler(ws: HeartbeatConnection) -> None:
        fragments.append([part async for part in ws.recv_streaming()])
        await ws.send("done")

    async def main() -> None:
        async with running(handler) as url, client(url) as ws:
            await ws.send("ping")
            await ws.send("data")
            assert [await ws.recv(), await ws.recv()] == ["pong", "done"]

    run(main())
    assert fragments == [["data"]]


def test_heartbeat_function_and_websockets_serve() -> None:
    """heartbeat(handler, **settings) plugs into websockets' own serve()."""
    from websockets.asyncio.server import serve as websockets_serve

    async def echo(ws: HeartbeatConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> list[str | bytes]:
        async with websockets_serve(heartbeat(echo, ping="hb", pong="ack"), "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with client(f"ws://127.0.0.1:{port}") as ws:
                await ws.send("hb")
                assert await ws.recv() == "ack"
                await ws.send("ping")  # not the configured heartbeat: echoed
                return [await ws.recv()]

    assert run(main()) == ["ping"]


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"ping": 1}, TypeError),
        ({"ping": ""}, ValueError),
        ({"pong": ["pong"]}, TypeError),
        ({"timeout": 0}, ValueError),
        ({"timeout": -1.0}, ValueError),
        ({"timeout": "5"}, TypeError),
        ({"probe_timeout": float("nan")}, ValueError),
        ({"close_code": 1006}, ValueError),
        ({"close_code": 5000}, ValueError),
        ({"close_code": "4000"}, TypeError),
        ({"close_reason": "x" * 124}, ValueError),
        ({"max_queue": 0}, ValueError),
    ],
)
def test_bad_settings_fail_fast(settings: dict[str, Any], error: type[Exception]) -> None:
    """a bad setting raises at construction, naming the setting."""
    with pytest.raises(error, match=next(iter(settings))):
        Heartbeat(**settings)


def test_defaults_match_the_client_defaults() -> None:
    """the defaults answer heartsock's default heart_msg with the pong_msg it documents."""
    hb = Heartbeat()
    assert (hb.ping, hb.pong, hb.close_code) == ("ping", "pong", 4000)
    assert hb.is_ping("ping") and not hb.is_ping(b"ping") and not hb.is_ping("pong")


def test_importing_heartsock_does_not_import_websockets() -> None:
    """`import heartsock` and `import heartsock.server` work without loading websockets."""
    code = "import sys, heartsock, heartsock.server; assert 'websockets' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_on_ping_sees_every_heartbeat_and_answering_false_silences_the_reply() -> None:
    """on_ping is called for each heartbeat before it is answered; answering=False stops the pongs"""
    rec = Recorder()
    seen: list[int] = []

    def on_ping(conn: HeartbeatConnection) -> None:
        seen.append(conn.heartbeats)
        conn.answering = conn.heartbeats < 2  # answer the first heartbeat only

    async def main() -> list[str | bytes]:
        async with running(rec, on_ping=on_ping) as url, client(url) as ws:
            for message in ["ping", "hello", "ping"]:
                await ws.send(message)
            return await drain(ws, 0.3)

    got = run(main())
    assert seen == [1, 2]
    assert sorted(got, key=str) == ["hello", "pong"]
    assert rec.seen == ["hello"]


def test_on_ping_that_raises_is_logged_and_the_heartbeat_still_answered(caplog: pytest.LogCaptureFixture) -> None:
    """a failing on_ping hook is logged by heartsock.server and does not break the connection"""
    rec = Recorder()

    def on_ping(conn: HeartbeatConnection) -> None:
        raise RuntimeError("hook bug")

    async def main() -> list[str | bytes]:
        async with running(rec, on_ping=on_ping) as url, client(url) as ws:
            await ws.send("ping")
            await ws.send("after")
            return await drain(ws, 0.3)

    with caplog.at_level("ERROR", logger="heartsock.server"):
        got = run(main())
    assert sorted(got, key=str) == ["after", "pong"]
    assert any("on_ping raised" in r.getMessage() for r in caplog.records)


def test_on_ping_must_be_callable() -> None:
    """Heartbeat(on_ping=...) rejects a non-callable, naming the setting"""
    from heartsock import ConfigTypeError

    with pytest.raises(ConfigTypeError, match="on_ping"):
        Heartbeat(on_ping=42)  # type: ignore[arg-type]


def test_a_session_echo_is_acknowledged_in_batches_not_one_ack_per_message() -> None:
    """request/response over a session: the server's acks stay batched (32 messages or 50 ms)"""
    from heartsock.server import Session
    from heartsock.wire import SUBPROTOCOL, data_frame, hello_frame, parse_frame

    async def echo(session: Session) -> None:
        async for message in session:
            await session.send(message)

    async def main() -> tuple[int, float]:
        acks = 0
        async with serve(echo, "127.0.0.1", 0, resume=True) as srv:
            url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/"
            async with connect(url, subprotocols=[SUBPROTOCOL], ping_interval=None) as ws:  # type: ignore[list-item]
                await ws.send(hello_frame("", 0))
                assert parse_frame(await ws.recv())[0] == "w"
                started = time.monotonic()
                for i in range(1, 101):
                    await ws.send(data_frame(i, f"q{i}"))
                    while True:  # until the reply: count the acks that come before it
                        kind, seq, rest = parse_frame(await asyncio.wait_for(ws.recv(), 5))
                        if kind == "a":
                            acks += 1
                            continue
                        assert (kind, seq, rest) == ("m", i, f"q{i}")
                        break
                return acks, time.monotonic() - started

    acks, elapsed = run(main())
    # At most one ack per 32 messages and one per 50 ms delay that ran out (plus one in flight).
    assert acks <= 100 // 32 + int(elapsed / 0.05) + 2, (acks, elapsed)


def test_closing_serve_ends_its_sessions_and_waits_for_their_handlers() -> None:
    """An in-memory session server that closes ends every session, the one whose client
    is connected and the one whose client is away, and ``async with serve()`` exits once
    their handlers returned (they used to run on until their ttl)."""
    from heartsock.server import Session
    from heartsock.wire import SUBPROTOCOL, hello_frame, parse_frame

    returned: list[str] = []

    async def handler(session: Session) -> None:
        try:
            async for message in session:
                await session.send(message)
        finally:
            await asyncio.sleep(0.2)  # a handler's clean-up takes a while: closing waits for it
            returned.append(session.short_id)

    async def open_session(url: str) -> ClientConnection:
        ws = await connect(url, subprotocols=[SUBPROTOCOL], ping_interval=None)  # type: ignore[list-item]
        await ws.send(hello_frame("", 0))
        assert parse_frame(await ws.recv())[0] == "w"
        return ws

    async def main() -> tuple[list[str], int | None]:
        async with serve(handler, "127.0.0.1", 0, resume=True, session_ttl=600) as srv:
            url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/"
            away = await open_session(url)
            await away.close()  # no goodbye: the session waits for it (600 s)
            here = await open_session(url)
            await asyncio.sleep(0.2)
            assert returned == []
        during_exit = list(returned)
        with contextlib.suppress(ConnectionClosed):
            await here.recv()
        return during_exit, here.close_code

    during_exit, code = run(main())
    assert len(during_exit) == 2
    assert code == 1001


@pytest.mark.parametrize("resume", [False, True], ids=["heartbeat", "sessions"])
def test_a_closed_connection_leaves_nothing_in_a_reference_cycle(resume: bool) -> None:
    """A closed connection's heartsock and websockets objects are freed at once, by
    reference counting, not at the next full garbage collection (which, with thousands of
    connections open, pauses the server). Two cycles did that: the exception that ended a
    connection kept its traceback, and so the connection's frames; and websockets keeps
    ``select_subprotocol`` (which sessions use) in a closure over the connection."""
    from heartsock.server import Session
    from heartsock.wire import SUBPROTOCOL, data_frame, hello_frame, parse_frame

    async def echo(conn: HeartbeatConnection | Session) -> None:
        async for message in conn:
            await conn.send(message)

    async def one(url: str) -> None:
        if not resume:
            async with connect(url, ping_interval=None) as ws:
                await ws.send("hi")
                await ws.recv()
            return
        async with connect(url, subprotocols=[SUBPROTOCOL], ping_interval=None) as ws:  # type: ignore[list-item]
            await ws.send(hello_frame("", 0))
            assert parse_frame(await ws.recv())[0] == "w"
            await ws.send(data_frame(1, "hi"))
            while parse_frame(await ws.recv())[0] != "m":
                pass

    async def main() -> list[str]:
        async with serve(echo, "127.0.0.1", 0, resume=resume, session_ttl=0.2) as srv:  # type: ignore[arg-type]
            url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/"
            with cyclic_garbage() as collect:
                for _ in range(10):
                    await one(url)
                await asyncio.sleep(0.6)  # the sessions expire (0.2 s) and their handlers end
                return collect()

    left = run(main())
    assert [name for name in left if name.startswith(("heartsock", "websockets.asyncio.server"))] == []


def test_closing_serve_ends_the_sessions_of_clients_that_were_away() -> None:
    """With no connection open when the server closes, the sessions still end then (their
    clients were away; they would have waited for their ttl)."""
    from heartsock.server import Session
    from heartsock.wire import SUBPROTOCOL, hello_frame, parse_frame

    returned: list[float] = []

    async def handler(session: Session) -> None:
        try:
            async for _ in session:
                pass
        finally:
            returned.append(time.monotonic())

    async def main() -> tuple[float, list[float]]:
        async with serve(handler, "127.0.0.1", 0, resume=True, session_ttl=600) as srv:
            url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/"
            async with connect(url, subprotocols=[SUBPROTOCOL], ping_interval=None) as ws:  # type: ignore[list-item]
                await ws.send(hello_frame("", 0))
                assert parse_frame(await ws.recv())[0] == "w"
            await asyncio.sleep(0.2)
            assert returned == []
        closed = time.monotonic()
        await asyncio.sleep(0.2)
        return closed, list(returned)

    closed, returned_at = run(main())
    assert len(returned_at) == 1 and returned_at[0] - closed < 0.2
