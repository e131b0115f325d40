"""``Heart``: the reference library's heartbeat timer, as a small reusable class.

``Heart(timeout).start(cb)`` calls ``cb()`` every ``timeout`` seconds until
``reset()``. :class:`~heartsock.Socket` does not inherit from it (its heartbeat lives in
the pure core, where a missing reply is detected, which the reference never did); it is
kept for code that used the reference's ``Heart`` on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._dispatch import call_user
from ._runtime import Timer
from .errors import ConfigTypeError
from .options import positive_seconds

__all__ = ["Heart"]

TimerFactory = Callable[[Callable[[], None]], Timer]


def _default_timer(callback: Callable[[], None]) -> Timer:
    """The page's timer in a browser (Pyodide, MicroPython); the running asyncio loop's elsewhere."""
    from ._runtime import default_timer

    return default_timer(callback)


class Heart:
    """Calls a function every ``timeout`` seconds until reset.

    Args:
        timeout: seconds between calls (default 5.0; the reference's 5000 ms).
        timer: a factory ``(callback) -> Timer``; the browser's ``setTimeout`` in
            Pyodide, the running asyncio loop elsewhere. Inject one in tests.

    Raises:
        ConfigError: ``timeout`` is not a positive finite number.
        ConfigTypeError: ``timeout`` is not a number.
    """

    def __init__(self, timeout: float = 5.0, *, timer: TimerFactory | None = None) -> None:
        self.timeout = _positive(timeout)
        """Seconds between calls."""
        self._make_timer = timer if timer is not None else _default_timer
        self._timer: Timer | None = None
        self._cb: Callable[[], Any] | None = None

    def reset(self) -> Heart:
        """Stop calling; release the timer.

        Returns:
            The heart, for ``reset().start(cb)``.
        """
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        self._cb = None
        return self

    def start(self, cb: Callable[[], Any]) -> Heart:
        """Call ``cb()`` every ``timeout`` seconds until :meth:`reset` (restarting any run).

        An exception raised by ``cb`` is reported (as the host reports an uncaught
        exception in an event handler) and does not stop the heart; a
        coroutine function is scheduled on the event loop.

        Returns:
            The heart.

        Raises:
            ConfigTypeError: (a ``TypeError``) ``cb`` is not callable.
        """
        if not callable(cb):
            raise ConfigTypeError(f"start() takes a callable, got {type(cb).__name__}")
        self.reset()
        self._cb = cb
        self._timer = self._make_timer(self._beat)
        self._timer.arm(self.timeout)
        return self

    def _beat(self) -> None:
        cb, timer = self._cb, self._timer
        if cb is None or timer is None:
            return
        timer.arm(self.timeout)  # re-arm first, so a cb that calls reset() wins
        call_user(cb)


def _positive(timeout: object) -> float:
    return positive_seconds("timeout", timeout)
