"""The MicroPython adapter: heartsock in PyScript's ``<script type="mpy">`` (MicroPython on WebAssembly).

The same :class:`~heartsock._runtime.Runtime` as ``heartsock._browser`` (Pyodide), over
MicroPython's FFI: the ``js`` module and ``jsffi.create_proxy``. What differs from Pyodide:

1. Proxies: ``jsffi.create_proxy`` makes a JavaScript function that calls Python; there is
   no ``destroy()`` — JavaScript's garbage collector frees it once nothing refers to it.
   So retiring a socket detaches its handlers (the WebSocket no longer refers to them)
   and drops heartsock's references; :meth:`MpyRuntime.live_proxies` counts the proxies
   heartsock still holds (four per live socket, one per armed timer, four per watch).
2. Binary data: MicroPython copies a ``Uint8Array`` into ``bytes`` (and back) element by
   element; there is no bulk copy. Binary messages work, at a cost per byte (see the
   README's runtime table); text messages cross as strings.
3. The clock is ``time.ticks_ms`` (MicroPython has no ``time.monotonic``), unwrapped into
   seconds since the first reading.
4. One ``setTimeout`` per socket's timer and one set of ``online``/``offline``/
   ``visibilitychange`` listeners per socket (Pyodide shares one per page).
5. JavaScript methods are called through one helper, ``target[method](...args)`` (see
   :func:`_call`): MicroPython's FFI sometimes gets ``this`` wrong in a method call.
6. Every entry point from JavaScript catches what it raises and reports it
   (:func:`report`): in PyScript on ``sys.stderr`` (its error display), elsewhere with
   ``console.error``.

Nothing here imports ``js`` at module import time.
"""

from __future__ import annotations

import io
import random
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from ._runtime import TransportSink, WatchSink
from .errors import UnsupportedError
from .wire import Data

__all__ = ["MpyRuntime", "in_micropython_browser", "mpy_runtime", "report"]

_MAX_TIMEOUT_MS = 2**31 - 1
_live = [0]  # proxies heartsock holds now


def in_micropython_browser() -> bool:
    """Whether this is MicroPython on WebAssembly (PyScript's ``mpy``), where ``js`` exists."""
    return sys.implementation.name == "micropython" and sys.platform == "webassembly"


def _js() -> Any:
    """``globalThis``."""
    import js

    return js.globalThis


_INVOKE: list[Any] = []


def _call(target: Any, method: str, *args: Any) -> Any:
    """``target[method](...args)``, with ``target`` as ``this``, through one JavaScript helper.

    MicroPython 1.28's FFI sometimes passes the first argument of a method call as ``this``
    (``ws.close(1000, "x")`` becomes ``close.call(1000, "x")``), and the browser's "Illegal
    invocation" then escapes Python's exception handling and wedges the interpreter. A
    plain call of this helper has no ``this`` to get wrong.
    """
    if not _INVOKE:
        import js

        _INVOKE.append(js.Function.new("t", "m", "...a", "return t[m](...a)"))
    return _INVOKE[0](target, method, *args)


def _proxy(fn: Callable[..., None]) -> Any:
    import jsffi  # type: ignore[import-not-found]

    def entry(*args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:
            report(exc, "heartsock: error in a browser event handler")

    _live[0] += 1
    return jsffi.create_proxy(entry)


def _forget(count: int) -> None:
    _live[0] -= count


def report(error: BaseException, context: str) -> None:
    """Show ``error`` as the page shows an uncaught exception (PyScript: ``sys.stderr``)."""
    buffer = io.StringIO()
    print_exception = getattr(sys, "print_exception", None)
    if print_exception is not None:
        print_exception(error, buffer)
    else:  # CPython (a test of this function): the standard traceback
        import traceback

        buffer.write("".join(traceback.format_exception(type(error), error, error.__traceback__)))
    text = context + "\n" + buffer.getvalue()
    if "pyscript" in sys.modules:
        sys.stderr.write(text)
    else:
        _call(_js().console, "error", text)


class _Clock:
    """Seconds since the first reading, from ``time.ticks_ms`` (unwrapped; read at least every few days)."""

    def __init__(self) -> None:
        ticks: Callable[[], int] = getattr(time, "ticks_ms")  # noqa: B009 - MicroPython only
        self._ticks = ticks
        self._diff: Callable[[int, int], int] = getattr(time, "ticks_diff")  # noqa: B009
        self._last = ticks()
        self._ms = 0

    def __call__(self) -> float:
        now = self._ticks()
        self._ms += self._diff(now, self._last)
        self._last = now
        return self._ms / 1000


class MpyTransport:
    """Opens ``js.WebSocket``s; four handler proxies per socket, dropped when it retires."""

    def __init__(self, sink: TransportSink) -> None:
        self._sink = sink
        self._sockets: dict[int, Any] = {}
        self._js = _js()

    def open(self, socket_id: int, url: str, protocols: Sequence[str]) -> None:
        js, sink, sid = self._js, self._sink, socket_id
        if protocols:
            import jsffi

            ws = _call(js.Reflect, "construct", js.WebSocket, jsffi.to_js([url, list(protocols)]))
        else:
            ws = js.WebSocket.new(url)
        ws.binaryType = "arraybuffer"
        uint8 = js.Uint8Array

        def onopen(event: Any) -> None:
            sink.on_open(sid, str(ws.protocol))

        def onmessage(event: Any) -> None:
            data = event.data
            sink.on_message(sid, data if type(data) is str else bytes(uint8.new(data)))

        def onerror(event: Any) -> None:
            sink.on_error(sid)

        def onclose(event: Any) -> None:
            code, reason, clean = int(event.code), str(event.reason), bool(event.wasClean)
            self._retire(sid)
            sink.on_close(sid, code, reason, clean)

        ws.onopen = _proxy(onopen)
        ws.onmessage = _proxy(onmessage)
        ws.onerror = _proxy(onerror)
        ws.onclose = _proxy(onclose)
        self._sockets[sid] = ws

    def send(self, socket_id: int, data: Data) -> None:
        ws = self._sockets[socket_id]
        _call(ws, "send", data if type(data) is str else self._js.Uint8Array.new(data))

    def _retire(self, socket_id: int) -> Any:
        ws = self._sockets.pop(socket_id, None)
        if ws is None:
            return None
        ws.onopen = ws.onmessage = ws.onerror = ws.onclose = None
        _forget(4)
        return ws

    def abandon(self, socket_id: int, code: int, reason: str) -> None:
        ws = self._retire(socket_id)
        if ws is not None:
            try:
                _call(ws, "close", code, reason)
            except Exception:  # already closing, or a code the browser refuses
                pass

    def ready_state(self, socket_id: int) -> int:
        ws = self._sockets.get(socket_id)
        return int(ws.readyState) if ws is not None else 3

    def buffered_amount(self, socket_id: int) -> int:
        ws = self._sockets.get(socket_id)
        return int(ws.bufferedAmount) if ws is not None else 0

    def close(self) -> None:
        for sid in list(self._sockets):
            self.abandon(sid, 1000, "destroyed")

    @property
    def live(self) -> int:
        """Sockets this transport still holds (for leak checks)."""
        return len(self._sockets)


class MpyTimer:
    """A :class:`~heartsock._runtime.Timer` on its own ``setTimeout`` (one proxy while armed)."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._handle: Any = None
        self._proxy: Any = None

    def _fire(self) -> None:
        self._handle = None
        self._callback()

    def arm(self, delay: float) -> None:
        js = _js()
        if self._proxy is None:
            self._proxy = _proxy(self._fire)
        if self._handle is not None:
            _call(js, "clearTimeout", self._handle)
        ms = int(delay * 1000 + 0.999)
        self._handle = _call(js, "setTimeout", self._proxy, min(_MAX_TIMEOUT_MS, max(0, ms)))

    def cancel(self) -> None:
        if self._handle is not None:
            _call(_js(), "clearTimeout", self._handle)
            self._handle = None

    def close(self) -> None:
        self.cancel()
        if self._proxy is not None:
            self._proxy = None
            _forget(1)


class MpyWatch:
    """A :class:`~heartsock._runtime.Watch`: this socket's own hint listeners."""

    def __init__(self, sink: WatchSink) -> None:
        js = _js()
        self._navigator = getattr(js, "navigator", None)
        document = getattr(js, "document", None)

        def visibility(event: Any) -> None:
            if document is not None and str(document.visibilityState) == "visible":
                sink.on_visible()

        targets: list[tuple[Any, str, Callable[[Any], None]]] = [
            (js, "online", lambda event: sink.on_online()),
            (js, "offline", lambda event: sink.on_offline()),
            (js, "pageshow", lambda event: sink.on_visible()),
        ]
        if document is not None:
            targets.append((document, "visibilitychange", visibility))
        self._listeners: list[tuple[Any, str, Any]] = []
        for target, kind, fn in targets:
            proxy = _proxy(fn)
            _call(target, "addEventListener", kind, proxy)
            self._listeners.append((target, kind, proxy))

    @property
    def online(self) -> bool:
        return self._navigator is None or bool(getattr(self._navigator, "onLine", True))

    def close(self) -> None:
        listeners, self._listeners = self._listeners, []
        for target, kind, proxy in listeners:
            _call(target, "removeEventListener", kind, proxy)
        _forget(len(listeners))


class MpyRuntime:
    """The :class:`~heartsock._runtime.Runtime` of MicroPython in a browser page (PyScript ``mpy``)."""

    def __init__(self) -> None:
        self.clock = _Clock()

    def random(self) -> float:
        return random.random()

    def transport(self, sink: TransportSink) -> MpyTransport:
        return MpyTransport(sink)

    def timer(self, callback: Callable[[], None]) -> MpyTimer:
        return MpyTimer(callback)

    def watch(self, sink: WatchSink) -> MpyWatch:
        return MpyWatch(sink)

    def report(self, error: BaseException, context: str) -> None:
        report(error, context)

    def live_proxies(self) -> int:
        return _live[0]


_RUNTIME: list[MpyRuntime] = []


def mpy_runtime() -> MpyRuntime:
    """The page's MicroPython runtime (one clock for every socket), after checking for ``WebSocket``.

    Raises:
        UnsupportedError: not MicroPython in a browser, or ``globalThis.WebSocket`` is missing.
    """
    if not in_micropython_browser():
        raise UnsupportedError("heartsock's MicroPython runtime runs in MicroPython on WebAssembly (PyScript mpy)")
    if getattr(_js(), "WebSocket", None) is None:
        raise UnsupportedError(
            "this JavaScript global scope has no WebSocket (globalThis.WebSocket is undefined), "
            "so heartsock cannot connect"
        )
    if not _RUNTIME:
        _RUNTIME.append(MpyRuntime())
    return _RUNTIME[0]
