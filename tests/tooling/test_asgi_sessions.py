"""heartsock sessions under ASGI: ``asgi(handler, resume=True)`` in FastAPI/Starlette apps served by uvicorn.

The CPython heartsock client (``Socket(url, resume=True)``) talks to uvicorn through a
real TCP forwarder on loopback that the tests abort (uvicorn offers no way to abort a
connection from the app), so every drop is a real one: both ends see their TCP
connection end mid-stream. Wire-level cases (replay, takeover, Origin binding) use a
plain ``websockets`` client that speaks the frames of PROTOCOL.md by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest
from fastapi import FastAPI, WebSocket
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from websockets.asyncio.client import connect

import heartsock
from devtools.static import ROOT
from heartsock import SessionReset, State
from heartsock.errors import ConfigError
from heartsock.server import Heartbeat, Session, asgi
from heartsock.wire import SUBPROTOCOL, ack_frame, hello_frame, parse_frame

from .test_asgi import uvicorn_serving

R = TypeVar("R")


def run(main: Callable[[], Awaitable[R]]) -> R:
    return asyncio.run(asyncio.wait_for(main(), 40))


async def until(predicate: Callable[[], Any], seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.005)


class TcpProxy:
    """A TCP forwarder on a free loopback port to ``127.0.0.1:upstream``; its connections can be aborted.

    ``abort_all()`` aborts both halves of every live connection (the client and the ASGI
    server each see their connection end without a close frame); while ``refusing`` is
    set, new connections are aborted as soon as they are accepted.
    """

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.refusing = False
        self.aborts = 0
        self.accepted = 0
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for pair in list(self._pairs):
            for writer in pair:
                writer.transport.abort()
        await self._server.wait_closed()

    def abort_all(self) -> int:
        """Abort every live connection; return how many there were."""
        pairs, self._pairs = list(self._pairs), set()
        for pair in pairs:
            for writer in pair:
                writer.transport.abort()
        self.aborts += len(pairs)
        return len(pairs)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        self.accepted += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        pair = (writer, up_writer)
        self._pairs.add(pair)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._pairs.discard(pair)
            for w in pair:
                w.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()


@contextlib.asynccontextmanager
async def behind_proxy(app: Any) -> AsyncIterator[tuple[str, TcpProxy]]:
    """Serve ``app`` with uvicorn and a :class:`TcpProxy` in front; yield the proxy's ws:// base URL and it."""
    async with uvicorn_serving(app) as base:
        async with TcpProxy(int(base.rsplit(":", 1)[1])) as proxy:
            yield f"ws://127.0.0.1:{proxy.port}", proxy


class Recorder:
    """A session handler that records what the client sent and sends ``count`` numbered messages."""

    def __init__(self, count: int = 0, pace: float = 0.0) -> None:
        self.count, self.pace = count, pace
        self.sessions: list[Session] = []
        self.received: list[str] = []

    async def __call__(self, session: Session) -> None:
        self.sessions.append(session)

        async def produce() -> None:
            for i in range(self.count):
                await session.send(f"s{i}")
                await asyncio.sleep(self.pace)

        producer = asyncio.ensure_future(produce())
        try:
            async for message in session:
                self.received.append(str(message))
        finally:
            producer.cancel()


def fastapi_app(endpoint: Callable[[Any], Awaitable[None]]) -> FastAPI:
    app = FastAPI()

    @app.websocket("/ws/session")
    async def route(websocket: WebSocket) -> None:
        await endpoint(websocket)

    return app


def test_every_message_arrives_once_in_order_through_tcp_aborts_under_fastapi() -> None:
    """FastAPI + uvicorn, TCP aborted every 50 ms: 300 messages each way arrive exactly once, in order, one session"""
    count = 300
    recorder = Recorder(count, pace=0.001)
    app = fastapi_app(asgi(recorder, Heartbeat(timeout=5), resume=True))

    async def main() -> tuple[list[Any], list[SessionReset], int, int, int]:
        async with behind_proxy(app) as (base, proxy):
            got: list[Any] = []
            resets: list[SessionReset] = []
            sock = heartsock.Socket(
                f"{base}/ws/session",
                resume=True,
                reconnect_count=-1,
                backoff="fixed",
                reconnect_time=0.01,
                min_uptime=0,
                message_cb=got.append,
                reset_cb=resets.append,
            )

            async def chaos() -> None:
                while True:
                    await asyncio.sleep(0.05)
                    proxy.abort_all()

            chaos_task = asyncio.ensure_future(chaos())
            for i in range(count):
                sock.send(f"c{i}")
                await asyncio.sleep(0.001)
            await until(lambda: len(got) >= count and len(recorder.received) >= count, 30)
            chaos_task.cancel()
            await asyncio.wait_for(sock.drain(), 10)  # every message acknowledged by the server
            queued, connections = sock.stats().queued, sock.stats().connections
            sock.destroy()  # says goodbye: the session ends at once, not at its ttl
            await until(lambda: recorder.sessions[0].ended, 5)
            return got, resets, queued, connections, proxy.aborts

    got, resets, queued, connections, aborts = run(main)
    assert got == [f"s{i}" for i in range(count)]
    assert recorder.received == [f"c{i}" for i in range(count)]
    assert resets == [] and queued == 0
    assert aborts >= 5 and connections >= 5, (aborts, connections)
    assert len(recorder.sessions) == 1  # one session, one handler run, across every connection


def test_a_session_that_expired_is_reset_and_a_new_one_begins_under_starlette() -> None:
    """away longer than session_ttl: the reset event (the unacknowledged message resent), then a new session"""
    recorder = Recorder()
    app = Starlette(routes=[WebSocketRoute("/ws", asgi(recorder, resume=True, session_ttl=0.3))])

    async def main() -> tuple[list[SessionReset], State]:
        async with behind_proxy(app) as (base, proxy):
            resets: list[SessionReset] = []
            sock = heartsock.Socket(
                f"{base}/ws",
                resume=True,
                reconnect_count=-1,
                backoff="fixed",
                reconnect_time=0.05,
                reset_cb=resets.append,
            )
            await sock.wait_open(5)
            sock.send("before")
            await asyncio.wait_for(sock.drain(), 5)
            proxy.refusing = True
            proxy.abort_all()
            await until(lambda: sock.state is not State.OPEN)
            sock.send("while away")
            await until(lambda: recorder.sessions[0].ended, 5)  # expired while the client could not connect
            proxy.refusing = False
            await until(lambda: resets and sock.state is State.OPEN)
            sock.send("after")
            await asyncio.wait_for(sock.drain(), 5)
            state = sock.state
            sock.destroy()
            return resets, state

    resets, state = run(main)
    assert [(r.resent, r.missing, r.old_session != r.new_session) for r in resets] == [(1, None, True)]
    assert state is State.OPEN
    assert recorder.received == ["before", "while away", "after"]
    assert len(recorder.sessions) == 2 and recorder.sessions[0].ended


def test_a_plain_client_meeting_a_session_endpoint_is_told_why() -> None:
    """Socket() without resume against asgi(resume=True): closed with 4400, final, saying Socket(url, resume=True)"""
    recorder = Recorder()
    app = fastapi_app(asgi(recorder, resume=True))

    async def main() -> tuple[list[tuple[int | None, str]], str | None]:
        async with uvicorn_serving(app) as base:
            closes: list[tuple[int | None, str]] = []
            sock = heartsock.Socket(
                f"{base}/ws/session", reconnect_time=0.01, close_cb=lambda e: closes.append((e.code, e.reason))
            )
            await until(lambda: sock.state is State.CLOSED, 5)
            return closes, sock.closed_reason

    closes, reason = run(main)
    assert closes and closes[0][0] == 4400 and "Socket(url, resume=True)" in closes[0][1]
    assert reason == "close code 4400 is final"
    assert recorder.sessions == []


def test_a_session_client_meeting_a_plain_endpoint_is_told_why() -> None:
    """Socket(resume=True) against a plain asgi(): the subprotocol was not accepted; the socket gives up saying so"""

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    app = fastapi_app(asgi(echo))

    async def main() -> str | None:
        async with uvicorn_serving(app) as base:
            sock = heartsock.Socket(f"{base}/ws/session", resume=True, reconnect_time=0.01)
            await until(lambda: sock.state is State.CLOSED, 5)
            return sock.closed_reason

    reason = run(main)
    assert reason is not None and "does not speak heartsock sessions" in reason and SUBPROTOCOL in reason


async def _hello(url: str, session: str, ack: int, origin: str) -> tuple[Any, str, list[str]]:
    """Open a raw session connection and say hello; return it, the session id and the welcome's fields."""
    ws = await connect(url, subprotocols=[SUBPROTOCOL], origin=origin, ping_interval=None)  # type: ignore[list-item,arg-type]
    assert ws.subprotocol == SUBPROTOCOL
    await ws.send(hello_frame(session, ack))
    kind, their_ack, rest = parse_frame(await asyncio.wait_for(ws.recv(), 5))
    assert kind == "w"
    resumed, missing, session_id = str(rest).split("|")
    return ws, session_id, [str(their_ack), resumed, missing]


def test_replay_acks_takeover_and_origin_binding_on_the_wire() -> None:
    """unacked messages are replayed on resume; a newer connection takes over (4402); no resume from another Origin"""
    recorder = Recorder(count=3)
    app = Starlette(routes=[WebSocketRoute("/ws", asgi(recorder, resume=True))])
    origin = "http://127.0.0.1:1"

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with uvicorn_serving(app) as base:
            url = f"{base}/ws"
            first, sid, welcome = await _hello(url, "", 0, origin)
            out["first_welcome"] = welcome
            out["first_frames"] = [await asyncio.wait_for(first.recv(), 5) for _ in range(3)]
            await first.send("m1|hello")
            out["server_ack"] = await asyncio.wait_for(first.recv(), 5)  # batched ack of message 1
            await first.send(ack_frame(1))  # the client has s0 only: s1 and s2 must come again
            await asyncio.sleep(0.1)
            out["unacknowledged"] = recorder.sessions[0].unacknowledged
            second, sid2, welcome2 = await _hello(url, sid, 1, origin)
            out["same_session"] = sid2 == sid
            out["second_welcome"] = welcome2
            out["replayed"] = [await asyncio.wait_for(second.recv(), 5) for _ in range(2)]
            await asyncio.wait_for(first.wait_closed(), 5)
            out["taken_over"] = first.close_code
            await second.send("m2|again")  # the session goes on where it was: message 2
            await until(lambda: len(recorder.received) == 2)
            stranger, sid3, welcome3 = await _hello(url, sid, 3, "http://127.0.0.1:2")
            out["stranger"] = (sid3 != sid, welcome3[1])
            for ws in (second, stranger):
                await ws.close()
        return out

    out = run(main)
    assert out["first_welcome"] == ["0", "0", "-1"]
    assert out["first_frames"] == ["m1|s0", "m2|s1", "m3|s2"]
    assert out["server_ack"] == "a1"
    assert out["unacknowledged"] == 2
    assert out["same_session"] and out["second_welcome"] == ["1", "1", "-1"]
    assert out["replayed"] == ["m2|s1", "m3|s2"]
    assert out["taken_over"] == 4402
    assert recorder.received == ["hello", "again"]
    assert out["stranger"] == (True, "0")  # not resumed: a new session for the other Origin
    assert len(recorder.sessions) == 2


def test_asgi_session_settings_are_checked_like_serve() -> None:
    """asgi(resume=True) checks session_ttl, replay_limit and store as serve() does, and refuses its own subprotocol"""

    async def handler(session: Session) -> None:
        pass

    with pytest.raises(ConfigError, match="session_ttl"):
        asgi(handler, resume=True, session_ttl=0)
    with pytest.raises(ConfigError, match="replay_limit"):
        asgi(handler, resume=True, replay_limit=0)
    with pytest.raises(ConfigError, match="subprotocol"):
        asgi(handler, resume=True, subprotocol="chat")


def load_sessions_example() -> Any:
    """The app of examples/fastapi/sessions.py (the README quotes it)."""
    path = ROOT / "examples" / "fastapi" / "sessions.py"
    spec = importlib.util.spec_from_file_location("fastapi_sessions_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def test_the_fastapi_sessions_example_runs_under_uvicorn() -> None:
    """the README's FastAPI sessions example: the handler runs once across a dropped connection; nothing lost"""

    async def main() -> tuple[list[Any], int]:
        async with behind_proxy(load_sessions_example()) as (base, proxy):
            got: list[Any] = []
            sock = heartsock.Socket(
                f"{base}/ws/notes", resume=True, backoff="fixed", reconnect_time=0.02, message_cb=got.append
            )
            await sock.wait_open(5)
            sock.send("one")
            await until(lambda: len(got) == 1)
            proxy.abort_all()
            sock.send("two")
            await until(lambda: len(got) == 2)
            await asyncio.wait_for(sock.drain(), 5)
            connections = sock.stats().connections
            sock.destroy()
            return got, connections

    got, connections = run(main)
    assert got == ["note 1: one", "note 2: two"]
    assert connections == 2


def test_the_readme_quotes_the_sessions_example_verbatim() -> None:
    """README.md shows examples/fastapi/sessions.py exactly as the test above runs it"""
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```$", (ROOT / "README.md").read_text(), re.S | re.M)
    assert (ROOT / "examples" / "fastapi" / "sessions.py").read_text() in blocks
