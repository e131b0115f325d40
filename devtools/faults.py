"""A real ``websockets`` server whose faults can be switched on, for tests, demo and bench.

Every fault is real and happens over loopback: ``drop_all()`` aborts the TCP
connections (the browser sees 1006), ``set_silent(True)`` keeps TCP open but stops
every reply (a half-open peer, as far as the client can tell), ``refuse_next(n)``
answers the next handshakes with HTTP 503, ``hang_next(n)`` never answers them,
``close_all(code)`` closes with a chosen code, ``stop()``/``start()`` take the listener
down and bring it back on the same port.

Routes (the first path segment): ``/echo`` (default) echoes, ``/sink`` only records,
``/silent`` never answers anything, ``/close/<code>`` closes at once with that code,
``/push/<count>/<size>`` sends ``count`` text messages of ``size`` characters then
``"done"``, ``/pushbin/<count>/<size>`` the same in binary. Every route records what
it receives; all but ``/silent`` answer the heartbeat (``"ping"`` → ``"pong"``) unless
the server is silent.

Heartbeats are answered by :mod:`heartsock.server` — the companion users deploy — so the
browser tier exercises it: routes see application messages only, and the fault server
records each heartbeat through its ``on_ping`` hook and silences it with ``answering``.

Every record is bounded, so a long run (the demo, a soak) holds a constant amount of
memory: a peer keeps its last :data:`MAX_RECEIVED` messages and :data:`MAX_PINGS`
heartbeat times, the server its last :data:`MAX_PEERS` peers (closed ones included, for
the tests that read them) and :data:`MAX_HANDSHAKES` handshake outcomes, each a ring
buffer (``collections.deque(maxlen=…)``); a peer leaves the live set when it closes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import ssl as ssl_module
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Union

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from heartsock.server import Heartbeat, HeartbeatConnection
from heartsock.wire import HEARTBEAT_PING, HEARTBEAT_PONG, Data

Route = Callable[["Peer"], Awaitable[None]]

#: How many messages (heartbeats included) a peer remembers, newest last.
MAX_RECEIVED = 1000
#: How many heartbeat times a peer remembers.
MAX_PINGS = 256
#: How many peers the server remembers, live and closed, newest last.
MAX_PEERS = 1000
#: How many handshake outcomes the server remembers.
MAX_HANDSHAKES = 1000
HttpHandler = Callable[[ServerConnection, Request], Union[Response, None, Awaitable[Union[Response, None]]]]


@dataclass
class Peer:
    """One accepted WebSocket connection and what it received (the newest
    :data:`MAX_RECEIVED` messages and :data:`MAX_PINGS` heartbeat times)."""

    id: int
    path: str
    opened_at: float
    connection: HeartbeatConnection = field(repr=False)
    server: FaultServer = field(repr=False)
    closed_at: float | None = None
    close_code: int | None = None
    answer_pings: bool = True
    _received: deque[Data] = field(default_factory=lambda: deque(maxlen=MAX_RECEIVED), repr=False)
    _pings: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_PINGS), repr=False)

    @property
    def received(self) -> list[Data]:
        """The newest :data:`MAX_RECEIVED` messages received, heartbeats included, oldest first (a copy)."""
        return list(self._received)

    @property
    def pings(self) -> list[float]:
        """The loop times of the newest :data:`MAX_PINGS` heartbeats, oldest first (a copy)."""
        return list(self._pings)

    @property
    def messages(self) -> list[Data]:
        """Everything received except heartbeats."""
        return [m for m in self._received if m != self.server.ping_msg]

    def heard_ping(self, now: float) -> None:
        """A heartbeat arrived (called before heartsock.server answers it, unless silenced)."""
        self._received.append(self.server.ping_msg)
        self._pings.append(now)
        self.connection.answering = self.answer_pings and not self.server.silent

    async def send(self, data: Data) -> None:
        """Send ``data`` unless the server is silent."""
        if not self.server.silent:
            await self.connection.send(data)

    def __aiter__(self) -> Any:
        return self._iterate()

    async def _iterate(self) -> Any:
        async for message in self.connection:  # application messages: heartbeats never show up
            self._received.append(message)
            yield message


async def _echo(peer: Peer) -> None:
    async for message in peer:
        await peer.send(message)


async def _sink(peer: Peer) -> None:
    async for _ in peer:
        pass


async def _silent(peer: Peer) -> None:
    peer.answer_pings = False
    async for _ in peer:
        pass


async def _close(peer: Peer) -> None:
    code = int(peer.path.strip("/").split("/")[1])
    await peer.connection.close(code, f"scripted close {code}")


async def _push(peer: Peer) -> None:
    _, count, size = peer.path.strip("/").split("/")[:3]
    binary = peer.path.startswith("/pushbin")
    payload: Data = b"x" * int(size) if binary else "x" * int(size)
    for _ in range(int(count)):
        await peer.send(payload)
    await peer.send("done")
    await _sink(peer)


ROUTES: dict[str, Route] = {
    "": _echo,
    "echo": _echo,
    "sink": _sink,
    "silent": _silent,
    "close": _close,
    "push": _push,
    "pushbin": _push,
}


class FaultServer:
    """The server; run its coroutines on one asyncio loop (see :class:`ThreadedFaultServer`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        routes: dict[str, Route] | None = None,
        http: HttpHandler | None = None,
        origins: list[str | None] | None = None,
        max_size: int = 2**20,
        ping_msg: Data = HEARTBEAT_PING,
        pong_msg: Data = HEARTBEAT_PONG,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.ssl = ssl
        self.routes = {**ROUTES, **(routes or {})}
        self.http = http
        self.origins = origins
        self.max_size = max_size
        self.ping_msg, self.pong_msg = ping_msg, pong_msg
        # heartsock.server answers heartbeats; this server never closes a silent peer itself.
        self.heartbeat = Heartbeat(ping=ping_msg, pong=pong_msg, timeout=None, on_ping=self._on_ping)
        self._peer_of: dict[int, Peer] = {}  # id(connection) -> its live peer; forgotten when it closes
        self._ids = itertools.count(1)
        self.silent = False
        #: The newest :data:`MAX_PEERS` peers, live and closed, oldest first.
        self.peers: deque[Peer] = deque(maxlen=MAX_PEERS)
        #: The newest :data:`MAX_HANDSHAKES` handshakes: (time, path, "accepted"|"refused"|"hung").
        self.handshakes: deque[tuple[float, str, str]] = deque(maxlen=MAX_HANDSHAKES)
        self._refuse: list[int] = []
        self._hang = 0
        self._hung: list[asyncio.Future[None]] = []
        self._server: Server | None = None

    # ---- listener ----
    async def start(self) -> None:
        """Start listening (on the same port as before, after a :meth:`stop`)."""
        self._server = await serve(
            self.heartbeat.wrap(self._handle),
            self.host,
            self.port,
            process_request=self._process_request,
            ping_interval=None,
            open_timeout=None,
            compression=None,
            max_size=self.max_size,
            origins=self.origins,  # type: ignore[arg-type]
            ssl=self.ssl,
        )
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and abort every connection (the browser sees 1006)."""
        for fut in self._hung:
            if not fut.done():
                fut.set_result(None)
        await self.drop_all()
        if self._server is not None:
            self._server.close(close_connections=False)
            await self._server.wait_closed()
            self._server = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    def url(self, path: str = "/echo") -> str:
        return f"ws://{self.host}:{self.port}{path}"

    # ---- faults ----
    def set_silent(self, silent: bool) -> None:
        """Stop (or resume) every reply, keeping the TCP connections open."""
        self.silent = silent

    def refuse_next(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` handshakes with HTTP ``status``."""
        self._refuse.extend([status] * count)

    def hang_next(self, count: int) -> None:
        """Never answer the next ``count`` handshakes (until :meth:`stop`)."""
        self._hang += count

    def live(self) -> list[Peer]:
        """The peers whose connection is still open (however many: none is forgotten while live)."""
        return list(self._peer_of.values())

    async def drop_all(self) -> int:
        """Abort every live TCP connection; return how many."""
        live = self.live()
        for peer in live:
            peer.connection.transport.abort()
        return len(live)

    async def close_all(self, code: int = 1000, reason: str = "") -> int:
        """Close every live connection with ``code``; return how many."""
        live = self.live()
        await asyncio.gather(*(p.connection.close(code, reason) for p in live), return_exceptions=True)
        return len(live)

    async def broadcast(self, data: Data, route: str | None = None) -> None:
        """Send ``data`` to every live peer (of ``route``, if given)."""
        for peer in self.live():
            if route is None or peer.path.strip("/").split("/")[0] == route:
                try:
                    await peer.send(data)
                except ConnectionClosed:
                    pass

    # ---- internals ----
    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        loop = asyncio.get_running_loop()
        if request.headers.get("Upgrade", "").lower() != "websocket":
            if self.http is None:
                return connection.respond(404, "Not Found\n")
            result = self.http(connection, request)
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                result = await result
            return result  # type: ignore[return-value]
        if self._refuse:
            status = self._refuse.pop(0)
            self.handshakes.append((loop.time(), request.path, "refused"))
            return connection.respond(status, "refused by fault injection\n")
        if self._hang:
            self._hang -= 1
            self.handshakes.append((loop.time(), request.path, "hung"))
            fut: asyncio.Future[None] = loop.create_future()
            self._hung.append(fut)
            await fut
            return connection.respond(503, "released\n")
        route = request.path.strip("/").split("/")[0].split("?")[0]
        if route not in self.routes:
            self.handshakes.append((loop.time(), request.path, "refused"))
            return connection.respond(404, f"no route {route!r}\n")
        self.handshakes.append((loop.time(), request.path, "accepted"))
        return None

    def _on_ping(self, connection: HeartbeatConnection) -> None:
        peer = self._peer_of.get(id(connection))
        if peer is not None:
            peer.heard_ping(asyncio.get_running_loop().time())

    async def _handle(self, connection: HeartbeatConnection) -> None:
        loop = asyncio.get_running_loop()
        request = connection.request
        path = request.path if request else "/"
        peer = Peer(next(self._ids), path, loop.time(), connection, self)
        self.peers.append(peer)
        self._peer_of[id(connection)] = peer
        route = self.routes[path.strip("/").split("/")[0].split("?")[0]]
        try:
            await route(peer)
        except ConnectionClosed:
            pass
        finally:
            await connection.wait_closed()
            peer.closed_at = loop.time()
            peer.close_code = connection.close_code
            del self._peer_of[id(connection)]


class ThreadedFaultServer:
    """A :class:`FaultServer` on its own loop in a daemon thread; methods are thread-safe."""

    def __init__(self, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="faults", daemon=True)
        self._thread.start()
        self.server = FaultServer(**kwargs)
        self.call(self.server.start)

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 10) -> Any:
        """Run ``fn(*args)`` on the server's loop (awaiting it if it is a coroutine)."""

        async def run() -> Any:
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        future: concurrent.futures.Future[Any] = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return future.result(timeout)

    def url(self, path: str = "/echo") -> str:
        return self.server.url(path)

    def peers(self, path_prefix: str = "") -> list[Peer]:
        """A snapshot of the peers whose path starts with ``path_prefix``."""
        return self.call(lambda: [p for p in self.server.peers if p.path.startswith(path_prefix)])

    def closed_peers(self, path_prefix: str = "", timeout: float = 5.0) -> list[Peer]:
        """The peers of :meth:`peers`, once the server has seen each of them close.

        A client's close reaches the server a moment after the client's call returns;
        this waits (up to ``timeout`` seconds) for that, instead of reading too early.

        Raises:
            TimeoutError: some peer was still open after ``timeout`` seconds.
        """

        async def closed() -> list[Peer]:
            peers = [p for p in self.server.peers if p.path.startswith(path_prefix)]
            while any(p.closed_at is None for p in peers):  # set by each peer's handler on close
                await asyncio.sleep(0.005)
            return peers

        return self.call(closed, timeout=timeout)

    def reset(self) -> None:
        """Forget every peer and fault, and make sure the server is listening."""

        async def reset() -> None:
            await self.server.drop_all()
            self.server.silent = False
            self.server._refuse.clear()
            self.server._hang = 0
            for fut in self.server._hung:
                if not fut.done():
                    fut.set_result(None)
            self.server._hung.clear()
            self.server.peers.clear()
            self.server.handshakes.clear()
            if not self.server.listening:
                await self.server.start()

        self.call(reset)

    def close(self) -> None:
        self.call(self.server.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
