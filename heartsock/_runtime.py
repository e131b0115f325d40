"""The seam between :class:`~heartsock.Socket` and the world it runs in.

A :class:`Runtime` bundles what the driver needs from its host: a clock, a source of
randomness, a way to report exceptions raised by user code, a transport that opens
WebSockets, one re-armable timer and a watcher for browser hints (online/offline, page
visibility). The browser's runtime lives in ``heartsock._browser`` (Pyodide) and
``heartsock._mpy`` (MicroPython, PyScript ``mpy``), the only modules that touch ``js``
and proxies; CPython's in ``heartsock._cpython``; a fully controllable one for CPython
tests in :mod:`heartsock.testing`. :func:`default_runtime` picks one for the host.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Protocol

from .wire import Data

__all__ = [
    "Runtime",
    "Timer",
    "Transport",
    "TransportSink",
    "Watch",
    "WatchSink",
    "default_runtime",
    "default_timer",
    "runtime_name",
]


class TransportSink(Protocol):
    """Where a transport reports what happens to the sockets it opened."""

    def on_open(self, socket_id: int, protocol: str = "") -> None:
        """Socket ``socket_id`` opened; ``protocol`` is the subprotocol the server chose (``""``: none)."""

    def on_message(self, socket_id: int, data: Data) -> None:
        """Socket ``socket_id`` received ``data`` (``str`` for text, ``bytes`` for binary)."""

    def on_messages(self, socket_id: int, batch: list[Data]) -> None:
        """Socket ``socket_id`` received every message of ``batch``, in order."""

    def on_error(self, socket_id: int) -> None:
        """The browser reported an error on socket ``socket_id``."""

    def on_close(self, socket_id: int, code: int, reason: str, was_clean: bool) -> None:
        """Socket ``socket_id`` closed (the browser's close event)."""


class Transport(Protocol):
    """Opens, writes to and abandons underlying WebSockets, each known by an id."""

    def open(self, socket_id: int, url: str, protocols: Sequence[str]) -> None:
        """Start opening a WebSocket; raise if it cannot even be created."""

    def send(self, socket_id: int, data: Data) -> None:
        """Write one message (text for ``str``, binary for ``bytes``)."""

    def abandon(self, socket_id: int, code: int, reason: str) -> None:
        """Detach the socket's handlers, try to close it, release it; no event follows."""

    def ready_state(self, socket_id: int) -> int:
        """The socket's ``readyState`` (3 = CLOSED when unknown)."""

    def buffered_amount(self, socket_id: int) -> int:
        """The socket's ``bufferedAmount`` (0 when unknown)."""

    def close(self) -> None:
        """Release everything (called once, by ``destroy()``)."""

    @property
    def live(self) -> int:
        """How many underlying sockets the transport holds now."""


class Timer(Protocol):
    """One re-armable timer: at most one pending wake-up at a time."""

    def arm(self, delay: float) -> None:
        """Call the timer's callback in ``delay`` seconds, replacing any pending call."""

    def cancel(self) -> None:
        """Drop the pending call, if any."""

    def close(self) -> None:
        """Cancel and release the timer for good."""


class WatchSink(Protocol):
    """Where a :class:`Watch` reports browser hints."""

    def on_offline(self) -> None:
        """The browser fired ``offline``."""

    def on_online(self) -> None:
        """The browser fired ``online``."""

    def on_visible(self) -> None:
        """The page became visible (``visibilitychange``, ``pageshow``)."""


class Watch(Protocol):
    """Listens for online/offline and visibility changes until closed."""

    @property
    def online(self) -> bool:
        """Whether the host believes it is online now."""

    def close(self) -> None:
        """Stop listening and release the listeners."""


class Runtime(Protocol):
    """Everything a :class:`~heartsock.Socket` needs from its host."""

    def clock(self) -> float:
        """Seconds on a monotonic clock."""

    def random(self) -> float:
        """A float in ``[0, 1)`` (jitter)."""

    def transport(self, sink: TransportSink) -> Transport:
        """A new transport reporting to ``sink``."""

    def timer(self, callback: Callable[[], None]) -> Timer:
        """A new timer that calls ``callback`` when it fires."""

    def watch(self, sink: WatchSink) -> Watch:
        """Start watching browser hints, reporting to ``sink``."""

    def report(self, error: BaseException, context: str) -> None:
        """Show an exception raised by user code, as the host shows an uncaught one."""

    def live_proxies(self) -> int:
        """How many JavaScript proxies heartsock holds now (0 where there are none)."""


def default_runtime() -> Runtime:
    """The runtime a ``Socket`` made here uses when given none.

    MicroPython in a browser (PyScript ``mpy``): ``heartsock._mpy``; Pyodide (page or
    worker): ``heartsock._browser``; anywhere else: CPython's asyncio runtime
    (``heartsock._cpython``, which raises :class:`~heartsock.UnsupportedError` saying
    what to install when ``websockets`` is missing).
    """
    if sys.implementation.name == "micropython":
        from ._mpy import mpy_runtime

        return mpy_runtime()
    from ._browser import browser_runtime, in_browser

    if in_browser():
        return browser_runtime()
    from ._cpython import cpython_runtime

    return cpython_runtime()


def default_timer(callback: Callable[[], None]) -> Timer:
    """A timer on the host's scheduler: the page's (Pyodide, MicroPython) or the running asyncio loop's."""
    if sys.implementation.name == "micropython":
        from ._mpy import MpyTimer

        return MpyTimer(callback)
    from ._browser import in_browser

    if in_browser():
        from ._page import PageTimer

        return PageTimer(callback)
    from ._cpython import LoopTimer

    return LoopTimer(callback)


def runtime_name(runtime: object = None) -> str:
    """The name of ``runtime`` (default: the one a new ``Socket`` would use here); see :func:`heartsock.runtime`."""
    if runtime is None:
        if sys.implementation.name == "micropython":
            return "micropython"
        if sys.platform == "emscripten":
            import js  # type: ignore[import-not-found]

            return "pyodide" if getattr(js, "document", None) is not None else "pyodide-worker"
        return "cpython"
    kind = type(runtime).__name__
    if kind == "BrowserRuntime":
        return runtime_name()
    return {"MpyRuntime": "micropython", "CPythonRuntime": "cpython", "FakeRuntime": "fake"}.get(kind, kind)
