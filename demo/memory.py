"""The demo's memory: short garbage-collection pauses with thousands of connections open,
and the memory of connections that left given back to the system.

CPython runs a full (oldest-generation) collection when enough objects have survived the
younger ones; it walks every tracked object. Each open connection here holds ~140 of them
(uvicorn's protocol, the ``websockets`` parser, Starlette's scope, heartsock's heartbeat,
the demo's records), so with 2,000 idle connections open a full collection paused the
event loop for 300–450 ms, every few hundred new connections (measured by the soak,
``make soak``; the echo p99 of a well-behaved client was 125 ms). Young collections stay
at a few milliseconds.

So ``python -m demo`` (:meth:`Memory.take_over`) freezes the objects of its start-up
(:func:`gc.freeze`: never walked again) and turns the automatic full collection off, and
:meth:`Memory.tick`, called every second, schedules full collections by what creates the
garbage they free: connections that left. Once ``max(COLLECT_AFTER, open // 2)``
connections have closed since the last one, :func:`trim` runs :data:`TRIM_DELAY`
seconds later (their handlers end first): a full collection, then the C heap given back
to the system. Its pause grows with the connections still open, and so does the number
of departures between two, so the cost per departure stays flat and the garbage bounded.

Little is left for them to free: a closed connection's objects go at once, by reference
counting, because neither heartsock, uvicorn's protocols as the demo uses them, nor the
demo's records hold one in a reference cycle any more (a test checks it). ~16 objects per
connection remain in cycles, asyncio's own (a transport holds a bound method of itself);
before, ~125 did, and the collection that freed 2,000 of them paused the loop 650–720 ms.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

__all__ = ["COLLECT_AFTER", "TRIM_DELAY", "Memory", "trim"]

#: Connections that must have closed since the last full collection before the next one
#: (or half the connections open, if that is more).
COLLECT_AFTER = 100
#: Seconds from when a collection is due to when it runs (the handlers of the connections
#: that left end first).
TRIM_DELAY = 2.0
#: A threshold for the oldest generation that automatic collection never reaches.
_NEVER = 1 << 30

_LIBC_NAME = ctypes.util.find_library("c")
_LIBC = ctypes.CDLL(_LIBC_NAME) if _LIBC_NAME else None


def trim() -> None:
    """Collect, then give freed memory back to the system (glibc's ``malloc_trim``; elsewhere
    only the collection).

    Closed connections leave their memory free for the next ones, but mapped: after 2,000
    idle connections leave, RSS stays ~70 MiB above where it started. With
    ``PYTHONMALLOC=malloc`` (``python -m demo`` sets it, :mod:`demo.__main__`) Python's
    objects live on the C heap, and this brings RSS back to a few MiB above the start.
    """
    gc.collect()
    malloc_trim = getattr(_LIBC, "malloc_trim", None)
    if malloc_trim is not None:
        malloc_trim(0)


class Memory:
    """When to collect and trim, from the open connections and the count of those that closed."""

    def __init__(self) -> None:
        #: Full collections (each followed by a trim) run so far.
        self.collections = 0
        self._closed_at_collection = 0
        self._due_at: float | None = None

    @staticmethod
    def take_over() -> None:
        """Make full collections this object's job (for a server process, once it has started):
        freeze what exists now and turn the automatic full collection off."""
        gc.collect()
        gc.freeze()
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, _NEVER)

    def tick(self, now: float, open_connections: int, closed_total: int) -> None:
        """Collect and trim if it is time (``now`` in seconds; ``closed_total``: connections
        that ever closed)."""
        left = closed_total - self._closed_at_collection
        if self._due_at is None and left >= max(COLLECT_AFTER, open_connections // 2):
            self._due_at = now + TRIM_DELAY
        elif self._due_at is not None and now >= self._due_at:
            self._due_at = None
            trim()
            self.collections += 1
            self._closed_at_collection = closed_total
