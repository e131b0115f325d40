"""The life cycle of a :class:`~heartsock.Socket`, as one enum.

::

    CONNECTING ──open──▶ OPEN ──lost / heartbeat timeout──▶ RECONNECTING ──retry──▶ CONNECTING
        │                                                       │
        └──failed / connect timeout──▶ RECONNECTING             │ (offline: waits for "online")
                                                                ▼
    gave up (retries spent, final close code, reconnect off) ─▶ CLOSED ──create()──▶ CONNECTING
    destroy() from any state ─▶ DESTROYED (final)
"""

from __future__ import annotations

import enum

__all__ = ["State"]


class State(enum.Enum):
    """Where a :class:`~heartsock.Socket` is in its life cycle."""

    CONNECTING = "connecting"
    """An underlying WebSocket is being opened."""
    OPEN = "open"
    """The underlying WebSocket is open; sends go straight out."""
    RECONNECTING = "reconnecting"
    """No live WebSocket; a retry is scheduled (or waits for the browser to be online)."""
    CLOSED = "closed"
    """Gave up: retries spent, a final close code, or reconnect is off. ``create()`` restarts."""
    DESTROYED = "destroyed"
    """``destroy()`` was called; nothing happens any more."""
