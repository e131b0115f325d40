"""The demo server: one port for the pages, the WebSocket endpoints and the fault controls.

Built on :class:`devtools.faults.FaultServer` (a real ``websockets`` server whose faults
can be switched on) and :class:`devtools.static.Mounts` (which URL serves which local
file), with :mod:`heartsock.server` answering the heartbeat on every demo endpoint.

WebSocket endpoints (each behind ``heartsock.server``'s heartbeat; ``/ws/<name>``, or
``/<name>`` for short):

- ``/ws/echo``: sends every message back.
- ``/ws/chat``: a chat room; every message goes to every member as
  ``{"type": "chat", "from": <peer>, "text": …}``.
- ``/ws/feed``: simulated market ticks (:mod:`demo.market`): a ``hello`` with a snapshot,
  then a round of ticks per period; every message the client sends is recorded and
  acknowledged with ``{"type": "ack", "seq": …, "text": …}``.

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

Safe defaults: loopback only; WebSocket handshakes must come from one of this server's
own origins (or carry no ``Origin``, as non-browser clients do); control requests from
a browser must too; the ``Host`` header must name this server (no DNS rebinding);
messages are capped at ``max_size`` bytes; only files under the mounts are served.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from devtools.faults import FaultServer, Peer
from devtools.static import ROOT, Mounts
from heartsock.server import Heartbeat, HeartbeatConnection

from .market import Market

__all__ = ["DemoServer", "PeerConnection"]

log = logging.getLogger("demo")

WWW = ROOT / "www"
MAX_SIZE = 64 * 1024
#: Close codes a client may ask the server to send (1005/1006/1015 cannot be sent).
SENDABLE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
_REVALIDATE = ("/pyodide/", "/pyscript/")  # big, versioned assets: cache, revalidate by ETag


class PeerConnection:
    """A fault-server peer as :mod:`heartsock.server` sees it (its ``Connection``).

    Sends obey the faults: nothing goes out once this connection is muted (the "go
    silent" control) or while the whole server is silent. Application messages are
    recorded on the peer, heartbeats only counted.
    """

    def __init__(self, peer: Peer, on_message: Callable[[Peer, str | bytes], None]) -> None:
        self.peer = peer
        self.muted = False
        self._on_message = on_message

    @property
    def silent(self) -> bool:
        """Whether this connection currently sends nothing."""
        return self.muted or self.peer.server.silent

    async def recv(self) -> str | bytes:
        message = await self.peer.connection.recv()
        if message == self.peer.server.ping_msg:
            self.peer.pings.append(asyncio.get_running_loop().time())
        else:
            self.peer.received.append(message)
            self._on_message(self.peer, message)
        return message

    async def send(self, message: str | bytes) -> None:
        if not self.silent:
            await self.peer.connection.send(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.peer.connection.close(code, reason)

    async def ping(self) -> Awaitable[float]:
        if self.silent:
            return asyncio.get_running_loop().create_future()  # a silent peer never answers
        return await self.peer.connection.ping()


@dataclass
class Received:
    """One application message a client sent, as ``/api/status`` reports it."""

    at: float
    peer: int
    route: str
    data: str

    def as_json(self) -> dict[str, Any]:
        return {"at": round(self.at, 3), "peer": self.peer, "route": self.route, "data": self.data}


class DemoServer:
    """Everything ``python -m demo`` serves, on one host and port.

    Args:
        host: the interface (loopback by default; anything else is your decision).
        port: the TCP port; 0 picks a free one (see :attr:`url` once started).
        ssl_context: serve ``https``/``wss`` with it.
        www: the directory served at ``/``.
        max_size: the largest WebSocket message accepted, in bytes.
        heartbeat: the server-side heartbeat settings of every demo endpoint.
        tick_period: seconds between two rounds of market ticks.
        extra_origins: more origins (``scheme://host:port``) allowed to connect.
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
    ) -> None:
        self.mounts = Mounts.standard(www=www)
        self.heartbeat = heartbeat or Heartbeat(timeout=30.0, probe_timeout=5.0)
        self.tick_period = tick_period
        self.market = Market()
        self.scheme = "https" if ssl_context else "http"
        self.extra_origins = extra_origins
        # Filled in by start() once the port is known; until then only clients that send
        # no Origin (non-browser tools) can connect: fail closed.
        self.origins: list[str | None] = [None]
        self.hosts: set[str] = set()
        self.received: deque[Received] = deque(maxlen=500)
        self.conns: dict[int, PeerConnection] = {}
        self.feed: set[HeartbeatConnection] = set()
        self.chat: set[HeartbeatConnection] = set()
        self.started_at = time.monotonic()
        self.restarts = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        #: ``/ws/<name>`` (canonical) and ``/<name>``; the fault server's own test
        #: routes (``/sink``, ``/silent``, ``/close/<code>``, ``/push/…``) stay too.
        self.endpoints: dict[str, Callable[[Peer], Awaitable[None]]] = {
            "echo": self._route(self._echo),
            "chat": self._route(self._chat),
            "feed": self._route(self._feed),
        }
        self.faults = FaultServer(
            host,
            port,
            routes={"ws": self._dispatch, **self.endpoints, "": self.endpoints["echo"]},
            http=self._http,
            origins=self.origins,
            max_size=max_size,
            ssl=ssl_context,
        )
        self._controls: dict[str, Callable[[dict[str, str]], Awaitable[dict[str, Any]]]] = {
            "drop": self._api_drop,
            "silent": self._api_silent,
            "refuse": self._api_refuse,
            "hang": self._api_hang,
            "close": self._api_close,
            "restart": self._api_restart,
        }

    # ---- life cycle --------------------------------------------------------------------
    async def start(self) -> None:
        """Listen, allow this server's own origins, and start the market."""
        await self.faults.start()
        port = self.faults.port
        names = {self.faults.host, "127.0.0.1", "localhost"}
        own = [f"{self.scheme}://{name}:{port}" for name in sorted(names)]
        self.origins[:] = [None, *own, *self.extra_origins]
        self.hosts = {urlsplit(origin).netloc for origin in own + list(self.extra_origins)}
        self._spawn(self._market())

    async def stop(self) -> None:
        """Stop the market and the listener, aborting every connection."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.faults.stop()

    @property
    def url(self) -> str:
        """The base URL of the pages, e.g. ``http://127.0.0.1:8000/``."""
        host = self.faults.host
        host = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{host}:{self.faults.port}/"

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- WebSocket endpoints ---------------------------------------------------------------
    def _route(self, app: Callable[[HeartbeatConnection], Awaitable[None]]) -> Callable[[Peer], Awaitable[None]]:
        handler = self.heartbeat.wrap(app)

        async def route(peer: Peer) -> None:
            conn = PeerConnection(peer, self._record)
            self.conns[peer.id] = conn
            try:
                await handler(conn)
            finally:
                self.conns.pop(peer.id, None)

        return route

    async def _dispatch(self, peer: Peer) -> None:
        endpoint = self.endpoints.get(_endpoint(peer.path))
        if endpoint is None:
            await peer.connection.close(1008, f"no endpoint {peer.path!r}; try /ws/echo, /ws/chat, /ws/feed")
            return
        await endpoint(peer)

    def _record(self, peer: Peer, message: str | bytes) -> None:
        data = message if isinstance(message, str) else f"<{len(message)} bytes>"
        self.received.append(Received(time.time(), peer.id, _endpoint(peer.path), data))

    @staticmethod
    def _peer(ws: HeartbeatConnection) -> Peer:
        connection = ws.connection
        assert isinstance(connection, PeerConnection)
        return connection.peer

    async def _echo(self, ws: HeartbeatConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async def _chat(self, ws: HeartbeatConnection) -> None:
        peer = self._peer(ws)
        self.chat.add(ws)
        try:
            await self._broadcast(self.chat, {"type": "joined", "peer": peer.id, "members": len(self.chat)})
            async for message in ws:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                await self._broadcast(self.chat, {"type": "chat", "from": peer.id, "text": text})
        finally:
            self.chat.discard(ws)

    async def _feed(self, ws: HeartbeatConnection) -> None:
        peer = self._peer(ws)
        hello = {"type": "hello", "peer": peer.id, "period": self.tick_period, "quotes": self.market.snapshot()}
        await ws.send(json.dumps(hello))
        self.feed.add(ws)
        try:
            async for message in ws:
                ack: dict[str, Any] = {"type": "ack", "peer": peer.id}
                try:
                    note = json.loads(message)
                except ValueError:
                    note = None
                if isinstance(note, dict):
                    ack["seq"] = note.get("seq")
                    ack["text"] = note.get("text")
                else:
                    ack["text"] = message if isinstance(message, str) else f"<{len(message)} bytes>"
                await ws.send(json.dumps(ack))
        finally:
            self.feed.discard(ws)

    async def _broadcast(self, members: set[HeartbeatConnection], message: dict[str, Any]) -> None:
        text = json.dumps(message)
        await asyncio.gather(*(self._send_quietly(ws, text) for ws in list(members)))

    @staticmethod
    async def _send_quietly(ws: HeartbeatConnection, text: str) -> None:
        try:
            await asyncio.wait_for(ws.send(text), 1.0)
        except (ConnectionClosed, TimeoutError):
            pass

    async def _market(self) -> None:
        """Publish a round of ticks every ``tick_period`` seconds, ticks 30 ms apart."""
        loop = asyncio.get_running_loop()
        next_round = loop.time()
        while True:
            for tick in self.market.round():
                if self.feed:
                    await self._broadcast(self.feed, tick)
                await asyncio.sleep(0.03)
            next_round += self.tick_period
            await asyncio.sleep(max(0.0, next_round - loop.time()))

    # ---- HTTP ----------------------------------------------------------------------------
    async def _http(self, connection: ServerConnection, request: Request) -> Response:
        host = request.headers.get("Host", "")
        if host not in self.hosts:
            return _text(421, "Misdirected Request", f"unknown Host {host!r}: this server serves its own address\n")
        path = urlsplit(request.path).path
        if path.startswith("/api/"):
            return await self._api(request, path[len("/api/") :])
        if request.method not in ("GET", "HEAD"):
            return _text(405, "Method Not Allowed", "files are read with GET\n", allow="GET, HEAD")
        return self._file(request)

    def _file(self, request: Request) -> Response:
        found = self.mounts.body(request.path)
        if found is None:
            return _text(404, "Not Found", "not found\n")
        content, ctype = found
        headers = _headers(ctype, len(content))
        resolved = self.mounts.resolve(request.path)
        path = urlsplit(request.path).path
        if resolved is not None and path.startswith(_REVALIDATE):
            stat = resolved.stat()
            etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
            headers["ETag"] = etag
            headers["Cache-Control"] = "no-cache"
            if request.headers.get("If-None-Match") == etag:
                del headers["Content-Length"]
                headers["Content-Length"] = "0"
                return Response(304, "Not Modified", headers, b"")
        else:
            headers["Cache-Control"] = "no-store"
        return Response(200, "OK", headers, b"" if request.method == "HEAD" else content)

    async def _api(self, request: Request, action: str) -> Response:
        query = {k: v[-1] for k, v in parse_qs(urlsplit(request.path).query).items()}
        if action == "status":
            if request.method != "GET":
                return _text(405, "Method Not Allowed", "status is read with GET\n", allow="GET")
            return _json(200, self.status())
        control = self._controls.get(action)
        if control is None:
            return _text(404, "Not Found", f"no control {action!r}\n")
        if request.method != "POST":
            return _text(405, "Method Not Allowed", "controls take POST\n", allow="POST")
        origin = request.headers.get("Origin")
        if origin is not None and origin not in self.origins:
            return _text(403, "Forbidden", f"Origin {origin!r} may not use the controls\n")
        try:
            result = await control(query)
        except ValueError as exc:
            return _json(400, {"error": str(exc)})
        log.info("control %s %s -> %s", action, query, result)
        return _json(200, result)

    def status(self) -> dict[str, Any]:
        """What ``GET /api/status`` answers."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        handshakes = {"accepted": 0, "refused": 0, "hung": 0}
        for _, _, outcome in self.faults.handshakes:
            handshakes[outcome] = handshakes.get(outcome, 0) + 1
        return {
            "listening": self.faults.listening,
            "url": self.url,
            "restarts": self.restarts,
            "refusing": len(self.faults._refuse),
            "handshakes": handshakes,
            "connections": [
                {
                    "peer": peer.id,
                    "path": peer.path,
                    "age": round(now - peer.opened_at, 3),
                    "heartbeats": len(peer.pings),
                    "messages": len(peer.received),
                    "silent": self.conns[peer.id].silent if peer.id in self.conns else False,
                }
                for peer in self.faults.live()
            ],
            "received": [r.as_json() for r in self.received],
        }

    # ---- fault controls ---------------------------------------------------------------------
    async def _api_drop(self, query: dict[str, str]) -> dict[str, Any]:
        return {"dropped": await self.faults.drop_all()}

    async def _api_silent(self, query: dict[str, str]) -> dict[str, Any]:
        muted = 0
        for conn in self.conns.values():
            if conn.peer.closed_at is None and not conn.muted:
                conn.muted = True
                muted += 1
        return {"silenced": muted}

    async def _api_refuse(self, query: dict[str, str]) -> dict[str, Any]:
        n = _int(query, "n", 1, 1, 20)
        self.faults.refuse_next(n)
        dropped = await self.faults.drop_all() if query.get("drop") == "1" else 0
        return {"refusing": len(self.faults._refuse), "dropped": dropped}

    async def _api_hang(self, query: dict[str, str]) -> dict[str, Any]:
        n = _int(query, "n", 1, 1, 20)
        self.faults.hang_next(n)
        dropped = await self.faults.drop_all() if query.get("drop") == "1" else 0
        return {"hanging": n, "dropped": dropped}

    async def _api_close(self, query: dict[str, str]) -> dict[str, Any]:
        code = _int(query, "code", 1000, 1000, 4999)
        if code not in SENDABLE_CODES and not 3000 <= code <= 4999:
            raise ValueError(f"code {code} cannot be sent in a close frame")
        reason = query.get("reason", "closed by the demo's control")
        if len(reason.encode()) > 123:
            raise ValueError("reason is longer than 123 bytes")
        return {"closed": await self.faults.close_all(code, reason), "code": code, "reason": reason}

    async def _api_restart(self, query: dict[str, str]) -> dict[str, Any]:
        down = _float(query, "down", 2.0, 0.1, 30.0)
        loop = asyncio.get_running_loop()
        # Answer first: the listener (and this very HTTP connection) goes away next.
        loop.call_later(0.05, self._spawn, self._restart(down))
        return {"down": down}

    async def _restart(self, down: float) -> None:
        await self.faults.stop()
        log.info("listener stopped for %.1fs", down)
        await asyncio.sleep(down)
        await self.faults.start()
        self.restarts += 1
        log.info("listener back on port %d", self.faults.port)


def _endpoint(path: str) -> str:
    """The endpoint name of a WebSocket path: ``/ws/feed?x=1`` → ``feed``, ``/`` → ``echo``."""
    parts = urlsplit(path).path.strip("/").split("/")
    if parts[0] == "ws":
        parts = parts[1:]
    return (parts[0] if parts else "") or "echo"


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


def _headers(ctype: str, length: int) -> Headers:
    return Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Type", ctype),
            ("Content-Length", str(length)),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
        ]
    )


def _text(status: int, phrase: str, text: str, allow: str | None = None) -> Response:
    body = text.encode()
    headers = _headers("text/plain; charset=utf-8", len(body))
    headers["Cache-Control"] = "no-store"
    if allow:
        headers["Allow"] = allow
    return Response(status, phrase, headers, body)


def _json(status: int, value: Any) -> Response:
    body = json.dumps(value).encode()
    headers = _headers("application/json", len(body))
    headers["Cache-Control"] = "no-store"
    return Response(status, "OK" if status == 200 else "Bad Request", headers, body)
