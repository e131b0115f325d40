"""The benchmark's servers: a WebSocket server built for speed, and the pages' HTTP server.

:class:`FastServer` speaks just enough RFC 6455 for the benchmarks, on raw asyncio
transports, so that the server is never what limits a measurement:

* ``/push/<count>/<size>`` (text) and ``/pushbin/<count>/<size>`` (binary): on the text
  message ``"go"`` it frames one message, repeats the frame ``count`` times in memory and
  hands the whole burst to the kernel in one write, then sends ``"done"``.
* ``/count/<n>``: counts the data messages it receives (``"ping"`` excepted), checks that
  message ``i`` is ``f"{i:016d}"``, and answers ``"got:<json>"`` once it holds ``n``.
* ``/echo``: sends every data message straight back.

Every route answers the heartbeat ``"ping"`` with ``"pong"``. The server times the CPU it
spends on each connection (``busy_s``) so a run can show it was mostly idle, and records
per-route statistics in :attr:`FastServer.stats`.

:class:`BenchHttp` serves the pages (``devtools.static.Mounts``) with the headers that
make them cross-origin isolated, which gives ``performance.now()`` 5 µs resolution
instead of 100 µs, and answers ``/ctl/<name>`` by calling a registered host function:
pages use it to inject faults and timestamp them on their own clock.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.server
import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from websockets.speedups import apply_mask

from devtools.static import Mounts, MountsHandler

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
_CHUNK = 1 << 20  # bytes handed to the transport at a time
_HIGH_WATER = 4 << 20  # transport buffer size at which writing pauses


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked (server → client) frame with FIN set."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
    return head + payload


def seq(i: int) -> bytes:
    """The payload of message ``i`` in ordered-send benchmarks (16 ASCII digits)."""
    return b"%016d" % i


class _Conn(asyncio.Protocol):
    """One WebSocket connection of :class:`FastServer`."""

    def __init__(self, server: FastServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.route = ""
        self.args: list[str] = []
        self.open = False
        self.busy = 0.0
        self.frag_op = 0
        self.frag: list[bytes] = []
        # /count state
        self.count = 0
        self.expect = 0
        self.broken_at: int | None = None
        self.t_first = 0.0
        # /push state
        self.paused = False
        self.burst = memoryview(b"")
        self.burst_pos = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.conns.discard(self)

    def data_received(self, data: bytes) -> None:
        t0 = time.perf_counter()
        self.buf += data
        if not self.open:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).decode("latin-1")
            del self.buf[: end + 4]
            if not self._handshake(head):
                return
        self._frames()
        self.busy += time.perf_counter() - t0

    def _handshake(self, head: str) -> bool:
        assert self.transport is not None
        lines = head.split("\r\n")
        path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        key = headers.get("sec-websocket-key")
        parts = urlsplit(path).path.strip("/").split("/")
        if self.server.refuse or key is None or parts[0] not in ("push", "pushbin", "count", "echo"):
            self.transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.transport.close()
            return False
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        self.transport.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        self.route, self.args, self.open = parts[0], parts[1:], True
        if self.route in ("push", "pushbin"):
            self._prepare_burst()
        return True

    def _frames(self) -> None:
        buf = self.buf
        n = len(buf)
        pos = 0
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            hp = pos + 2
            if length == 126:
                if n - hp < 2:
                    break
                length = int.from_bytes(buf[hp : hp + 2], "big")
                hp += 2
            elif length == 127:
                if n - hp < 8:
                    break
                length = int.from_bytes(buf[hp : hp + 8], "big")
                hp += 8
            mask = b""
            if b1 & 0x80:
                if n - hp < 4:
                    break
                mask = bytes(buf[hp : hp + 4])
                hp += 4
            if n - hp < length:
                break
            payload = bytes(buf[hp : hp + length])
            if mask:
                payload = apply_mask(payload, mask)
            pos = hp + length
            opcode = b0 & 0x0F
            if opcode == OP_CONT or not b0 & 0x80:  # fragmented message
                if opcode != OP_CONT:
                    self.frag_op, self.frag = opcode, []
                self.frag.append(payload)
                if b0 & 0x80:
                    self._message(self.frag_op, b"".join(self.frag))
                continue
            if opcode in (OP_TEXT, OP_BINARY):
                self._message(opcode, payload)
            elif opcode == OP_PING:
                self._write(frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self._write(frame(OP_CLOSE, payload[:2]))
                if self.transport is not None:
                    self.transport.close()
                break
        del buf[:pos]

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _message(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_TEXT and payload == b"ping":
            self._write(frame(OP_TEXT, b"pong"))
            return
        route = self.route
        if route == "echo":
            self._write(frame(opcode, payload))
            self.count += 1
            if self.count % 100 == 0:
                self.server.stats["echo"] = {"count": self.count, "busy_s": self.busy}
        elif route == "count":
            if self.count == 0:
                self.t_first = time.perf_counter()
            if self.broken_at is None and payload != seq(self.expect):
                self.broken_at = self.count
            self.expect += 1
            self.count += 1
            if self.count == int(self.args[0]):
                stats = {
                    "count": self.count,
                    "in_order": self.broken_at is None,
                    "broken_at": self.broken_at,
                    "busy_s": self.busy,  # CPU time before this call; the last chunk adds microseconds
                    "first_to_last_s": time.perf_counter() - self.t_first,
                }
                self.server.stats["count"] = stats
                self._write(frame(OP_TEXT, b"got:" + json.dumps(stats).encode()))
        elif route in ("push", "pushbin") and opcode == OP_TEXT and payload == b"go":
            self._start_burst()

    # ---- /push: the burst is framed at handshake time and written under flow control ----
    def _prepare_burst(self) -> None:
        count, size = int(self.args[0]), int(self.args[1])
        t0 = time.perf_counter()
        one = frame(OP_BINARY if self.route == "pushbin" else OP_TEXT, b"x" * size)
        self.burst = memoryview(one * count)
        self.burst_pos = -1  # not started
        self.burst_stats: dict[str, Any] = {"count": count, "size": size, "bytes": len(self.burst)}
        self.burst_stats["frame_s"] = time.perf_counter() - t0

    def _start_burst(self) -> None:
        assert self.transport is not None
        self.transport.set_write_buffer_limits(high=_HIGH_WATER)
        self.burst_pos = 0
        self.burst_t0 = time.perf_counter()
        self.burst_busy = 0.0
        self._pump_burst()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if 0 <= self.burst_pos < len(self.burst):
            self._pump_burst()

    def _pump_burst(self) -> None:
        assert self.transport is not None
        t0 = time.perf_counter()
        burst, end = self.burst, len(self.burst)
        while self.burst_pos < end and not self.paused and not self.transport.is_closing():
            chunk = burst[self.burst_pos : self.burst_pos + _CHUNK]
            self.transport.write(chunk)
            self.burst_pos += len(chunk)
        if self.burst_pos >= end:
            self._write(frame(OP_TEXT, b"done"))
            self.burst_pos = end + 1
            t1 = time.perf_counter()
            self.burst_busy += t1 - t0
            stats = dict(self.burst_stats)
            stats["written_s"] = t1 - self.burst_t0  # until the last byte was handed to the kernel
            stats["busy_s"] = self.burst_busy  # CPU the server spent writing
            self.server.stats[self.route] = stats
        else:
            self.burst_busy += time.perf_counter() - t0


class FastServer:
    """The benchmark WebSocket server on its own asyncio loop in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.refuse = False
        self.conns: set[_Conn] = set()
        self.stats: dict[str, dict[str, Any]] = {}
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fastws", daemon=True)
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        self._server: asyncio.AbstractServer = fut.result(10)
        self.port: int = self._server.sockets[0].getsockname()[1]

    async def _start(self) -> asyncio.AbstractServer:
        return await self.loop.create_server(lambda: _Conn(self), self.host, 0)

    def url(self, path: str) -> str:
        return f"ws://{self.host}:{self.port}{path}"

    def busy(self) -> float:
        """CPU seconds spent on the live connections so far."""
        return sum(c.busy for c in list(self.conns))

    def drop_all(self) -> None:
        def drop() -> None:
            for conn in list(self.conns):
                if conn.transport is not None:
                    conn.transport.abort()

        self.loop.call_soon_threadsafe(drop)

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            for conn in list(self.conns):
                if conn.transport is not None:
                    conn.transport.abort()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def loopback_push_rate(server: FastServer, count: int, size: int, route: str = "push") -> dict[str, float]:
    """How fast the server plus loopback TCP deliver a ``/push`` burst to a plain socket reader.

    A CPython client does the handshake, sends ``"go"`` and reads bytes until the burst and
    ``"done"`` arrived: the rate no browser variant can exceed because of the server.
    """
    import os
    import socket

    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(
            (
                f"GET /{route}/{count}/{size} HTTP/1.1\r\nHost: {server.host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        rest = head.split(b"\r\n\r\n", 1)[1]
        mask = os.urandom(4)
        go = bytes((0x81, 0x80 | 2)) + mask + apply_mask(b"go", mask)
        want = len(frame(OP_TEXT, b"x" * size)) * count + len(frame(OP_TEXT, b"done"))
        t0 = time.perf_counter()
        sock.sendall(go)
        got = len(rest)
        bufsize = 1 << 20
        while got < want:
            chunk = sock.recv(bufsize)
            if not chunk:
                break
            got += len(chunk)
        elapsed = time.perf_counter() - t0
    return {"count": count, "size": size, "seconds": elapsed, "msgs_per_s": count / elapsed, "bytes": got}


# ---- HTTP: pages + control ---------------------------------------------------------------
Control = Callable[[dict[str, Any]], Any]


class _Handler(MountsHandler):
    controls: dict[str, Control]
    isolate: bool

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = unquote(urlsplit(self.path).path)
        if path.startswith("/ctl/"):
            self._control(path[len("/ctl/") :], dict(parse_qsl(urlsplit(self.path).query)))
            return
        super().do_GET()

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        path = unquote(urlsplit(self.path).path)
        if not path.startswith("/ctl/"):
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length") or 0)
        query: dict[str, Any] = dict(parse_qsl(urlsplit(self.path).query))
        query["body"] = json.loads(self.rfile.read(length) or b"null")
        self._control(path[len("/ctl/") :], query)

    def extra_headers(self) -> None:
        if self.isolate:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Cross-Origin-Resource-Policy", "same-origin")

    def _control(self, name: str, query: dict[str, Any]) -> None:
        fn = self.controls.get(name)
        if fn is None:
            self.send_error(404)
            return
        try:
            body = json.dumps({"ok": True, "result": fn(query)}).encode()
        except Exception as exc:  # reported to the page, which raises
            body = json.dumps({"ok": False, "error": repr(exc)}).encode()
        self.reply(body, "application/json")

    def log_message(self, format: str, *args: object) -> None:
        pass


class BenchHttp:
    """Threaded HTTP on 127.0.0.1: the standard mounts, cross-origin isolated, plus ``/ctl/``."""

    def __init__(self, mounts: Mounts | None = None, *, isolate: bool = True) -> None:
        self.controls: dict[str, Control] = {}
        attrs = {"mounts": mounts or Mounts.standard(), "controls": self.controls, "isolate": isolate}
        handler = type("Handler", (_Handler,), attrs)
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="benchhttp", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def control(self, name: str, fn: Control) -> None:
        """Answer ``GET /ctl/<name>?k=v`` with ``{"ok": true, "result": fn({"k": "v"})}``."""
        self.controls[name] = fn

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
