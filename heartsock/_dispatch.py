"""Calling user code safely: callbacks and listeners.

Rule: nothing a user callback does — raise, return a coroutine, call back into the
socket — can break the socket. An exception it raises is the user's bug: it goes to the
runtime's ``report`` (in PyScript its error display, in bare Pyodide ``console.error``
with the traceback), the way the platform reports an uncaught exception in an event
handler, and the socket carries on. Coroutines are scheduled on the running event loop
and their failures reported the same way.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

from ._compat import MICROPYTHON, ensure_future, isawaitable

__all__ = ["EVENTS", "Listeners", "Reporter", "call_user", "default_report"]

#: Event names for ``Socket.on()``, and the ``*_cb`` option each one mirrors.
EVENTS = {
    "open": "open_cb",
    "message": "message_cb",
    "close": "close_cb",
    "error": "error_cb",
    "reconnect": "reconnect_cb",
    "state": "state_cb",
    "reset": "reset_cb",
}

#: Where exceptions raised by user code go: ``report(error, context)``.
Reporter = Callable[[BaseException, str], None]

_tasks: set[asyncio.Future[Any]] = set()


def _describe(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__qualname__", fn))


def default_report(error: BaseException, context: str) -> None:
    """Report ``error`` where this host shows uncaught exceptions.

    In the browser (Pyodide, PyScript): see ``heartsock._browser.report``. Elsewhere: the
    running asyncio loop's exception handler, or ``sys.excepthook`` without a loop.
    """
    if MICROPYTHON:
        from ._mpy import report as mpy_report

        mpy_report(error, context)
        return
    if sys.platform == "emscripten":
        from ._browser import report

        report(error, context)
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        error.add_note(context)  # shown with the traceback
        sys.excepthook(type(error), error, error.__traceback__)
    else:
        loop.call_exception_handler({"message": context, "exception": error})


def call_user(fn: Callable[..., Any], *args: Any, report: Reporter = default_report) -> None:
    """Call ``fn(*args)`` outside a socket (``Heart``); report what it raises."""
    Listeners({}, report).call(fn, args)


class Listeners:
    """Per event: the one ``*_cb`` callback (replaced by ``onX(cb)``) plus added listeners.

    Args:
        callbacks: the ``*_cb`` callback of each event (``None`` for none).
        report: where an exception raised by a callback or listener goes.
    """

    def __init__(self, callbacks: dict[str, Callable[..., Any] | None], report: Reporter) -> None:
        self.callbacks = callbacks
        self.report = report
        self.generation = 0  # bumped by cut(): an event being delivered stops there
        self._added: dict[str, list[Callable[..., Any]]] = {name: [] for name in EVENTS}

    def cut(self) -> None:
        """Stop delivering the event in progress (``destroy()`` was called from a callback)."""
        self.generation += 1

    def add(self, event: str, fn: Callable[..., Any]) -> None:
        """Add a listener for ``event`` (after those already there)."""
        self._added[event].append(fn)

    def remove(self, event: str, fn: Callable[..., Any]) -> bool:
        """Remove a listener; return whether it was there."""
        try:
            self._added[event].remove(fn)
        except ValueError:
            return False
        return True

    def emit(self, event: str, *args: Any) -> None:
        """Call the event's callback, then its listeners in registration order.

        If one of them calls :meth:`cut` (``destroy()``), the rest are not called.
        """
        cb = self.callbacks[event]
        generation = self.generation
        if cb is not None:
            self.call(cb, args)
        added = self._added[event]
        if added:
            for fn in tuple(added):
                if self.generation != generation:
                    return
                self.call(fn, args)

    def message(self, data: Any) -> None:
        """``emit("message", data)``, the receive path's: the callback called here, no argument tuple."""
        cb = self.callbacks["message"]
        generation = self.generation
        if cb is not None:
            try:
                result = cb(data)
                if result is not None and isawaitable(result):
                    self._spawn(cb, result)
            except Exception as exc:
                self.report(exc, f"heartsock: callback {_describe(cb)} raised")
        added = self._added["message"]
        if added:
            for fn in tuple(added):
                if self.generation != generation:
                    return
                self.call(fn, (data,))

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """Call ``fn(*args)``; schedule it if it returns an awaitable; report what it raises."""
        try:
            result = fn(*args)
            # Most callbacks return None: skip isawaitable() (an ABC check, the costliest step
            # of delivering a message) for them.
            if result is not None and isawaitable(result):
                self._spawn(fn, result)
        except Exception as exc:
            self.report(exc, f"heartsock: callback {_describe(fn)} raised")

    def _spawn(self, fn: Callable[..., Any], result: Any) -> None:
        task = ensure_future(result)
        _tasks.add(task)
        task.add_done_callback(self._task_done(fn))

    def _task_done(self, fn: Callable[..., Any]) -> Callable[[asyncio.Future[Any]], None]:
        def done(task: asyncio.Future[Any]) -> None:
            _tasks.discard(task)
            if not task.cancelled() and (exc := task.exception()) is not None:
                self.report(exc, f"heartsock: async callback {_describe(fn)} raised")

        return done
