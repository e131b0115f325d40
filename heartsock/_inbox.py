"""The receive buffer behind ``recv()`` / ``async for``, and the waiters of the asyncio API.

Rules:

1. The buffer is off until the app first asks for it (``recv()``, ``async for``,
   ``connect()``): a callback-only app keeps nothing.
2. It is bounded (``max_recv_queue``). A message that does not fit still reached the
   callbacks and listeners; it is counted in ``dropped``, and the first drop of each
   overflow is reported once.
3. Waiters are futures woken by :meth:`Inbox.notify` ("something changed"); each
   re-checks its own condition, so a spurious wake-up is harmless.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ._compat import deque  # MicroPython's deque is fixed-size
from .wire import Data

__all__ = ["Inbox"]


class Inbox:
    """A bounded receive buffer plus "something changed" waiters.

    Args:
        limit: the most messages buffered (``max_recv_queue``).
        on_overflow: called once when a message is first dropped after the buffer had room.
    """

    def __init__(self, limit: int, on_overflow: Callable[[], None]) -> None:
        self.limit = limit
        self.enabled = False
        self.dropped = 0
        self._on_overflow = on_overflow
        self._overflowing = False
        self._buffer: deque[Data] = deque()
        self._waiters: list[asyncio.Event] = []  # Events, not futures: MicroPython's loop makes no futures

    def __len__(self) -> int:
        return len(self._buffer)

    def put(self, data: Data) -> None:
        """Buffer a received message (when enabled), and wake the waiters."""
        if len(self._buffer) >= self.limit:
            self.dropped += 1
            if not self._overflowing:
                self._overflowing = True
                self._on_overflow()
            return
        self._overflowing = False
        self._buffer.append(data)
        if self._waiters:
            self.notify()

    def take(self) -> Data | None:
        """The oldest buffered message, or ``None``."""
        return self._buffer.popleft() if self._buffer else None

    def notify(self) -> None:
        """Wake every waiter (each re-checks its condition)."""
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for event in waiters:
                event.set()

    async def changed(self) -> None:
        """Return at the next :meth:`notify`; cancellation-safe."""
        event = asyncio.Event()
        self._waiters.append(event)
        try:
            await event.wait()
        finally:
            if event in self._waiters:
                self._waiters.remove(event)
