"""``Stats``: what a :class:`~heartsock.Socket` has done so far, for dashboards and tests."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Stats"]


@dataclass(frozen=True, slots=True)
class Stats:
    """A snapshot of one socket's counters, from :meth:`heartsock.Socket.stats`.

    Sizes are ``len()`` of the messages: characters for text, bytes for binary.
    """

    __match_args__ = (
        "messages_in",
        "messages_out",
        "size_in",
        "size_out",
        "connections",
        "retries",
        "queued",
        "expired",
        "coalesced",
        "overflowed",
        "recv_buffered",
        "recv_dropped",
        "live_sockets",
        "live_proxies",
    )  # the fields, in order (MicroPython: heartsock._mpy_stdlib)

    messages_in: int
    """Messages received, heartbeat replies included."""
    messages_out: int
    """Messages written to a connection, heartbeats included."""
    size_in: int
    """Total size of the messages received."""
    size_out: int
    """Total size of the messages written."""
    connections: int
    """Underlying WebSockets that opened."""
    retries: int
    """Retries scheduled, in total."""
    queued: int
    """Messages waiting in the offline queue now (with ``resume=True``: not acknowledged yet)."""
    expired: int
    """Queued messages dropped because they outlived their ``ttl``, in total."""
    coalesced: int
    """Queued messages replaced by a newer one with the same ``key``, in total."""
    overflowed: int
    """Messages dropped by ``queue_overflow="drop_oldest"``/``"drop_newest"``, in total."""
    recv_buffered: int
    """Messages waiting in the receive buffer for ``recv()`` now."""
    recv_dropped: int
    """Messages the receive buffer could not take (it was full), in total."""
    live_sockets: int
    """Underlying WebSockets this socket holds now (0 or 1, except while replacing one)."""
    live_proxies: int
    """JavaScript proxies heartsock holds now in this page or worker (0 outside a browser)."""
