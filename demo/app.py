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

Safe defaults: loopback only; every request's ``Host`` must name this server (no DNS
rebinding); WebSocket handshakes must come from a page this machine serves on loopback
(any port) or carry no ``Origin``, as non-browser clients do; fault controls answer
this server's own pages only; every refusal is logged with its reason and its fix
(:mod:`demo.gate`); messages are capped at ``max_size`` bytes; only files under the
mounts are served; only the demo's endpoints are mounted (none of the fault server's
test routes).
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import http
import json
import logging
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from devtools.faults import FaultServer, Peer, Route
from devtools.static import ROOT, Mounts
from heartsock.server import Heartbeat, HeartbeatConnection
from heartsock.wire import CLOSE_POLICY_VIOLATION, Data

from .gate import Gate
from .market import Market

__all__ = ["Client", "DemoServer", "Listener"]

log = logging.getLogger("demo")

WWW = ROOT / "www"
MAX_SIZE = 64 * 1024
#: Close codes a client may ask the server to send (1005/1006/1015 cannot be sent).
SENDABLE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
_REVALIDATE = ("/pyodide/", "/pyscript/")  # big, versioned assets: cache, revalidate by ETag


class Listener(FaultServer):
    """The fault server with the :class:`~demo.gate.Gate` in front of every request, and
    the demo's heartbeat settings (``heartbeat``: its silence watchdog included).

    heartsock.server answers every heartbeat (the fault server wraps each connection in
    it and records heartbeats through ``on_ping``). Only ``routes`` are mounted: the fault
    server's test routes (``/sink``, ``/push/…`` …) are not.
    """

    def __init__(
        self, host: str, port: int, *, gate: Gate, heartbeat: Heartbeat, routes: dict[str, Route], **kwargs: Any
    ) -> None:
        super().__init__(host, port, routes=routes, origins=None, **kwargs)  # the gate checks origins
        self.routes = dict(routes)
        self.heartbeat = dataclasses.replace(heartbeat, on_ping=self._on_ping)
        self.gate = gate

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        path = _shown(request.path)
        what = f"WebSocket handshake for {path}" if websocket else f"request for {path}"
        refusal = self.gate.check_host(_single(request.headers, "Host"), what)
        if refusal is None and websocket:
            refusal = self.gate.check_handshake(_single(request.headers, "Origin"), path)
        if refusal is not None:
            log.warning("%s", refusal.message)
            return _text(refusal.status, refusal.message + "\n")
        response = await super()._process_request(connection, request)
        if websocket and response is not None:
            if response.status_code == 404:
                log.warning("404: no WebSocket endpoint at %s; use /ws/echo, /ws/chat or /ws/feed", path)
            else:  # refused or released by a fault the user injected
                log.info("%d: WebSocket handshake for %s (fault injection)", response.status_code, path)
        return response


def _shown(path: str, limit: int = 120) -> str:
    """``path`` for a log line: at most ``limit`` characters."""
    return path if len(path) <= limit else path[: limit - 1] + "…"


def _single(headers: Headers, name: str) -> str | None:
    """The value of header ``name``; ``""`` (never allowed) when it is repeated."""
    values = headers.get_all(name)
    if not values:
        return None
    return values[0] if len(values) == 1 else ""


class Client:
    """One accepted connection as the demo sees it: the fault server's peer, already
    behind :mod:`heartsock.server` (:attr:`ws` never yields a heartbeat), plus the demo's
    own state: muted or not, and how many application messages it sent.

    Sends obey the faults: nothing goes out once this connection is muted (the "go
    silent" control: its heartbeats go unanswered too) or while the whole server is silent.
    """

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.muted = False
        self.messages = 0

    @property
    def ws(self) -> HeartbeatConnection:
        """The connection, heartbeats answered and filtered out by heartsock.server."""
        return self.peer.connection

    @property
    def silent(self) -> bool:
        """Whether this connection currently sends nothing."""
        return self.muted or self.peer.server.silent

    def mute(self) -> None:
        """Go half-open: keep TCP, answer nothing, heartbeats included."""
        self.muted = True
        self.peer.answer_pings = False
        self.ws.answering = False

    async def send(self, message: Data) -> None:
        if not self.silent:
            await self.ws.send(message)


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
        extra_origins: more origins (``scheme://host[:port]``) allowed to connect and to use
            the controls, whose hosts may also be named in ``Host`` (``--allow-origin``).

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
    ) -> None:
        self.mounts = Mounts.standard(www=www)
        self.heartbeat = heartbeat or Heartbeat(timeout=30.0, probe_timeout=5.0)
        self.tick_period = tick_period
        self.market = Market()
        self.scheme = "https" if ssl_context else "http"
        self.gate = Gate(self.scheme, host, extra_origins)
        self.received: deque[Received] = deque(maxlen=500)
        self.conns: dict[int, Client] = {}
        self.feed: set[Client] = set()
        self.chat: set[Client] = set()
        self.started_at = time.monotonic()
        self.restarts = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        #: ``/ws/<name>`` (canonical) and ``/<name>``, nothing else.
        self.endpoints: dict[str, Callable[[Peer], Awaitable[None]]] = {
            "echo": self._route(self._echo),
            "chat": self._route(self._chat),
            "feed": self._route(self._feed),
        }
        self.faults = Listener(
            host,
            port,
            gate=self.gate,
            heartbeat=self.heartbeat,
            routes={"ws": self._dispatch, **self.endpoints, "": self.endpoints["echo"]},
            http=self._http,
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
        """Listen, tell the gate the port, and start the market."""
        await self.faults.start()
        self.gate.port = self.faults.port
        self.gate.url = self.url
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
    def _route(self, app: Callable[[Client], Awaitable[None]]) -> Callable[[Peer], Awaitable[None]]:
        async def route(peer: Peer) -> None:
            client = Client(peer)
            self.conns[peer.id] = client
            try:
                await app(client)
            finally:
                self.conns.pop(peer.id, None)

        return route

    async def _messages(self, client: Client) -> AsyncIterator[Data]:
        """The client's application messages, each recorded for ``/api/status``."""
        async for message in client.ws:
            client.messages += 1
            self._record(client.peer, message)
            yield message

    async def _dispatch(self, peer: Peer) -> None:
        endpoint = self.endpoints.get(_endpoint(peer.path))
        if endpoint is None:
            reason = f"no endpoint {peer.path[:48]!r}; try /ws/echo, /ws/chat, /ws/feed"  # at most 123 bytes
            await peer.connection.close(CLOSE_POLICY_VIOLATION, reason)
            return
        await endpoint(peer)

    def _record(self, peer: Peer, message: Data) -> None:
        data = message if isinstance(message, str) else f"<{len(message)} bytes>"
        self.received.append(Received(time.time(), peer.id, _endpoint(peer.path), data))

    async def _echo(self, client: Client) -> None:
        async for message in self._messages(client):
            await client.send(message)

    async def _chat(self, client: Client) -> None:
        peer = client.peer
        self.chat.add(client)
        try:
            await self._broadcast(self.chat, {"type": "joined", "peer": peer.id, "members": len(self.chat)})
            async for message in self._messages(client):
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                await self._broadcast(self.chat, {"type": "chat", "from": peer.id, "text": text})
        finally:
            self.chat.discard(client)

    async def _feed(self, client: Client) -> None:
        peer = client.peer
        hello = {"type": "hello", "peer": peer.id, "period": self.tick_period, "quotes": self.market.snapshot()}
        await client.send(json.dumps(hello))
        self.feed.add(client)
        try:
            async for message in self._messages(client):
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
                await client.send(json.dumps(ack))
        finally:
            self.feed.discard(client)

    async def _broadcast(self, members: set[Client], message: dict[str, Any]) -> None:
        text = json.dumps(message)
        await asyncio.gather(*(self._send_quietly(client, text) for client in list(members)))

    @staticmethod
    async def _send_quietly(client: Client, text: str) -> None:
        try:
            await asyncio.wait_for(client.send(text), 1.0)
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
        """Pages, assets and the API; the :class:`Listener` checked ``Host`` already."""
        path = urlsplit(request.path).path
        if path.startswith("/api/"):
            return await self._api(request, path[len("/api/") :])
        if request.method not in ("GET", "HEAD"):
            return _text(405, "files are read with GET\n", allow="GET, HEAD")
        return self._file(request)

    def _file(self, request: Request) -> Response:
        found = self.mounts.body(request.path)
        if found is None:
            return _text(404, "not found\n")
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
                return _text(405, "status is read with GET\n", allow="GET")
            return _json(200, self.status())
        control = self._controls.get(action)
        if control is None:
            return _text(404, f"no control {action!r}\n")
        if request.method != "POST":
            return _text(405, "controls take POST\n", allow="POST")
        refusal = self.gate.check_control(_single(request.headers, "Origin"), f"/api/{action}")
        if refusal is not None:
            log.warning("%s", refusal.message)
            return _text(refusal.status, refusal.message + "\n")
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
                    "messages": client.messages,
                    "silent": client.silent,
                }
                for peer in self.faults.live()
                if (client := self.conns.get(peer.id)) is not None
            ],
            "received": [r.as_json() for r in self.received],
        }

    # ---- fault controls ---------------------------------------------------------------------
    async def _api_drop(self, query: dict[str, str]) -> dict[str, Any]:
        return {"dropped": await self.faults.drop_all()}

    async def _api_silent(self, query: dict[str, str]) -> dict[str, Any]:
        muted = 0
        for client in self.conns.values():
            if client.peer.closed_at is None and not client.muted:
                client.mute()
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


def _text(status: int, text: str, allow: str | None = None) -> Response:
    body = text.encode()
    headers = _headers("text/plain; charset=utf-8", len(body))
    headers["Cache-Control"] = "no-store"
    if allow:
        headers["Allow"] = allow
    return Response(status, http.HTTPStatus(status).phrase, headers, body)


def _json(status: int, value: Any) -> Response:
    body = json.dumps(value).encode()
    headers = _headers("application/json", len(body))
    headers["Cache-Control"] = "no-store"
    return Response(status, http.HTTPStatus(status).phrase, headers, body)
