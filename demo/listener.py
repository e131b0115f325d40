"""uvicorn, set up for the demo: the listener, its limits, and what the app may reach below ASGI.

uvicorn runs the Starlette app (:mod:`demo.app`) with two small protocol subclasses:

- :class:`HttpProtocol` (uvicorn's h11 protocol) refuses connections beyond
  ``max_connections`` (a one-line 503, then close); reads new connections at most
  ``accept_rate`` per second (:class:`Pacer`: a storm of handshakes is spread out instead
  of stalling the connections already open); and gives every request
  ``header_timeout`` seconds to send its request line and headers: a client that
  sends half a request and stalls (slowloris) is disconnected, so are idle keep-alive
  connections and request bodies that trickle in after the response. Request lines and
  headers are capped at :data:`MAX_HEAD` bytes (h11 answers 400 beyond). It puts itself
  in each request's scope, so that a response can wait for the client to read
  (:func:`flow_of`) before it takes one of the file server's chunk slots.
- :class:`WebSocketProtocol` (uvicorn's ``websockets`` sans-I/O protocol) puts itself in
  the scope (:func:`protocol_of`), so the app can abort a connection's TCP (the
  browser sees 1006: the "drop" fault) and see its flow control, and aborts a
  connection that does not answer the keepalive Ping instead of waiting on a close
  that a dead peer never completes.

:class:`Listener` starts, stops and restarts the listening socket on the same port,
without uvicorn's own signal handling (``python -m demo`` has its own).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

__all__ = [
    "MAX_HEAD",
    "HttpProtocol",
    "Limits",
    "Listener",
    "Pacer",
    "Tally",
    "WebSocketProtocol",
    "flow_of",
    "protocol_of",
]

log = logging.getLogger("demo")

#: The largest request line plus headers, in bytes (h11 answers 400 beyond).
MAX_HEAD = 16 * 1024
_SCOPE_KEY = "demo.protocol"
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"


@dataclass(frozen=True)
class Limits:
    """What one client may hold of the server.

    Attributes:
        max_connections: open TCP connections (HTTP and WebSocket); more are answered
            503 and closed at once.
        header_timeout: seconds a connection has to send a whole request line and
            headers (from connect, and again after each response).
        ping_interval: seconds between keepalive Pings on every WebSocket.
        ping_timeout: seconds a WebSocket has to answer a Ping before it is aborted.
        max_size: the largest WebSocket message accepted, in bytes (larger: close 1009).
        accept_rate: new connections read per second, at most (the rest wait, unread,
            in the order they came; their ``header_timeout`` runs from connect).
        accept_burst: new connections read without waiting for ``accept_rate`` (still one
            per turn of the event loop).
    """

    max_connections: int = 4096
    header_timeout: float = 10.0
    ping_interval: float | None = 30.0
    ping_timeout: float = 5.0
    max_size: int = 64 * 1024
    accept_rate: float = 300.0
    accept_burst: int = 8


class _Resumable(Protocol):
    def resume(self) -> bool: ...


class Pacer:
    """A token bucket for new connections and closing handshakes: ``burst`` at once, then
    ``rate`` per second, and never more than ``per_turn`` in one turn of the event loop
    (one by default: a new request's first step alone takes 3–10 ms on a busy machine).

    A connection without a turn waits (its transport not read: its request stays in the
    kernel's buffer) and :meth:`admit` queues it; the queue is resumed, oldest first, as
    tokens come. The cap per turn keeps each turn short whatever the rate: when turns get
    long (a busy machine) tokens pile up, and without it they would all be spent in the
    next turn. Measured by the soak: without pacing, one turn handled ~50 handshakes of a
    2,000-connection storm, ~100 ms during which no open connection was served.
    """

    def __init__(self, rate: float, burst: int, per_turn: int = 1) -> None:
        self.rate = rate
        self.burst = burst
        self.per_turn = per_turn
        self._tokens = float(burst)
        self._at = time.monotonic()
        self._waiting: deque[_Resumable] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._this_turn = 0

    def admit(self, connection: _Resumable) -> bool:
        """Take a turn for ``connection`` (``True``: go on now), or queue it (``False``: its
        ``resume()`` is called when its turn comes, and returns whether it took the turn:
        a connection that closed meanwhile does not spend a token)."""
        self._refill()
        if not self._waiting and self._tokens >= 1 and self._this_turn < self.per_turn:
            self._spend()
            return True
        self._waiting.append(connection)
        self._arm()
        return False

    @property
    def waiting(self) -> int:
        """Connections waiting for their turn."""
        return len(self._waiting)

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now

    def _spend(self) -> None:
        self._tokens -= 1
        if self._this_turn == 0:
            asyncio.get_running_loop().call_soon(self._next_turn)  # runs at the start of the next turn
        self._this_turn += 1

    def _next_turn(self) -> None:
        self._this_turn = 0

    def _arm(self) -> None:
        if self._timer is None:
            delay = max(0.0, (1 - self._tokens) / self.rate)
            self._timer = asyncio.get_running_loop().call_later(delay, self._release)

    def _release(self) -> None:
        self._timer = None
        self._refill()
        while self._waiting and self._tokens >= 1 and self._this_turn < self.per_turn:
            if self._waiting.popleft().resume():
                self._spend()
        if self._waiting:
            self._arm()


class Tally:
    """Counts shared by a listener's protocols."""

    def __init__(self) -> None:
        #: Connections that ended (HTTP and WebSocket, refused ones too).
        self.closed = 0


class _Quiet:
    """At most one log line per ``period`` seconds for a repeated event, with a count of the rest."""

    def __init__(self, period: float = 10.0) -> None:
        self.period = period
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def warning(self, key: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -self.period) < self.period:
            self._skipped[key] = self._skipped.get(key, 0) + 1
            return
        skipped = self._skipped.pop(key, 0)
        self._last[key] = now
        log.warning("%s%s", message, f" ({skipped} more since the last such line)" if skipped else "")


_quiet = _Quiet()


class HttpProtocol(H11Protocol):
    """uvicorn's h11 protocol with a connection limit, a deadline for request heads, and
    new connections read in turn (:class:`Pacer`)."""

    limits: Limits = Limits()
    pacer: Pacer = Pacer(Limits.accept_rate, Limits.accept_burst)
    tally: Tally = Tally()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.server_state.connections) >= self.limits.max_connections:
            self._refused = True
            self.transport = transport
            body = b"too many connections\n"
            transport.write(_BUSY + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
            transport.close()
            _quiet.warning("busy", f"503: {self.limits.max_connections} connections open already; refused one more")
            return
        super().connection_made(transport)
        self._arm()
        if not self.pacer.admit(self):
            transport.pause_reading()

    def resume(self) -> bool:
        """The :class:`Pacer` gave this connection its turn: read it (unless it closed)."""
        if self.transport.is_closing():
            return False
        self.transport.resume_reading()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.tally.closed += 1
        if not self._refused:
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def handle_events(self) -> None:
        scope = self.scope
        super().handle_events()
        if self.scope is not scope:  # a whole request head arrived (or the upgrade took over)
            self._disarm()
            if self.scope is not None:
                self.scope[_SCOPE_KEY] = weakref.ref(self)  # type: ignore[literal-required]

    def on_response_complete(self) -> None:
        self._arm()  # before: a pipelined request, handled within, disarms it again
        super().on_response_complete()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.limits.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log.debug("no complete request head within %gs; closing", self.limits.header_timeout)
            self.transport.abort()


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, reachable from the app (:func:`protocol_of`).

    A closing handshake the client starts takes a turn from the :class:`Pacer`, like a
    new connection: the close frame is answered, and the app told, when its turn comes.
    (2,000 clients leaving at once would otherwise be ~50 ms of work per event-loop turn,
    every turn, for as long as they leave.)
    """

    pacer: Pacer = HttpProtocol.pacer
    tally: Tally = HttpProtocol.tally
    _close_frame: Any = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.tally.closed += 1
        super().connection_lost(exc)

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope[_SCOPE_KEY] = weakref.ref(self)  # a weak one: the protocol holds its scope

    #: Half-open (the "silent" fault on a session's connection): TCP stays up, nothing goes out.
    muted = False

    async def send(self, message: Any) -> None:
        if self.muted and message["type"] == "websocket.send":
            return
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body", False):
            # The handshake is over (refused): without this uvicorn logs an error when the app returns.
            self.handshake_complete = True
        elif message["type"] == "websocket.accept":
            # The handshake's request and response are not needed any more: ~4 KB per connection.
            self.request = self.response = None  # type: ignore[assignment]

    @property
    def writing_paused(self) -> bool:
        """Whether flow control holds writes (the client is not reading fast enough)."""
        return not self.writable.is_set()

    def abort(self) -> None:
        """Abort the TCP connection: no close frame (the peer sees 1006)."""
        self.transport.abort()

    def handle_close(self, event: Any) -> None:
        if self.close_sent or self._close_frame is not None or self.pacer.admit(self):
            super().handle_close(event)
            return
        self._close_frame = event  # the peer waits for its close frame until our turn
        self.transport.pause_reading()
        self.stop_keepalive()  # no Ping after the close frame the protocol has queued

    def resume(self) -> bool:
        """The :class:`Pacer` gave this closing handshake its turn (unless the connection is gone)."""
        if self.transport.is_closing():
            return False
        super().handle_close(self._close_frame)
        return True

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        self.transport.abort()  # a peer that does not answer Pings would not read a close either


def flow_of(scope: Any) -> Any:
    """uvicorn's flow control of the HTTP connection serving ``scope`` (``None`` under
    another server): ``await flow_of(scope).drain()`` returns once the client reads again."""
    protocol = _protocol(scope)
    return protocol.flow if isinstance(protocol, HttpProtocol) else None


def protocol_of(scope: Any) -> WebSocketProtocol | None:
    """The :class:`WebSocketProtocol` serving a WebSocket ``scope`` (``None`` under another server)."""
    protocol = _protocol(scope)
    return protocol if isinstance(protocol, WebSocketProtocol) else None


def _protocol(scope: Any) -> object:
    """The protocol a scope names, held weakly (a strong reference would make a cycle:
    each connection's objects would wait for a full garbage collection, demo.memory)."""
    ref = scope.get(_SCOPE_KEY)
    return ref() if isinstance(ref, weakref.ref) else None


class Listener:
    """uvicorn serving ``app`` on ``host:port``, with :class:`Limits`; :meth:`stop` then
    :meth:`start` brings the listener back on the same port."""

    def __init__(self, app: Any, host: str, port: int, limits: Limits, ssl_context: Any = None) -> None:
        self.pacer = Pacer(limits.accept_rate, limits.accept_burst)
        self.tally = Tally()
        shared = {"pacer": self.pacer, "tally": self.tally}
        http = type("DemoHttpProtocol", (HttpProtocol,), {"limits": limits, **shared})
        self.config = uvicorn.Config(
            app,
            host=host,
            port=port,
            http=http,
            ws=type("DemoWebSocketProtocol", (WebSocketProtocol,), shared),
            ws_max_size=limits.max_size,
            ws_max_queue=16,
            ws_ping_interval=limits.ping_interval,
            ws_ping_timeout=limits.ping_timeout,
            ws_per_message_deflate=False,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=2,
            h11_max_incomplete_event_size=MAX_HEAD,
        )
        self.config.load()
        if ssl_context is not None:
            self.config.ssl = ssl_context
        self.server = uvicorn.Server(self.config)
        self.server.lifespan = self.config.lifespan_class(self.config)
        self.listening = False
        self._ticker: asyncio.Task[None] | None = None

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        return self.config.port

    async def start(self) -> None:
        """Listen (on the port of the last start, once a port-0 start picked one)."""
        try:
            await self.server.startup()
        except SystemExit:  # uvicorn's way of saying it could not listen (it logged why)
            raise OSError(f"cannot listen on {self.config.host}:{self.config.port}") from None
        sock = self.server.servers[0].sockets[0]
        self.config.port = sock.getsockname()[1]
        self.listening = True
        if self._ticker is None:
            await self.server.on_tick(0)  # the Date header, at once
            self._ticker = asyncio.create_task(self._tick(), name="uvicorn-ticks")

    async def stop_listening(self) -> None:
        """Stop accepting connections; the open ones stay."""
        for server in self.server.servers:
            server.close()  # the listening socket closes now; connections are not waited for
        self.server.servers = []
        self.listening = False

    async def shutdown(self) -> None:
        """Stop listening, close every connection (WebSockets with 1012), within ~2 s."""
        if self._ticker is not None:
            self._ticker.cancel()
        await self.server.shutdown()
        self.listening = False

    async def _tick(self) -> None:
        counter = 0
        while True:
            await asyncio.sleep(0.1)
            counter = (counter + 1) % 864000
            await self.server.on_tick(counter)

    def connections(self) -> int:
        """Open connections, HTTP and WebSocket."""
        return len(self.server.server_state.connections)

    @property
    def closed(self) -> int:
        """Connections that ended since the listener was made."""
        return self.tally.closed
