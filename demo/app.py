"""The demo server: one port for the pages, the WebSocket endpoints and the fault controls.

A Starlette app under uvicorn (:mod:`demo.listener`), with :mod:`heartsock.server`
answering the heartbeat on every WebSocket endpoint (:func:`heartsock.server.asgi`)
and the files of :class:`devtools.static.Mounts` streamed by Starlette (:mod:`demo.files`).

WebSocket endpoints (each behind ``heartsock.server``'s heartbeat; ``/ws/<name>``, or
``/<name>`` for short):

- ``/ws/echo``: sends every message back.
- ``/ws/chat``: a chat room; every message goes to every member as
  ``{"type": "chat", "from": <peer>, "text": …}``.
- ``/ws/feed``: simulated market ticks (:mod:`demo.market`): a ``hello`` with a snapshot,
  then a round of ticks per period; every message the client sends is recorded. A client
  that offers the ``heartsock.v1`` subprotocol (``Socket(url, resume=True)``, as the
  dashboard does) gets its feed in a heartsock session (:mod:`demo.feed`): ticks and
  notes each delivered exactly once, in order, acknowledged and replayed across
  reconnects, and a ``{"type": "session", "replayed": …}`` every round. Any other client
  gets the plain feed, its messages acknowledged by hand with
  ``{"type": "ack", "seq": …, "text": …}``.

HTTP: the pages under ``www/`` (``/`` is ``index.html``) and the vendored assets;
``GET /api/status`` (JSON: listener, connections, recent client messages, handshake
counts); and the fault controls, ``POST`` only:

=====================================  ==================================================
``POST /api/drop``                     abort every connection (the browser sees 1006)
``POST /api/silent``                   the current connections go silent, TCP kept open
                                       (half-open); new connections are healthy
``POST /api/refuse?n=N[&drop=1]``      answer the next N handshakes with HTTP 503
``POST /api/hang?n=N[&drop=1]``        never answer the next N handshakes
``POST /api/close?code=C&reason=R``    close every connection with code C
``POST /api/restart?down=S``           stop the listener, restart it S seconds later
=====================================  ==================================================

Safe defaults: loopback only; every request's ``Host`` must name this server (no DNS
rebinding), WebSocket handshakes included; handshakes must come from a page this
machine serves on loopback (any port) or carry no ``Origin``, as non-browser clients
do; fault controls answer this server's own pages only; every refusal is logged with
its reason and its fix (:mod:`demo.gate`). A refused handshake uses no fault slot:
``refuse``/``hang`` apply to handshakes the gate let through, for an endpoint.

Bounded, whatever a client does: request heads (16 KiB, 10 s to send them), request
targets (:data:`MAX_TARGET` bytes, else 414), open connections (``max_connections``),
messages in and out (``max_size``, 64 KiB: a larger incoming one closes with 1009, a
chat message or an ack that would go out larger closes its sender with 1009), what
waits for a client (:mod:`demo.clients`: a slow reader is closed with 1013, a
connection whose writes stay blocked for :data:`STALL_TIMEOUT` s is aborted), and what
is kept about it (a ring of recent messages, forgotten when it leaves). Only the
demo's endpoints are mounted: none of :mod:`devtools.faults`' test routes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from devtools.static import ROOT, Mounts
from heartsock._json import decode_json
from heartsock.errors import DecodeError
from heartsock.server import Heartbeat, HeartbeatConnection, Session, asgi
from heartsock.wire import CLOSE_POLICY_VIOLATION, SUBPROTOCOL, Data

from .clients import CLOSE_TIMEOUT, Client, MessageTooBig
from .feed import REPLAY_LIMIT, SESSION_TTL, FeedSession, evict
from .files import FileServer
from .gate import Gate
from .listener import MAX_HEAD, Limits, Listener, protocol_of
from .market import Market
from .memory import Memory

__all__ = ["MAX_SIZE", "MAX_TARGET", "STALL_TIMEOUT", "DemoServer"]

log = logging.getLogger("demo")

WWW = ROOT / "www"
MAX_SIZE = 64 * 1024
#: The longest request target (path and query), in bytes; longer gets 414.
MAX_TARGET = 2048
#: Seconds a connection's writes may stay blocked (the client stopped reading) before it is aborted.
STALL_TIMEOUT = 10.0
#: Seconds a hung handshake (``/api/hang``) is held at most.
HANG_LIMIT = 120.0
#: Client messages ``/api/status`` shows at most (the most recent).
STATUS_RECEIVED = 500
#: Close codes a client may ask the server to send (1005/1006/1015 cannot be sent).
SENDABLE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
CLOSE_TOO_BIG = 1009
_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class DemoServer:
    """Everything ``python -m demo`` serves, on one host and port.

    Args:
        host: the interface (loopback by default; anything else is your decision).
        port: the TCP port; 0 picks a free one (see :attr:`url` once started).
        ssl_context: serve ``https``/``wss`` with it.
        www: the directory served at ``/``.
        max_size: the largest WebSocket message accepted or sent, in bytes.
        heartbeat: heartsock.server's settings on every demo endpoint (by default:
            heartbeats answered, no silence watchdog: the listener's keepalive Pings
            find dead connections, see :class:`~demo.listener.Limits`).
        tick_period: seconds between two rounds of market ticks.
        extra_origins: more origins (``scheme://host[:port]``) allowed to connect and to use
            the controls, whose hosts may also be named in ``Host`` (``--allow-origin``).
        limits: connections, timeouts and keepalive (``max_size`` overrides its own).

    Raises:
        ValueError: an entry of ``extra_origins`` is not an origin.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        ssl_context: ssl.SSLContext | None = None,
        www: Path = WWW,
        max_size: int = MAX_SIZE,
        heartbeat: Heartbeat | None = None,
        tick_period: float = 1.0,
        extra_origins: tuple[str, ...] = (),
        limits: Limits | None = None,
    ) -> None:
        self.files = FileServer(Mounts.standard(www=www))
        self.memory = Memory()
        self.heartbeat = heartbeat or Heartbeat(timeout=None, max_queue=16)
        self.limits = Limits(**{**(limits or Limits()).__dict__, "max_size": max_size})
        self.tick_period = tick_period
        self.market = Market()
        self.scheme = "https" if ssl_context else "http"
        self.gate = Gate(self.scheme, host, extra_origins)
        self.clients: dict[int, Client] = {}
        self.feed: set[Client] = set()
        self.feed_sessions: dict[int, FeedSession] = {}
        self.chat: set[Client] = set()
        self.handshakes = {"accepted": 0, "refused": 0, "hung": 0}
        self.restarts = 0
        self._peers = 0
        self._refuse = 0
        self._hang = 0
        self._hung: set[asyncio.Future[None]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        #: ``/ws/<name>`` (canonical) and ``/<name>``; sessions later: ``asgi(..., resume=True)``.
        self.endpoints: dict[str, Callable[[WebSocket], Awaitable[None]]] = {
            "echo": asgi(self._echo, self.heartbeat),
            "chat": asgi(self._chat, self.heartbeat),
            "feed": self._feed_endpoint,
        }
        self._plain_feed = asgi(self._feed, self.heartbeat)
        self._session_feed = asgi(
            self._feed_session,
            self.heartbeat,
            resume=True,
            session_ttl=SESSION_TTL,
            replay_limit=REPLAY_LIMIT,
        )
        self._controls: dict[str, Callable[[dict[str, str]], Awaitable[dict[str, Any]]]] = {
            "drop": self._api_drop,
            "silent": self._api_silent,
            "refuse": self._api_refuse,
            "hang": self._api_hang,
            "close": self._api_close,
            "restart": self._api_restart,
        }
        self.app = Starlette(
            routes=[
                Route("/api/{action:path}", self._api, methods=_METHODS),
                WebSocketRoute("/{path:path}", self._websocket),
                Route("/{path:path}", self._file, methods=_METHODS),
            ],
            middleware=[Middleware(Gatekeeper, server=self)],
        )
        self.listener = Listener(self.app, host, port, self.limits, ssl_context)

    # ---- life cycle --------------------------------------------------------------------
    async def start(self) -> None:
        """Listen, tell the gate the port, and start the market and the stall sweeper."""
        await self.listener.start()
        self.gate.port = self.listener.port
        self.gate.url = self.url
        self._spawn(self._market())
        self._spawn(self._sweep())

    async def stop(self) -> None:
        """Stop the market and the listener, closing every connection."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._release_hung()
        await self.listener.shutdown()

    @property
    def url(self) -> str:
        """The base URL of the pages, e.g. ``http://127.0.0.1:8000/``."""
        host = self.listener.host
        host = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{host}:{self.listener.port}/"

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- the gate ------------------------------------------------------------------------
    def admit(self, scope: Scope) -> tuple[int, str] | None:
        """``(status, text)`` refusing the request in ``scope``, or ``None`` to let it through."""
        websocket = scope["type"] == "websocket"
        target = len(scope.get("raw_path", b"")) + len(scope.get("query_string", b""))
        if target > MAX_TARGET:
            return 414, f"414: the request target is longer than {MAX_TARGET} bytes\n"
        if sum(len(k) + len(v) + 4 for k, v in scope.get("headers", ())) > MAX_HEAD:
            return 431, f"431: the request headers are longer than {MAX_HEAD} bytes\n"
        path = _shown(scope["path"])
        what = f"WebSocket handshake for {path}" if websocket else f"request for {path}"
        refusal = self.gate.check_host(_single(scope, b"host"), what)
        if refusal is None and websocket:
            refusal = self.gate.check_handshake(_single(scope, b"origin"), path)
        if refusal is None:
            return None
        log.warning("%s", refusal.message)
        return refusal.status, refusal.message + "\n"

    # ---- WebSocket endpoints ---------------------------------------------------------------
    async def _websocket(self, websocket: WebSocket) -> None:
        """Every handshake the gate let through: endpoint, then fault slots, then the endpoint."""
        path = websocket.scope["path"]
        name = _endpoint(path)
        if name is None:
            log.warning("404: no WebSocket endpoint at %s; use /ws/echo, /ws/chat or /ws/feed", _shown(path))
            await _deny(websocket, 404, "no such WebSocket endpoint; use /ws/echo, /ws/chat or /ws/feed\n")
            return
        if self._refuse:
            self._refuse -= 1
            self.handshakes["refused"] += 1
            log.info("503: WebSocket handshake for %s (fault injection)", _shown(path))
            await _deny(websocket, 503, "refused by fault injection\n")
            return
        if self._hang:
            self._hang -= 1
            self.handshakes["hung"] += 1
            await self._hold(websocket)
            return
        self.handshakes["accepted"] += 1
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            reason = f"no endpoint {path[:48]!r}; try /ws/echo, /ws/chat, /ws/feed"  # at most 123 bytes
            await websocket.accept()
            await websocket.close(CLOSE_POLICY_VIOLATION, reason)
            return
        await endpoint(websocket)

    async def _hold(self, websocket: WebSocket) -> None:
        """A hung handshake: no answer until released (restart, shutdown), the client leaves, or HANG_LIMIT."""
        release: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._hung.add(release)
        gone: asyncio.Future[Any] | None = None
        try:
            await websocket.receive()  # the connect event
            gone = asyncio.ensure_future(websocket.receive())  # the disconnect, if the client leaves
            done, _ = await asyncio.wait({release, gone}, timeout=HANG_LIMIT, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._hung.discard(release)
            if gone is not None and not gone.done():
                gone.cancel()
        if gone not in done:
            await _deny(websocket, 503, "released\n")

    def _release_hung(self) -> None:
        for future in list(self._hung):
            if not future.done():
                future.set_result(None)

    def _join(self, conn: HeartbeatConnection, route: str) -> Client:
        scope = conn.request.scope
        self._peers += 1
        target = scope.get("raw_path", b"").decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        path = target + (f"?{query}" if query else "")
        client = Client(self._peers, route, path, conn, protocol_of(scope), self.limits.max_size)
        self.clients[client.id] = client
        return client

    async def _leave(self, client: Client) -> None:
        self.clients.pop(client.id, None)
        self.chat.discard(client)
        self.feed.discard(client)
        await client.finish()

    async def _messages(self, client: Client) -> Any:
        """The client's application messages, each recorded for ``/api/status``."""
        async for message in client.conn:
            client.heard(message)
            yield message

    async def _echo(self, conn: HeartbeatConnection) -> None:
        client = self._join(conn, "echo")
        try:
            async for message in self._messages(client):
                client.send(message)
        finally:
            await self._leave(client)

    async def _chat(self, conn: HeartbeatConnection) -> None:
        client = self._join(conn, "chat")
        self.chat.add(client)
        try:
            self._broadcast(self.chat, {"type": "joined", "peer": client.id, "members": len(self.chat)})
            async for message in self._messages(client):
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                try:
                    self._broadcast(self.chat, {"type": "chat", "from": client.id, "text": text})
                except MessageTooBig as exc:
                    await client.close(CLOSE_TOO_BIG, f"chat message too big to send on: {exc}")
                    return
        finally:
            await self._leave(client)

    async def _feed_endpoint(self, websocket: WebSocket) -> None:
        """``/ws/feed``: a heartsock session for a client that offers ``heartsock.v1``, else the plain feed."""
        if SUBPROTOCOL in websocket.scope.get("subprotocols", ()):
            await self._session_feed(websocket)
        else:
            await self._plain_feed(websocket)

    async def _feed_session(self, session: Session) -> None:
        """A page's feed in a heartsock session: runs once per session, across the page's reconnects.

        Its notes need no acknowledgement of ours: the session numbers, acknowledges and
        replays every message, both ways.
        """
        self._peers += 1
        member = FeedSession(self._peers, session)
        self.feed_sessions[member.id] = member
        evict(self.feed_sessions)
        try:
            hello = {"type": "hello", "peer": member.id, "period": self.tick_period, "quotes": self.market.snapshot()}
            await session.send(_encode(hello))
            async for message in session:
                member.heard(message)
        finally:
            self.feed_sessions.pop(member.id, None)

    async def _feed(self, conn: HeartbeatConnection) -> None:
        client = self._join(conn, "feed")
        try:
            hello = {"type": "hello", "peer": client.id, "period": self.tick_period, "quotes": self.market.snapshot()}
            client.send(json.dumps(hello))
            self.feed.add(client)
            async for message in self._messages(client):
                try:
                    client.send(_encode(_ack(client.id, message)))
                except MessageTooBig as exc:
                    await client.close(CLOSE_TOO_BIG, f"ack too big to send: {exc}")
                    return
        finally:
            await self._leave(client)

    def _broadcast(self, members: set[Client], message: dict[str, Any]) -> None:
        """Queue ``message`` for every member; never waits on one.

        Raises:
            MessageTooBig: the message, encoded, is larger than ``max_size``.
        """
        text = _encode(message)
        if len(text.encode()) > self.limits.max_size:
            raise MessageTooBig(f"{len(text.encode())} bytes encoded, over the {self.limits.max_size}-byte cap")
        for client in list(members):
            client.send(text)

    async def _market(self) -> None:
        """Publish a round of ticks every ``tick_period`` seconds, ticks 30 ms apart."""
        loop = asyncio.get_running_loop()
        next_round = loop.time()
        while True:
            for tick in self.market.round():
                if self.feed:
                    self._broadcast(self.feed, tick)
                await self._to_sessions(tick)
                await asyncio.sleep(0.03)
            await self._to_sessions(None)
            next_round += self.tick_period
            await asyncio.sleep(max(0.0, next_round - loop.time()))

    async def _to_sessions(self, tick: dict[str, Any] | None) -> None:
        """Send ``tick`` to every feed session (``None``: what the session replayed so far).

        A session keeps what it sends for a page that is away (up to ``REPLAY_LIMIT``
        messages; a page further behind gets a session reset), so this never waits on one.
        """
        text = None if tick is None else _encode(tick)
        for member in list(self.feed_sessions.values()):
            session = member.session
            if not session.ended:
                await session.send(text or _encode({"type": "session", "replayed": session.replayed}))

    async def _sweep(self) -> None:
        """Abort connections whose writes stayed blocked for :data:`STALL_TIMEOUT` seconds;
        collect garbage and give memory back to the system as connections leave
        (:class:`~demo.memory.Memory`)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            now = loop.time()
            self.memory.tick(now, self.listener.connections(), self.listener.closed)
            watched: list[Client | FeedSession] = [*self.clients.values(), *self.feed_sessions.values()]
            for client in watched:
                protocol = client.protocol
                if protocol is None or not protocol.writing_paused:
                    client.paused_since = None
                elif client.paused_since is None:
                    client.paused_since = now
                elif now - client.paused_since >= STALL_TIMEOUT and not protocol.transport.is_closing():
                    log.info(
                        "peer %d: writes blocked for %.0fs (it stopped reading); aborting", client.id, STALL_TIMEOUT
                    )
                    client.abort()

    # ---- HTTP ----------------------------------------------------------------------------
    async def _file(self, request: Request) -> Response:
        return await self.files(request)

    async def _api(self, request: Request) -> Response:
        action = request.path_params["action"]
        query = {k: v for k, v in request.query_params.multi_items()}
        if action == "status":
            if request.method not in ("GET", "HEAD"):
                return _text(405, "status is read with GET\n", allow="GET")
            return JSONResponse(self.status(), headers={"Cache-Control": "no-store"})
        control = self._controls.get(action)
        if control is None:
            return _text(404, f"no control {action[:64]!r}\n")
        if request.method != "POST":
            return _text(405, "controls take POST\n", allow="POST")
        refusal = self.gate.check_control(_single(request.scope, b"origin"), f"/api/{action}")
        if refusal is not None:
            log.warning("%s", refusal.message)
            return _text(refusal.status, refusal.message + "\n")
        try:
            result = await control(query)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400, headers={"Cache-Control": "no-store"})
        log.info("control %s %s -> %s", action, query, result)
        return JSONResponse(result, headers={"Cache-Control": "no-store"})

    def status(self) -> dict[str, Any]:
        """What ``GET /api/status`` answers."""
        now = asyncio.get_running_loop().time()
        clients = list(self.clients.values())
        sessions = [m for m in self.feed_sessions.values() if m.connection is not None]
        everyone: list[Client | FeedSession] = [*clients, *self.feed_sessions.values()]
        received = sorted((r for c in everyone for r in c.recent), key=lambda r: r.at)[-STATUS_RECEIVED:]
        return {
            "listening": self.listener.listening,
            "url": self.url,
            "restarts": self.restarts,
            "feed_sessions": len(self.feed_sessions),
            "refusing": self._refuse,
            "hanging": self._hang,
            "handshakes": dict(self.handshakes),
            "open_connections": self.listener.connections(),
            "closed_connections": self.listener.closed,
            "max_connections": self.limits.max_connections,
            "waiting_turn": self.listener.pacer.waiting,
            "full_collections": self.memory.collections,
            "connections": [
                {
                    "peer": c.id,
                    "path": c.path,
                    "age": round(now - c.opened_at, 3),
                    "heartbeats": c.conn.heartbeats,
                    "messages": c.messages,
                    "queued": c.queued,
                    "silent": c.muted,
                }
                for c in clients
            ]
            + [m.status(now) for m in sessions],
            "received": [r.as_json() for r in received],
        }

    # ---- fault controls ---------------------------------------------------------------------
    def _drop_all(self) -> int:
        dropped = sum(client.abort() for client in list(self.clients.values()))
        return dropped + sum(member.abort() for member in list(self.feed_sessions.values()))

    async def _api_drop(self, query: dict[str, str]) -> dict[str, Any]:
        return {"dropped": self._drop_all()}

    async def _api_silent(self, query: dict[str, str]) -> dict[str, Any]:
        muted = 0
        for client in list(self.clients.values()):
            if not client.muted and not client.closing:
                client.mute()
                muted += 1
        muted += sum(member.mute() for member in list(self.feed_sessions.values()))
        return {"silenced": muted}

    async def _api_refuse(self, query: dict[str, str]) -> dict[str, Any]:
        self._refuse += _int(query, "n", 1, 1, 20)
        dropped = self._drop_all() if query.get("drop") == "1" else 0
        return {"refusing": self._refuse, "dropped": dropped}

    async def _api_hang(self, query: dict[str, str]) -> dict[str, Any]:
        n = _int(query, "n", 1, 1, 20)
        self._hang += n
        dropped = self._drop_all() if query.get("drop") == "1" else 0
        return {"hanging": n, "dropped": dropped}

    async def _api_close(self, query: dict[str, str]) -> dict[str, Any]:
        code = _int(query, "code", 1000, 1000, 4999)
        if code not in SENDABLE_CODES and not 3000 <= code <= 4999:
            raise ValueError(f"code {code} cannot be sent in a close frame")
        reason = query.get("reason", "closed by the demo's control")
        if len(reason.encode()) > 123:
            raise ValueError("reason is longer than 123 bytes")
        closes: list[Awaitable[Any]] = [
            client.close(code, reason) for client in list(self.clients.values()) if not client.closing
        ]
        closes += [m.close(code, reason, CLOSE_TIMEOUT) for m in self.feed_sessions.values() if m.connection]
        await asyncio.gather(*closes, return_exceptions=True)
        return {"closed": len(closes), "code": code, "reason": reason}

    async def _api_restart(self, query: dict[str, str]) -> dict[str, Any]:
        down = _float(query, "down", 2.0, 0.1, 30.0)
        loop = asyncio.get_running_loop()
        # Answer first: the listener (and this very HTTP connection) goes away next.
        loop.call_later(0.05, self._spawn, self._restart(down))
        return {"down": down}

    async def _restart(self, down: float) -> None:
        await self.listener.stop_listening()
        self._drop_all()
        self._release_hung()
        log.info("listener stopped for %.1fs", down)
        await asyncio.sleep(down)
        await self.listener.start()
        self.restarts += 1
        log.info("listener back on port %d", self.listener.port)


class Gatekeeper:
    """ASGI middleware: :meth:`DemoServer.admit` on every request and handshake, and the
    ``nosniff``/``no-referrer`` headers on every HTTP response."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], server: DemoServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if kind == "http":
            send = _with_headers(send)
        refusal = self.server.admit(scope)
        if refusal is None:
            await self.app(scope, receive, send)
        elif kind == "http":
            await _text(*refusal)(scope, receive, send)
        else:
            await _deny(WebSocket(scope, receive, send), *refusal)


def _with_headers(send: Send) -> Send:
    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *_HEADERS]
        await send(message)

    return sender


async def _deny(websocket: WebSocket, status: int, text: str) -> None:
    """Refuse a handshake with an HTTP response (the client is gone: nothing to do)."""
    try:
        await websocket.send_denial_response(_text(status, text))
    except Exception:  # noqa: BLE001 - the client left while it waited
        log.debug("could not answer a refused handshake", exc_info=True)


def _ack(peer: int, message: Data) -> dict[str, Any]:
    """The feed's acknowledgement of ``message``: its ``seq`` and ``text`` when it is a JSON note."""
    ack: dict[str, Any] = {"type": "ack", "peer": peer}
    try:
        note = decode_json(message, "note")  # depth-checked: a 2,000-deep array is a DecodeError
    except DecodeError:
        note = None
    if isinstance(note, dict):
        ack["seq"] = note.get("seq")
        ack["text"] = note.get("text")
    else:
        ack["text"] = message if isinstance(message, str) else f"<{len(message)} bytes>"
    return ack


def _encode(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def _shown(path: str, limit: int = 120) -> str:
    """``path`` for a log line: at most ``limit`` characters, control characters escaped."""
    path = path if len(path) <= limit else path[: limit - 1] + "…"
    return path.encode("unicode_escape").decode("ascii") if not path.isprintable() else path


def _single(scope: Scope, name: bytes) -> str | None:
    """The value of header ``name``; ``""`` (never allowed) when it is repeated."""
    values = [v for k, v in scope.get("headers", ()) if k.lower() == name]
    if not values:
        return None
    return values[0].decode("latin-1") if len(values) == 1 else ""


def _endpoint(path: str) -> str | None:
    """The endpoint name of a WebSocket path: ``/ws/feed`` → ``feed``, ``/`` → ``echo``,
    ``/ws/nowhere`` → ``nowhere`` (closed with 1008), ``/push/1`` → ``None`` (404)."""
    parts = urlsplit(path).path.strip("/").split("/")
    if parts[0] == "ws":
        return (parts[1] if len(parts) > 1 else "") or "echo"
    if parts[0] in ("", "echo", "chat", "feed"):
        return parts[0] or "echo"
    return None


def _int(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(query.get(name, default))
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}")
    return value


def _float(query: dict[str, str], name: str, default: float, low: float, high: float) -> float:
    try:
        value = float(query.get(name, default))
    except ValueError:
        raise ValueError(f"{name} must be a number") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}")
    return value


def _text(status: int, text: str, allow: str | None = None) -> Response:
    headers = {"Cache-Control": "no-store"}
    if allow:
        headers["Allow"] = allow
    return PlainTextResponse(text, status, headers=headers)
