"""The server side of heartsock's heartbeat, for the ``websockets`` asyncio server.

heartsock's client sends a heartbeat (``"ping"``) after ``heart_time`` seconds without
inbound traffic and presumes the peer dead when no reply (``pong_msg``) comes back in
time. This module is the other half of that protocol, for Python backends:

- it answers every heartbeat (``ping`` → ``pong``; both configurable, text or bytes);
- it counts each connection's seconds of silence and closes a connection that stays
  silent longer than ``timeout``, with code 4000 ``"heartbeat timeout"`` (the check the
  reference article's test server makes);
- it wraps any handler so that application code never sees a heartbeat message.

Usage::

    from websockets.asyncio.server import serve
    from heartsock.server import heartbeat

    async def echo(ws):
        async for message in ws:          # heartbeats never show up here
            await ws.send(message)

    async with serve(heartbeat(echo, timeout=15), "127.0.0.1", 8765) as server:
        await server.serve_forever()

or ``heartsock.server.serve(echo, "127.0.0.1", 8765)``, which does the same.

Rules:

1. Every inbound message is proof of life: a heartbeat, or any application message.
   A connection is *silent* when none arrived for ``timeout`` seconds.
2. A silent connection is probed before it is closed: the server sends a WebSocket
   Ping frame, which browsers answer by themselves. heartsock's client sends no
   heartbeat while messages keep arriving, so a client that only listens to a busy push
   feed is silent without being dead; the probe tells the two apart. A Pong frame (or
   any message) within ``probe_timeout`` keeps the connection; ``probe_timeout=None``
   closes silent connections at once, as the reference server does.
3. A reader task reads every message as it arrives, so heartbeats are answered even
   while the handler is busy (or only sends). Application messages wait in a buffer of
   ``max_queue`` messages until the handler reads them; when it stays full the reader
   stops reading, and so stops answering heartbeats too: a handler that no longer
   reads is not serving its client.
4. The connection may end at any time; a ``ConnectionClosed`` escaping the handler is
   that end, not a failure, and is logged at DEBUG level instead of as an error.
5. Importing this module does not import ``websockets``: ``import heartsock`` never
   needs it. It is imported when a connection is wrapped (``pip install
   heartsock[server]``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ._asgi import AsgiConnection
from ._server_connection import HeartbeatConnection
from ._sessions import Session, SessionHandler, SessionManager
from ._store import SessionStore
from ._store_sessions import StoreSessionManager
from .errors import ConfigError, ConfigTypeError
from .options import integer, message, positive_seconds
from .redis_store import RedisStore  # imports redis only when a RedisStore is made
from .wire import CLOSE_HEARTBEAT_TIMEOUT, HEARTBEAT_PING, HEARTBEAT_PONG, SUBPROTOCOL, Data

if TYPE_CHECKING:
    from websockets.asyncio.server import Server

__all__ = [
    "CLOSE_HEARTBEAT_TIMEOUT",
    "AsgiConnection",
    "AsgiEndpoint",
    "Connection",
    "Handler",
    "Heartbeat",
    "HeartbeatConnection",
    "RedisStore",
    "Session",
    "SessionStore",
    "asgi",
    "heartbeat",
    "serve",
]

log = logging.getLogger("heartsock.server")


class Connection(Protocol):
    """What the companion needs from a connection.

    ``websockets.asyncio.server.ServerConnection`` has all of it; any object with these
    coroutines works (for example an adapter that injects faults). Two more members are
    used when present: ``ping()`` (send a Ping frame; return a future that completes
    when its Pong arrives), for probing a silent connection, and ``transport`` (an asyncio
    transport), for the stalled-writer rule and for aborting a close that cannot finish.
    """

    async def recv(self) -> Data:
        """Return the next message; raise ``websockets.exceptions.ConnectionClosed`` at the end."""
        ...

    async def send(self, message: Data) -> None:
        """Send a text (``str``) or binary (``bytes``) message."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Perform the closing handshake with ``code`` and ``reason``."""
        ...


Handler = Callable[["HeartbeatConnection"], Awaitable[None]]
"""An application handler: a coroutine function that receives the wrapped connection."""

AsgiEndpoint = Callable[[Any], Awaitable[None]]
"""An ASGI WebSocket endpoint: a coroutine function that takes the framework's WebSocket."""


def _check_message(name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not message(name, value):
        raise ConfigError(f"{name} must not be empty")


def _check_seconds(name: str, value: object) -> None:
    if value is not None:
        positive_seconds(name, value)


@dataclass(frozen=True)
class Heartbeat:
    """The heartbeat protocol's server-side settings; :meth:`wrap` applies them to a handler.

    Attributes:
        ping: the client's heartbeat message (heartsock's ``heart_msg``, default
            ``"ping"``). Only an exact match counts, type included: ``"ping"`` is not
            ``b"ping"``.
        pong: the reply (heartsock's ``pong_msg``), sent in the same frame type as its
            value (text for ``str``, binary for ``bytes``); ``None`` to answer nothing.
        timeout: seconds of silence after which a connection is probed, then closed
            (``None``: never). Make it longer than the client's
            ``heart_time + pong_timeout``.
        probe_timeout: seconds a silent connection has to answer a WebSocket Ping frame
            before it is closed; ``None`` closes it without probing.
        close_code: the close code for a silent connection (4000, heartsock's
            "heartbeat timeout").
        close_reason: the close reason sent with it.
        max_queue: application messages buffered until the handler reads them.
        on_ping: called with the :class:`HeartbeatConnection` for every heartbeat that
            arrives, before it is answered (metrics, tests); what it raises is logged.
        stall_timeout: seconds the connection's send buffer may stay above
            ``stall_buffer`` bytes — a client that stopped reading — before the
            connection is aborted (no close frame could reach it; the client sees 1006).
            ``None``: never.
        stall_buffer: the send buffer's high-water mark for ``stall_timeout``, in bytes.
        max_messages_per_second: inbound messages (heartbeats included) allowed per
            second, with bursts of one second's worth; more closes the connection with
            1008 "rate limit exceeded" (a code heartsock clients do not reconnect after).
            ``None``: no limit.
        max_bytes_per_second: the same for inbound bytes (characters of text).
        close_timeout: seconds any close may take; a close that cannot complete (the
            client stopped reading, so flow control blocks it) aborts the connection.
    """

    ping: Data = HEARTBEAT_PING
    pong: Data | None = HEARTBEAT_PONG
    timeout: float | None = 15.0
    probe_timeout: float | None = 5.0
    close_code: int = CLOSE_HEARTBEAT_TIMEOUT
    close_reason: str = "heartbeat timeout"
    max_queue: int = 64
    on_ping: Callable[[HeartbeatConnection], object] | None = None
    stall_timeout: float | None = 10.0
    stall_buffer: int = 64 * 1024
    max_messages_per_second: float | None = None
    max_bytes_per_second: float | None = None
    close_timeout: float = 5.0

    def __post_init__(self) -> None:
        _check_message("ping", self.ping)
        _check_message("pong", self.pong, optional=True)
        _check_seconds("timeout", self.timeout)
        _check_seconds("probe_timeout", self.probe_timeout)
        code = self.close_code
        if isinstance(code, bool) or not isinstance(code, int):
            raise ConfigTypeError(f"close_code must be an int, got {type(code).__name__}")
        if not (code in (1000, 1001, 1008, 1011) or 3000 <= code <= 4999):
            raise ConfigError(f"close_code must be 1000, 1001, 1008, 1011 or in 3000-4999, got {code}")
        if not isinstance(self.close_reason, str) or len(self.close_reason.encode()) > 123:
            raise ConfigError("close_reason must be a str of at most 123 UTF-8 bytes")
        integer("max_queue", self.max_queue, minimum=1)
        _check_seconds("stall_timeout", self.stall_timeout)
        integer("stall_buffer", self.stall_buffer, minimum=0)
        for name in ("max_messages_per_second", "max_bytes_per_second"):
            value = getattr(self, name)
            if value is not None:
                positive_seconds(name, value)  # a positive finite number; the unit is per second
        positive_seconds("close_timeout", self.close_timeout)
        if self.on_ping is not None and not callable(self.on_ping):
            raise ConfigTypeError(f"on_ping must be callable or None, got {type(self.on_ping).__name__}")

    def is_ping(self, message: Data) -> bool:
        """Whether ``message`` is a heartbeat (same value and same type as :attr:`ping`)."""
        return type(message) is type(self.ping) and message == self.ping

    def wrap(self, handler: Handler) -> Callable[[Connection], Awaitable[None]]:
        """Return a connection handler that runs ``handler`` behind the heartbeat.

        The result is what ``websockets.asyncio.server.serve`` expects: it takes the
        server's connection, wraps it in a :class:`HeartbeatConnection` and runs
        ``handler`` with that, answering heartbeats and watching silence meanwhile.
        """

        @functools.wraps(handler, updated=())
        async def run(connection: Connection) -> None:
            from websockets.exceptions import ConnectionClosed

            async with HeartbeatConnection(connection, self) as conn:
                try:
                    await handler(conn)
                except ConnectionClosed as exc:
                    log.debug("connection closed under the handler: %s", exc)

        return run


def asgi(
    handler: Handler | SessionHandler,
    heartbeat: Heartbeat | None = None,
    *,
    subprotocol: str | None = None,
    resume: bool = False,
    session_ttl: float = 60.0,
    store: SessionStore | None = None,
    replay_limit: int = 1000,
) -> AsgiEndpoint:
    """An ASGI WebSocket endpoint (Starlette, FastAPI) that runs ``handler`` behind the heartbeat.

    Starlette: ``WebSocketRoute("/ws", asgi(echo))``. FastAPI: in a ``@app.websocket``
    route, ``await endpoint(websocket)`` with ``endpoint = asgi(echo, heartbeat)`` made
    once. The endpoint accepts the WebSocket (with ``subprotocol``), then runs ``handler``
    with a :class:`HeartbeatConnection`, as :meth:`Heartbeat.wrap` does for ``websockets``.
    ASGI has no Ping frames, so a silent connection is closed without a probe;
    ``stall_timeout`` is left to the ASGI server.

    With ``resume=True`` the endpoint speaks heartsock sessions, exactly as
    :func:`serve` does: it accepts the ``heartsock.v1`` subprotocol when the client
    offers it, ``handler(session)`` runs once per :class:`Session` across the client's
    reconnects, and a client without sessions is closed with 4400. The sessions live in
    the endpoint: make it once (not per request) so that a reconnecting client finds its
    session, and serve it from one process — or give every process's endpoint the same
    ``store`` (:class:`RedisStore`) to share the sessions between them.

    Args:
        handler: the application's handler; it receives a :class:`HeartbeatConnection`,
            or with ``resume=True`` a :class:`Session`.
        heartbeat: the settings; ``Heartbeat()`` by default.
        subprotocol: the subprotocol to accept, if any (not with ``resume=True``, which
            negotiates its own).
        resume: serve heartsock sessions.
        session_ttl: seconds a session survives without a connection.
        store: where sessions live, as for :func:`serve`.
        replay_limit: messages kept per session for replay to a client that was away.

    Raises:
        ConfigError: a bad setting.
    """
    hb = heartbeat or Heartbeat()
    if not resume:
        run = hb.wrap(handler)  # type: ignore[arg-type]

        async def endpoint(websocket: Any) -> None:
            await websocket.accept(subprotocol=subprotocol)
            await run(AsgiConnection(websocket, subprotocol))

        return endpoint
    if subprotocol is not None:
        raise ConfigError(f"subprotocol: with resume=True the endpoint negotiates {SUBPROTOCOL} itself")
    run_session = hb.wrap(_session_manager(handler, hb, session_ttl, store, replay_limit).connection)

    async def session_endpoint(websocket: Any) -> None:
        # Accept a client without the subprotocol too, so that it can be told why (close 4400).
        chosen = SUBPROTOCOL if SUBPROTOCOL in websocket.scope.get("subprotocols", ()) else None
        await websocket.accept(subprotocol=chosen)
        await run_session(AsgiConnection(websocket, chosen))

    return session_endpoint


def heartbeat(handler: Handler, **settings: Any) -> Callable[[Connection], Awaitable[None]]:
    """Wrap ``handler`` with the heartbeat: ``Heartbeat(**settings).wrap(handler)``.

    Args:
        handler: the application's handler; it receives a :class:`HeartbeatConnection`.
        **settings: :class:`Heartbeat`'s fields (``ping``, ``pong``, ``timeout``, …).
    """
    return Heartbeat(**settings).wrap(handler)


def serve(
    handler: Handler | SessionHandler,
    host: str | None = "127.0.0.1",
    port: int | None = None,
    *,
    heartbeat: Heartbeat | None = None,
    resume: bool = False,
    session_ttl: float = 60.0,
    store: SessionStore | None = None,
    replay_limit: int = 1000,
    **kwargs: Any,
) -> Server:
    """``websockets.asyncio.server.serve`` with ``handler`` behind the heartbeat.

    Use it as ``websockets``' own: ``async with serve(handler, host, port) as server``.
    Keyword arguments go to ``websockets``; its protocol-level keepalive
    (``ping_interval``) is off unless given, since the heartbeat watches liveness.

    With ``resume=True`` the server speaks heartsock sessions (the ``heartsock.v1``
    subprotocol; clients use ``Socket(url, resume=True)``): ``handler(session)`` runs once
    per :class:`Session`, across the client's reconnects, and every message reaches the
    other side exactly once, in order. A client without sessions is closed with 4400.
    When the server closes, sessions kept in memory end (their clients see 1001, then a
    new session), and closing waits for their handlers to return: 5 s at most, then those
    still running are cancelled. With a ``store`` they are handed over to another process
    instead.

    Args:
        handler: the application's handler; it receives a :class:`HeartbeatConnection`,
            or with ``resume=True`` a :class:`Session`.
        host: the interface to bind (loopback by default).
        port: the TCP port.
        heartbeat: the settings; ``Heartbeat()`` by default.
        resume: serve heartsock sessions.
        session_ttl: seconds a session survives without a connection.
        store: where sessions live; ``None``: in this process's memory (a client must
            resume on the same process); a :class:`SessionStore` such as
            :class:`RedisStore` to share them between server processes (PROTOCOL.md,
            "Many server processes").
        replay_limit: messages kept per session for replay to a client that was away.

    Raises:
        ConfigError: a bad setting.
    """
    from websockets.asyncio.server import serve as websockets_serve

    kwargs.setdefault("ping_interval", None)
    hb = heartbeat or Heartbeat()
    if not resume:
        return websockets_serve(hb.wrap(handler), host, port, **kwargs)  # type: ignore[arg-type]
    manager = _session_manager(handler, hb, session_ttl, store, replay_limit)
    # Accept a client without the subprotocol too, so that it can be told why (close 4400)
    # instead of seeing a refused handshake it cannot read.
    kwargs.setdefault("select_subprotocol", _select_session_subprotocol)

    in_memory = manager if isinstance(manager, SessionManager) else None
    watching = False

    async def connection(conn: HeartbeatConnection) -> None:
        nonlocal watching
        ws = conn.connection
        # websockets keeps select_subprotocol in a closure over the connection, a reference
        # cycle that would keep every closed connection until a full garbage collection.
        # The handshake is over: let it go.
        protocol = getattr(ws, "protocol", None)
        if protocol is not None and hasattr(protocol, "select_subprotocol"):
            protocol.select_subprotocol = None
        server = getattr(ws, "server", None)
        if in_memory is None or server is None:
            await manager.connection(conn)
            return
        if not watching:
            watching = True
            # Set once the server closed: the sessions whose clients were away end then (a
            # callback, not a task that a loop stopping at once would leave pending).
            closed = getattr(server, "handlers_waiter", None)
            if isinstance(closed, asyncio.Future):
                closed.add_done_callback(lambda _: in_memory.end_all("the server closed"))
        try:
            await manager.connection(conn)
        finally:
            if not server.is_serving():  # closing: the server waits for this handler, so for the sessions
                await in_memory.shut_down()

    return websockets_serve(hb.wrap(connection), host, port, **kwargs)


def _session_manager(
    handler: Handler | SessionHandler, hb: Heartbeat, session_ttl: float, store: SessionStore | None, replay_limit: int
) -> SessionManager | StoreSessionManager:
    """The sessions behind :func:`serve` and :func:`asgi` with ``resume=True``; settings checked once, here."""
    if store is not None and not isinstance(store, SessionStore):
        raise ConfigTypeError(f"store must be a SessionStore (such as RedisStore) or None, got {type(store).__name__}")
    positive_seconds("session_ttl", session_ttl)
    integer("replay_limit", replay_limit, minimum=1)
    if store is not None:
        return StoreSessionManager(handler, store, session_ttl, replay_limit, hb.max_queue)  # type: ignore[arg-type]
    return SessionManager(handler, session_ttl, replay_limit, hb.max_queue)  # type: ignore[arg-type]


def _select_session_subprotocol(connection: Any, subprotocols: Any) -> Any:
    return SUBPROTOCOL if SUBPROTOCOL in subprotocols else None
