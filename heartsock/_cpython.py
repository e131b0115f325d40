"""The CPython runtime: heartsock's ``Socket`` over ``websockets``' asyncio client.

Outside a browser, ``heartsock.Socket`` runs on the running asyncio event loop with
``pip install heartsock[cpython]`` (which brings ``websockets``). The pure core and the
driver are the same as in the browser; only this seam differs.

Rules:

1. A socket is created inside a running event loop; every sink call happens on it.
2. Sends keep their order: each socket has one writer task that sends its queue in turn
   (``websockets``' ``send()`` is a coroutine); ``buffered_amount`` is what waits there.
3. An abandoned socket reports nothing more: its reader stops delivering at once, and its
   close (or its still-running handshake) finishes in the background.
4. A handshake that fails is reported as the browser would: an error, then close 1006.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from ._runtime import TransportSink, WatchSink
from .errors import UnsupportedError
from .wire import Data

__all__ = ["CPythonRuntime", "cpython_runtime"]

_CLOSE_WAIT = 5.0  # seconds an abandoned socket's close may take in the background


class _Conn:
    """One underlying ``websockets`` connection and its writer queue."""

    def __init__(self) -> None:
        self.ws: Any = None
        self.state = 0  # the browser's readyState: 0 connecting, 1 open, 3 closed
        self.outgoing: deque[Data] = deque()
        self.queued_bytes = 0
        self.wake = asyncio.Event()
        self.closing = False  # abandoned: the writer sends what is queued, then ends
        self.tasks: list[asyncio.Task[None]] = []


class CPythonTransport:
    """Opens ``websockets`` client connections on the running loop; reports to ``sink``."""

    def __init__(self, sink: TransportSink, max_size: int | None = 2**24) -> None:
        self._sink = sink
        self._loop = asyncio.get_running_loop()
        self._conns: dict[int, _Conn] = {}
        self._max_size = max_size
        self._background: set[asyncio.Task[Any]] = set()

    def open(self, socket_id: int, url: str, protocols: Sequence[str]) -> None:
        conn = _Conn()
        self._conns[socket_id] = conn
        conn.tasks.append(self._loop.create_task(self._run(socket_id, conn, url, tuple(protocols))))

    async def _run(self, socket_id: int, conn: _Conn, url: str, protocols: tuple[str, ...]) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        try:
            ws = await connect(
                url,
                subprotocols=list(protocols) or None,  # type: ignore[arg-type]
                open_timeout=None,  # the core's connect_timeout decides
                ping_interval=None,  # the heartbeat watches liveness
                max_size=self._max_size,
                compression=None,
            )
        except Exception as exc:
            if self._conns.get(socket_id) is conn:
                del self._conns[socket_id]
                self._sink.on_error(socket_id)
                why = f"the handshake failed: {exc}"  # unlike a browser, websockets says why
                self._sink.on_close(socket_id, 1006, why[:200], False)
            return
        if self._conns.get(socket_id) is not conn:  # abandoned while connecting
            await self._close_quietly(ws, 1000, "abandoned")
            return
        conn.ws, conn.state = ws, 1
        conn.tasks.append(self._loop.create_task(self._write(conn)))
        self._sink.on_open(socket_id, ws.subprotocol or "")
        try:
            async for message in ws:
                if self._conns.get(socket_id) is not conn:
                    return
                self._sink.on_message(socket_id, message)
        except ConnectionClosed:
            pass
        if self._conns.get(socket_id) is conn:
            del self._conns[socket_id]
            conn.state = 3
            rcvd = ws.protocol.close_rcvd  # the peer's close frame, if one arrived
            code = rcvd.code if rcvd is not None else 1006
            self._sink.on_close(socket_id, code, rcvd.reason if rcvd is not None else "", rcvd is not None)
        self._stop(conn)

    async def _write(self, conn: _Conn) -> None:
        while True:
            await conn.wake.wait()
            conn.wake.clear()
            while conn.outgoing:
                data = conn.outgoing[0]
                try:
                    await conn.ws.send(data)
                except Exception:
                    return  # closed: the reader reports the close
                conn.outgoing.popleft()
                conn.queued_bytes -= len(data)
            if conn.closing:
                return

    def send(self, socket_id: int, data: Data) -> None:
        conn = self._conns[socket_id]
        conn.outgoing.append(data)
        conn.queued_bytes += len(data)
        conn.wake.set()

    def abandon(self, socket_id: int, code: int, reason: str) -> None:
        conn = self._conns.pop(socket_id, None)
        if conn is None:
            return
        conn.state = 3
        if conn.ws is None:
            self._stop(conn)  # still connecting: cancel the handshake
            return
        self._spawn(self._close_after_writes(conn, code, reason))

    async def _close_after_writes(self, conn: _Conn, code: int, reason: str) -> None:
        """A browser's ``close()``: what was sent before goes out first (a session's goodbye too)."""
        writer = conn.tasks[1]
        conn.closing = True
        conn.wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(writer), _CLOSE_WAIT)
        except Exception:  # TimeoutError: stuck behind flow control
            writer.cancel()  # the close (or an abort) follows
        await self._close_quietly(conn.ws, code, reason)

    async def _close_quietly(self, ws: Any, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(ws.close(code, reason), _CLOSE_WAIT)
        except Exception:
            transport = getattr(ws, "transport", None)
            if transport is not None:
                transport.abort()

    def _spawn(self, coro: Any) -> None:
        task = self._loop.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _stop(self, conn: _Conn) -> None:
        current = asyncio.current_task()
        for task in conn.tasks:
            if task is not current:
                task.cancel()

    def ready_state(self, socket_id: int) -> int:
        conn = self._conns.get(socket_id)
        return conn.state if conn is not None else 3

    def buffered_amount(self, socket_id: int) -> int:
        conn = self._conns.get(socket_id)
        if conn is None:
            return 0
        transport = getattr(conn.ws, "transport", None)
        return conn.queued_bytes + (transport.get_write_buffer_size() if transport is not None else 0)

    def close(self) -> None:
        for socket_id in list(self._conns):
            self.abandon(socket_id, 1000, "destroyed")

    @property
    def live(self) -> int:
        """Connections this transport holds (connecting or open)."""
        return len(self._conns)


class LoopTimer:
    """One re-armable ``call_later`` on the running loop."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None

    def arm(self, delay: float) -> None:
        self.cancel()
        self._handle = self._loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._callback()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def close(self) -> None:
        self.cancel()


class AlwaysOnline:
    """No browser hints outside a browser: always online, never hidden."""

    online = True

    def close(self) -> None:
        """Nothing to release."""


class CPythonRuntime:
    """The :class:`~heartsock._runtime.Runtime` of a CPython asyncio program."""

    clock = staticmethod(time.monotonic)

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()

    def random(self) -> float:
        return random.random()

    def transport(self, sink: TransportSink) -> CPythonTransport:
        return CPythonTransport(sink)

    def timer(self, callback: Callable[[], None]) -> LoopTimer:
        return LoopTimer(callback)

    def watch(self, sink: WatchSink) -> AlwaysOnline:
        return AlwaysOnline()

    def report(self, error: BaseException, context: str) -> None:
        """Hand ``error`` to the loop's exception handler, as an uncaught callback error would go."""
        self._loop.call_exception_handler({"message": context, "exception": error})

    def live_proxies(self) -> int:
        return 0


def cpython_runtime() -> CPythonRuntime:
    """The CPython runtime, after checking that it can run here.

    Raises:
        UnsupportedError: ``websockets`` is not installed, or no asyncio loop is running.
    """
    try:
        import websockets  # noqa: F401
    except ImportError:
        raise UnsupportedError(
            "heartsock.Socket outside a browser runs on CPython's asyncio with the websockets "
            "package: pip install 'heartsock[cpython]'. In a browser it uses the browser's WebSocket "
            "(Pyodide, PyScript); in tests, pass runtime=heartsock.testing.FakeRuntime()."
        ) from None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise UnsupportedError(
            "heartsock.Socket on CPython runs on the running asyncio event loop: create it inside a "
            "coroutine (asyncio.run(main())), or use `async with heartsock.connect(url) as sock:`"
        ) from None
    return CPythonRuntime()
