"""The offline queue: what ``send()`` keeps while no connection is open, and its policies.

Rules:

1. Bounded by ``max_queue``. One more message is refused (``queue_overflow="raise"``,
   :class:`~heartsock.QueueFull`), or makes room by dropping the oldest queued message
   (``"drop_oldest"``), or is itself dropped (``"drop_newest"``); every drop is counted
   and reported.
2. ``ttl``: a message still queued ``ttl`` seconds after ``send()`` is dropped when the
   queue is flushed, counted and reported, instead of arriving late.
3. ``key``: while a message with the same key waits, a newer one replaces it in its
   place (the latest price wins); counted.
4. Pure: the core calls it with ``now``.
"""

from __future__ import annotations

from collections.abc import Hashable

from ._compat import deque  # MicroPython's deque is fixed-size
from .errors import QueueFull
from .wire import Data

__all__ = ["OVERFLOW_POLICIES", "Outbox"]

OVERFLOW_POLICIES = ("raise", "drop_oldest", "drop_newest")


class _Item:
    __slots__ = ("data", "expires", "key")

    def __init__(self, data: Data, expires: float | None, key: Hashable | None) -> None:
        self.data, self.expires, self.key = data, expires, key


class Outbox:
    """A bounded FIFO of messages waiting for a connection.

    Args:
        limit: ``max_queue``.
        overflow: one of :data:`OVERFLOW_POLICIES`.
    """

    def __init__(self, limit: int, overflow: str) -> None:
        self.limit = limit
        self.overflow = overflow
        self.expired = self.coalesced = self.overflowed = 0
        self._items: deque[_Item] = deque()
        self._keys: dict[Hashable, _Item] = {}

    def __len__(self) -> int:
        return len(self._items)

    def put(self, data: Data, now: float, ttl: float | None = None, key: Hashable | None = None) -> str | None:
        """Queue ``data``; return a description of what was dropped to make room, if anything.

        Raises:
            QueueFull: full, and the policy is ``"raise"``.
        """
        expires = None if ttl is None else now + ttl
        if key is not None and (item := self._keys.get(key)) is not None:
            item.data, item.expires = data, expires
            self.coalesced += 1
            return None
        dropped = None
        if len(self._items) >= self.limit:
            if self.overflow == "raise" or self.limit == 0:
                raise QueueFull(
                    f"the offline queue already holds max_queue={self.limit} messages; this one was not queued"
                )
            self.overflowed += 1
            if self.overflow == "drop_newest":
                return f"the offline queue is full (max_queue={self.limit}): the newest message was dropped"
            old = self._items.popleft()
            if old.key is not None:
                del self._keys[old.key]
            dropped = f"the offline queue is full (max_queue={self.limit}): the oldest message was dropped"
        item = _Item(data, expires, key)
        self._items.append(item)
        if key is not None:
            self._keys[key] = item
        return dropped

    def take(self, now: float) -> tuple[list[Data], int]:
        """Empty the queue: the messages still in time, in order, and how many expired."""
        live: list[Data] = []
        expired = 0
        for item in self._items:
            if item.expires is not None and now >= item.expires:
                expired += 1
            else:
                live.append(item.data)
        self._items.clear()
        self._keys.clear()
        self.expired += expired
        return live, expired
