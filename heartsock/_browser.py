"""The browser adapter: the only code in heartsock that touches ``js`` and proxies.

Rules:

1. Every ``create_proxy`` is paired with a ``destroy()``. A WebSocket's events reach
   Python through the page's batcher (``heartsock._page.PageInlet``: a few lines of
   JavaScript and two proxies for the whole page), as do timers and browser-hint
   listeners, all shared by every socket. Where the page cannot make JavaScript (a CSP
   without ``'unsafe-eval'``), a WebSocket gets four handler proxies of its own, made when
   it opens and destroyed when it retires (closed by the browser, or abandoned by heartsock).
2. A proxy is never destroyed while it is running: when a release happens inside a
   heartsock entry point (a handler, the timer), the proxies wait in a graveyard that a
   ``setTimeout(…, 0)`` once-callable empties right after.
3. A retired WebSocket has its handlers detached first, so none of its late events
   reaches Python; the core ignores stale socket ids anyway.
4. Every entry point from JavaScript catches exceptions and reports them (see
   :meth:`BrowserRuntime.report`): nothing escapes into the browser's event dispatch.
5. Binary data crosses the FFI in one copy each way (``Uint8Array.assign`` /
   ``ArrayBuffer.to_bytes()``), never byte by byte; a batch's binary messages cross
   together, in one buffer.

Nothing here imports ``js`` or ``pyodide`` at module import time, so ``import heartsock``
works on CPython; :func:`browser_runtime` raises :class:`~heartsock.UnsupportedError`
there instead.
"""

from __future__ import annotations

import logging
import random
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._runtime import TransportSink, WatchSink
from .errors import UnsupportedError
from .wire import Data

if TYPE_CHECKING:
    from ._page import PageTimer, PageWatch

__all__ = [
    "BrowserRuntime",
    "BrowserTransport",
    "browser_runtime",
    "in_browser",
    "report",
]

log = logging.getLogger("heartsock")


_depth = 0  # heartsock entry points currently on the stack
_graveyard: list[Any] = []
_reap_pending = False
_live_proxies = 0  # proxies made by heartsock and not yet destroyed


def in_browser() -> bool:
    """Whether this is Pyodide (Emscripten), where ``js`` exists."""
    return sys.platform == "emscripten"


def _js() -> Any:
    import js

    return js


def _entry(fn: Callable[..., None]) -> Callable[..., None]:
    """Wrap ``fn`` as a JavaScript entry point: count the depth, log what it raises."""

    def entry(*args: Any) -> None:
        global _depth
        _depth += 1
        try:
            fn(*args)
        except Exception as exc:
            report(exc, "heartsock: error in a browser event handler")
        finally:
            _depth -= 1

    return entry


def report(error: BaseException, context: str) -> None:
    """Show ``error`` as the page shows an uncaught exception in an event handler.

    In PyScript that is its error display, which draws what reaches ``sys.stderr``; in
    bare Pyodide (and its workers) it is ``console.error`` with the Python traceback.
    """
    text = context + "\n" + "".join(traceback.format_exception(type(error), error, error.__traceback__))
    if "pyscript" in sys.modules:
        sys.stderr.write(text)
    else:
        _js().console.error(text)


def _destroy(proxies: Sequence[Any]) -> None:
    global _live_proxies
    for proxy in proxies:
        proxy.destroy()
        _live_proxies -= 1


def _reap() -> None:
    global _reap_pending
    _reap_pending = False
    dead = _graveyard[:]
    _graveyard.clear()
    _destroy(dead)


def release(proxies: Sequence[Any]) -> None:
    """Destroy ``proxies`` now, or right after the running entry point returns."""
    global _reap_pending
    if _depth == 0:
        _destroy(proxies)
        return
    _graveyard.extend(proxies)
    if not _reap_pending:
        from pyodide.ffi import create_once_callable

        _reap_pending = True
        _js().setTimeout(create_once_callable(_reap), 0)


def _proxy(fn: Callable[..., None], entry: bool = True) -> Any:
    """A proxy of ``fn`` (wrapped as an entry point unless ``entry`` is false), counted."""
    global _live_proxies
    from pyodide.ffi import create_proxy

    proxy = create_proxy(_entry(fn) if entry else fn)
    _live_proxies += 1
    return proxy


class BrowserTransport:
    """Opens ``js.WebSocket``s; their events reach Python through the page's inlet.

    The inlet (:class:`heartsock._page.PageInlet`) batches received messages in a few
    lines of JavaScript and hands them over in one call per batch. Where JavaScript
    cannot be made (a Content-Security-Policy without ``'unsafe-eval'``), each socket gets
    its own four handler proxies instead, one call per message.
    """

    def __init__(self, sink: TransportSink) -> None:
        from ._page import INLET

        self._sink = sink
        self._sockets: dict[int, tuple[Any, Any]] = {}  # id -> (ws, inlet key or handler proxies)
        self._js = _js()
        self._inlet = INLET if INLET.available else None
        if self._inlet is not None:
            self._inlet.register()

    def open(self, socket_id: int, url: str, protocols: Sequence[str]) -> None:
        js, sink, sid = self._js, self._sink, socket_id
        if protocols:
            from pyodide.ffi import to_js

            ws = js.WebSocket.new(url, to_js(list(protocols)))
        else:
            ws = js.WebSocket.new(url)
        ws.binaryType = "arraybuffer"
        if self._inlet is not None:
            self._sockets[sid] = (ws, self._inlet.attach(ws, self, sid))
            return

        def onopen(event: Any) -> None:
            sink.on_open(sid, str(ws.protocol))

        def onmessage(event: Any) -> None:
            # The hot path: its own entry point (what _entry does, inlined), one call less.
            global _depth
            _depth += 1
            try:
                data = event.data
                sink.on_message(sid, data if type(data) is str else data.to_bytes())
            except Exception as exc:
                report(exc, "heartsock: error in a browser event handler")
            finally:
                _depth -= 1

        def onerror(event: Any) -> None:
            sink.on_error(sid)

        def onclose(event: Any) -> None:
            code, reason, clean = int(event.code), str(event.reason), bool(event.wasClean)
            self._retire(sid)
            sink.on_close(sid, code, reason, clean)

        proxies = [_proxy(onopen), _proxy(onmessage, entry=False), _proxy(onerror), _proxy(onclose)]
        ws.onopen, ws.onmessage, ws.onerror, ws.onclose = proxies
        self._sockets[sid] = (ws, proxies)

    def send(self, socket_id: int, data: Data) -> None:
        ws = self._sockets[socket_id][0]
        if type(data) is str:
            ws.send(data)
        else:
            buffer = self._js.Uint8Array.new(len(data))
            buffer.assign(data)
            ws.send(buffer)

    def batch(self, socket_id: int, messages: list[Data]) -> None:
        """The inlet's messages for ``socket_id``, in order."""
        self._sink.on_messages(socket_id, messages)

    def signal(self, socket_id: int, kind: int, text: str, code: int, clean: bool) -> None:
        """The inlet's other events: 0 opened (``text``: subprotocol), 1 error, 2 closed."""
        if kind == 0:
            self._sink.on_open(socket_id, text)
        elif kind == 1:
            self._sink.on_error(socket_id)
        else:
            self._retire(socket_id)
            self._sink.on_close(socket_id, code, text, clean)

    def _retire(self, socket_id: int) -> Any:
        entry = self._sockets.pop(socket_id, None)
        if entry is None:
            return None
        ws, handle = entry
        if self._inlet is not None:
            self._inlet.detach(handle, ws)
        else:
            ws.onopen = ws.onmessage = ws.onerror = ws.onclose = None
            release(handle)
        return ws

    def abandon(self, socket_id: int, code: int, reason: str) -> None:
        ws = self._retire(socket_id)
        if ws is not None:
            try:
                ws.close(code, reason)
            except Exception:  # already closing, or a code the browser refuses
                log.debug("socket %d: close(%d) failed", socket_id, code, exc_info=True)

    def ready_state(self, socket_id: int) -> int:
        entry = self._sockets.get(socket_id)
        return int(entry[0].readyState) if entry else 3

    def buffered_amount(self, socket_id: int) -> int:
        entry = self._sockets.get(socket_id)
        return int(entry[0].bufferedAmount) if entry else 0

    def close(self) -> None:
        for sid in list(self._sockets):
            self.abandon(sid, 1000, "destroyed")
        inlet, self._inlet = self._inlet, None
        if inlet is not None:
            inlet.unregister()

    @property
    def live(self) -> int:
        """Sockets this transport still holds (for leak checks)."""
        return len(self._sockets)


class BrowserRuntime:
    """The :class:`~heartsock._runtime.Runtime` of Pyodide in a browser (page or worker)."""

    # The builtin itself, not a method that calls it: read once per message.
    clock = staticmethod(time.monotonic)

    def random(self) -> float:
        return random.random()

    def transport(self, sink: TransportSink) -> BrowserTransport:
        return BrowserTransport(sink)

    def timer(self, callback: Callable[[], None]) -> PageTimer:
        from ._page import PageTimer

        return PageTimer(callback)

    def watch(self, sink: WatchSink) -> PageWatch:
        from ._page import PageWatch

        return PageWatch(sink)

    def report(self, error: BaseException, context: str) -> None:
        report(error, context)

    def live_proxies(self) -> int:
        return _live_proxies


def browser_runtime() -> BrowserRuntime:
    """The browser runtime, after checking that a global ``WebSocket`` exists.

    Raises:
        UnsupportedError: not in Pyodide, or ``globalThis.WebSocket`` is missing.
    """
    if not in_browser():
        raise UnsupportedError(
            "heartsock.Socket needs a browser's WebSocket: run it in Pyodide or PyScript "
            "(a page or a Web Worker). Under CPython, pass runtime=heartsock.testing.FakeRuntime() "
            "to drive it in tests."
        )
    if getattr(_js(), "WebSocket", None) is None:
        raise UnsupportedError(
            "this JavaScript global scope has no WebSocket (globalThis.WebSocket is undefined), "
            "so heartsock cannot connect; it runs where the browser provides WebSocket: "
            "a page or a Web Worker"
        )
    return BrowserRuntime()
