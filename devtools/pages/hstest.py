"""Helpers for Python code that browser tests run inside Pyodide (copied in as ``hstest``).

``T`` is the time unit (seconds) every browser test scales its intervals by; set
``HEARTSOCK_TIME_SCALE`` on the host to slow the whole tier down on a loaded machine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import heartsock

T = 1.0  # overwritten by the fixture with the host's HEARTSOCK_TIME_SCALE

sockets: list[heartsock.Socket] = []

S = TypeVar("S", bound="heartsock.Socket")


def track(sock: S) -> S:
    """Remember ``sock`` so the test's teardown destroys it."""
    sockets.append(sock)
    return sock


def destroy_all() -> int:
    n = 0
    while sockets:
        sockets.pop().destroy()
        n += 1
    return n


async def wait_for(cond: Callable[[], Any], timeout: float, what: str = "condition") -> float:
    """Poll ``cond`` every 5 ms until it is true; return the seconds waited.

    Raises:
        TimeoutError: naming ``what``, when ``timeout`` seconds pass first.
    """
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what} not reached within {timeout:.2f}s")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


class Recorder:
    """Collects every callback a Socket makes, as ``(seconds, name, detail)`` tuples."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.events: list[tuple[float, str, Any]] = []

    def _add(self, name: str, detail: Any) -> None:
        self.events.append((round(time.monotonic() - self.t0, 4), name, detail))

    def callbacks(self) -> dict[str, Any]:
        """Keyword options wiring every callback to this recorder."""
        return {
            "open_cb": lambda e: self._add("open", e.socket_id),
            "close_cb": lambda e: self._add("close", [e.socket_id, e.code, e.reason]),
            "message_cb": lambda d: self._add("message", d if isinstance(d, str) else "b:" + d.hex()),
            "error_cb": lambda e: self._add("error", e.reason),
            "reconnect_cb": lambda n, d: self._add("reconnect", [n, round(d, 4)]),
            "state_cb": lambda old, new: self._add("state", new.name),
        }

    def names(self, name: str) -> list[Any]:
        return [d for _, n, d in self.events if n == name]
