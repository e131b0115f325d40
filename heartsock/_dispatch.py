"""Calling user code safely: callbacks, listeners, and waking ``await``-ers.

Rule: nothing a user callback does — raise, return a coroutine, call back into the
socket — can break the socket. Exceptions are logged to ``logging.getLogger("heartsock")``;
coroutines are scheduled on the running event loop and their failures logged too.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["EVENTS", "Listeners", "Waiters", "call_user"]

log = logging.getLogger("heartsock")

#: Event names for ``Socket.on()``, and the ``*_cb`` option each one mirrors.
EVENTS = {
    "open": "open_cb",
    "message": "message_cb",
    "close": "close_cb",
    "error": "error_cb",
    "reconnect": "reconnect_cb",
    "state": "state_cb",
}

_tasks: set[asyncio.Future[Any]] = set()


def _log_task_failure(task: asyncio.Future[Any]) -> None:
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("async callback failed", exc_info=task.exception())


def call_user(fn: Callable[..., Any], *args: Any) -> None:
    """Call ``fn(*args)``; schedule it if it returns an awaitable; log what it raises."""
    try:
        result = fn(*args)
        # Most callbacks return None: skip isawaitable() (an ABC check, the costliest step
        # of delivering a message) for them.
        if result is not None and inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            _tasks.add(task)
            task.add_done_callback(_log_task_failure)
    except Exception:
        log.exception("callback %r raised", getattr(fn, "__qualname__", fn))


class Listeners:
    """Per event: the one ``*_cb`` callback (replaced by ``onX(cb)``) plus added listeners."""

    def __init__(self, callbacks: dict[str, Callable[..., Any] | None]) -> None:
        self.callbacks = callbacks
        self._added: dict[str, list[Callable[..., Any]]] = {name: [] for name in EVENTS}

    def add(self, event: str, fn: Callable[..., Any]) -> None:
        self._added[event].append(fn)

    def remove(self, event: str, fn: Callable[..., Any]) -> bool:
        try:
            self._added[event].remove(fn)
        except ValueError:
            return False
        return True

    def emit(self, event: str, *args: Any) -> None:
        """Call the event's callback, then its listeners in registration order."""
        cb = self.callbacks[event]
        if cb is not None:
            call_user(cb, *args)
        added = self._added[event]
        if added:
            for fn in tuple(added):
                call_user(fn, *args)


class Waiters:
    """Futures that coroutines await until "something changed"; cancellation-safe."""

    def __init__(self) -> None:
        self._futures: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        """Wake every waiter (they re-check their condition)."""
        futures, self._futures = self._futures, []
        for fut in futures:
            if not fut.done():
                fut.set_result(None)

    async def changed(self) -> None:
        """Return at the next :meth:`notify`."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._futures.append(fut)
        try:
            await fut
        finally:
            if fut in self._futures:
                self._futures.remove(fut)
