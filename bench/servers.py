"""The bench's servers: one WebSocket server on ``websockets`` + ``heartsock.server``, and HTTP.

:class:`BenchServer` is ``websockets``' own asyncio server, every connection behind
:class:`heartsock.server.HeartbeatConnection` (heartbeats answered by the code users deploy).
Routes: ``/push/<count>/<size>`` and ``/pushbin/…`` send a burst on ``"go"``, then ``"done"``
(framed once by ``websockets``' ``Frame.serialize`` and written as fast as the client reads:
one ``send()`` per message is slower than the browser receives); ``/count/<n>`` answers ``"got:<json>"`` once it
holds ``n`` messages, checking their order; ``/echo`` echoes. Faults for the pages: silent
(TCP open, no reply at all), drop (TCP abort), stop/start (same port).

Two more servers on the same loop are ``heartsock.server.serve()`` itself, one plain and one
with ``resume=True`` (sessions), both with :func:`_session_bench` as the handler and
:class:`_Counting` connections, which count every frame's WebSocket bytes both ways (acks apart).

:class:`BenchHttp` serves the pages cross-origin isolated (``performance.now()`` to 5 µs)
and answers ``/ctl/<name>`` by calling a registered host function.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response

from devtools.static import Mounts, MountsHandler
from heartsock.server import Heartbeat, HeartbeatConnection, Session
from heartsock.server import serve as heartsock_serve
from heartsock.wire import Data

# No silence watchdog: a benchmark connection may stay quiet for longer than any sane timeout.
HEARTBEAT = Heartbeat(timeout=None)
CHUNK = 32 * 1024  # a burst goes to the transport in chunks, only while its buffer is empty


def seq(i: int) -> str:
    """The payload of message ``i`` in ordered-send benchmarks (16 ASCII digits)."""
    return f"{i:016d}"


class _Faulty:
    """A ``heartsock.server.Connection`` over a ``websockets`` connection that can go silent."""

    def __init__(self, ws: ServerConnection, server: BenchServer) -> None:
        self.ws = ws
        self.server = server
        self.transport = ws.transport

    async def recv(self) -> Data:
        return await self.ws.recv()

    async def send(self, message: Data) -> None:
        if not self.server.silent:
            await self.ws.send(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.ws.close(code, reason)

    async def ping(self) -> Awaitable[float]:
        return await self.ws.ping()


Route = Callable[[HeartbeatConnection, list[str]], Awaitable[None]]


def _transport(conn: HeartbeatConnection) -> asyncio.Transport:
    assert isinstance(conn.connection, _Faulty)
    return conn.connection.transport


async def _push(conn: HeartbeatConnection, args: list[str], opcode: Opcode = Opcode.TEXT) -> None:
    count, size = int(args[0]), int(args[1])
    burst = memoryview(Frame(opcode, b"x" * size).serialize(mask=False) * count)
    while await conn.recv() != "go":
        pass
    transport = _transport(conn)
    for start in range(0, len(burst), CHUNK):
        while transport.get_write_buffer_size():  # the kernel's buffer is full: let the client read
            await asyncio.sleep(0.001)
        transport.write(burst[start : start + CHUNK])
    await conn.send("done")
    async for _ in conn:
        pass


async def _pushbin(conn: HeartbeatConnection, args: list[str]) -> None:
    await _push(conn, args, Opcode.BINARY)


async def _count(conn: HeartbeatConnection, args: list[str]) -> None:
    n, i, broken_at = int(args[0]), 0, None
    async for message in conn:
        if broken_at is None and message != seq(i):
            broken_at = i
        i += 1
        if i == n:
            await conn.send("got:" + json.dumps({"count": i, "in_order": broken_at is None}))


async def _echo(conn: HeartbeatConnection, args: list[str]) -> None:
    async for message in conn:
        await conn.send(message)


ROUTES: dict[str, Route] = {"push": _push, "pushbin": _pushbin, "count": _count, "echo": _echo}


async def _session_bench(conn: HeartbeatConnection | Session) -> None:
    """The sessions benchmark's handler, with or without ``resume=True``: ``"push:<n>:<size>"``
    sends ``n`` messages (one ``send()`` each), then ``"done"``; ``"count:<n>"`` answers
    ``"got:<json>"`` once the next ``n`` messages arrived, checking their order; else echo."""
    expect = i = 0
    in_order = True
    async for message in conn:
        assert isinstance(message, str)
        if expect:
            in_order = in_order and message == seq(i)
            i += 1
            if i == expect:
                await conn.send("got:" + json.dumps({"count": i, "in_order": in_order}))
                expect = 0
        elif message.startswith("push:"):
            n, size = map(int, message[5:].split(":"))
            payload = "x" * size
            for _ in range(n):
                await conn.send(payload)
            await conn.send("done")
        elif message.startswith("count:"):
            expect, i, in_order = int(message[6:]), 0, True
        else:
            await conn.send(message)


def _frame_bytes(frame: Frame, masked: bool) -> int:
    """The frame's size on the wire (RFC 6455 header, mask, payload)."""
    n = len(frame.data)
    return 2 + (4 if masked else 0) + n + (2 if 126 <= n < 65536 else 8 if n >= 65536 else 0)


class _Counting(ServerConnection):
    """A ``websockets`` server connection that adds every frame's bytes to ``wire``:
    ``in``/``out``, and ``ack_in``/``ack_out`` for session acks (text frames ``a<seq>``)."""

    wire: Counter[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        recv, send = self.protocol.recv_frame, self.protocol.send_frame

        def recv_frame(frame: Frame) -> None:
            self._count("in", frame, masked=True)  # a client masks every frame
            recv(frame)

        def send_frame(frame: Frame) -> None:
            self._count("out", frame, masked=False)
            send(frame)

        self.protocol.recv_frame = recv_frame  # type: ignore[method-assign]
        self.protocol.send_frame = send_frame  # type: ignore[method-assign]

    def _count(self, way: str, frame: Frame, masked: bool) -> None:
        size = _frame_bytes(frame, masked)
        self.wire[way] += size
        if frame.opcode is Opcode.TEXT and frame.data[:1] == b"a":
            self.wire["ack_" + way] += size


class BenchServer:
    """The WebSocket server, on its own asyncio loop in a daemon thread; methods are thread-safe."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, 0
        self.silent = False
        self.conns: set[HeartbeatConnection] = set()
        self._heartbeats_done = 0
        self._server: Server | None = None
        self.wire: Counter[str] = Counter()  # the session servers' frame bytes
        self.sessions: dict[str, str] = {}  # "plain"/"resume" → URL
        self._session_servers: list[Server] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="benchws", daemon=True)
        self._thread.start()
        self.call(self.start)
        self.call(self._start_sessions)

    async def _start_sessions(self) -> None:
        counting = type("Counting", (_Counting,), {"wire": self.wire})
        for name, resume in (("plain", False), ("resume", True)):
            server = await heartsock_serve(
                _session_bench,
                self.host,
                0,
                heartbeat=HEARTBEAT,
                resume=resume,
                replay_limit=1 << 22,  # a push of n messages outruns the acks: keep them all
                create_connection=counting,
                compression=None,
                max_size=None,
            )
            self._session_servers.append(server)
            self.sessions[name] = f"ws://{self.host}:{next(iter(server.sockets)).getsockname()[1]}/"

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` on the server's loop (awaiting it if it returns a coroutine); return its value."""

        async def run() -> Any:
            result = fn()
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)

    def url(self, path: str) -> str:
        return f"ws://{self.host}:{self.port}{path}"

    async def start(self) -> None:
        """Listen (on the same port as before, after :meth:`stop`)."""
        if self._server is None:
            self._server = await serve(
                self._handle,
                self.host,
                self.port,
                process_request=self._route_known,
                compression=None,
                max_size=None,
                ping_interval=None,
            )
            self.port = next(iter(self._server.sockets)).getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and abort every connection."""
        self.drop_all()
        if self._server is not None:
            self._server.close(close_connections=False)
            await self._server.wait_closed()
            self._server = None

    async def _stop_sessions(self) -> None:
        for server in self._session_servers:
            server.close()
            await server.wait_closed()

    def wire_bytes(self) -> dict[str, int]:
        """The session servers' frame bytes so far (see :class:`_Counting`)."""
        return dict(self.wire)

    def set_silent(self, silent: bool) -> None:
        self.silent = silent

    def drop_all(self) -> None:
        for conn in list(self.conns):
            _transport(conn).abort()

    def heartbeats(self) -> int:
        """Heartbeats answered since the start (by ``heartsock.server``)."""
        return self._heartbeats_done + sum(c.heartbeats for c in self.conns)

    def cpu(self) -> float:
        """CPU seconds the server's thread has used."""
        return float(self.call(time.thread_time))

    def reset(self) -> None:
        self.silent = False
        self.call(self.start)

    def close(self) -> None:
        self.call(self.stop)
        self.call(self._stop_sessions)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def _route_known(self, ws: ServerConnection, request: Request) -> Response | None:
        if request.path.strip("/").split("/")[0] not in ROUTES:
            return ws.respond(404, "no such route\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        route, *args = (ws.request.path if ws.request else "/echo").strip("/").split("/")
        conn = HeartbeatConnection(_Faulty(ws, self), HEARTBEAT)
        self.conns.add(conn)
        try:
            async with conn:
                await ROUTES[route](conn, args)
        except ConnectionClosed:
            pass
        finally:
            self.conns.discard(conn)
            self._heartbeats_done += conn.heartbeats


# ---- HTTP: pages + control ---------------------------------------------------------------
Control = Callable[[dict[str, Any]], Any]


class _Handler(MountsHandler):
    controls: dict[str, Control]

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if unquote(urlsplit(self.path).path).startswith("/ctl/"):
            self._control(None)
        else:
            super().do_GET()

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        self._control(json.loads(self.rfile.read(length) or b"null"))

    def extra_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")

    def _control(self, body: Any) -> None:
        url = urlsplit(self.path)
        fn = self.controls.get(unquote(url.path).removeprefix("/ctl/"))
        if fn is None:
            self.send_error(404)
            return
        query: dict[str, Any] = {**dict(parse_qsl(url.query)), "body": body}
        try:
            answer = {"ok": True, "result": fn(query)}
        except Exception as exc:  # reported to the page, which raises
            answer = {"ok": False, "error": repr(exc)}
        self.reply(json.dumps(answer).encode(), "application/json")


class BenchHttp:
    """Threaded HTTP on 127.0.0.1: the standard mounts, cross-origin isolated, plus ``/ctl/``."""

    def __init__(self, mounts: Mounts) -> None:
        self.controls: dict[str, Control] = {}
        handler = type("Handler", (_Handler,), {"mounts": mounts, "controls": self.controls})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="benchhttp", daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def control(self, name: str, fn: Control) -> None:
        """Answer ``/ctl/<name>?k=v`` (GET, or POST with a JSON body) with ``fn({"k": "v", "body": …})``."""
        self.controls[name] = fn

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
