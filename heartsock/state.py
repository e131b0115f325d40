"""The life cycle of a :class:`~heartsock.Socket`, as one enum.

Every state change, as ``OLD --trigger--> NEW`` (the core allows exactly these; see
``heartsock._transitions``)::

    CONNECTING    --opened-->         OPEN
    CONNECTING    --lost-->           RECONNECTING
    CONNECTING    --gave up-->        CLOSED
    OPEN          --lost-->           RECONNECTING
    OPEN          --gave up-->        CLOSED
    RECONNECTING  --retry-->          CONNECTING
    OPEN          --create()-->       CONNECTING
    RECONNECTING  --create()-->       CONNECTING
    CLOSED        --create()-->       CONNECTING
    CONNECTING    --onreconnect()-->  RECONNECTING
    OPEN          --onreconnect()-->  RECONNECTING
    CLOSED        --onreconnect()-->  RECONNECTING
    CONNECTING    --destroy()-->      DESTROYED
    OPEN          --destroy()-->      DESTROYED
    RECONNECTING  --destroy()-->      DESTROYED
    CLOSED        --destroy()-->      DESTROYED

``lost``: the connection closed, failed to start, timed out connecting or missed its
heartbeat, and a retry is scheduled (or waits for the browser to be online). ``gave
up``: the same, with no retry left (retries spent, a final close code, reconnect off).
``create()`` from ``CONNECTING`` and ``onreconnect()`` from ``RECONNECTING`` stay put.
"""

from __future__ import annotations

import enum

__all__ = ["State"]


@enum.unique  # under MicroPython, the stand-in's unique() makes the members (heartsock._mpy_stdlib)
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
