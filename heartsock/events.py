"""The event objects heartsock hands to ``open_cb``, ``close_cb`` and ``error_cb``.

They are plain frozen Python objects, built from the browser's event and detached
from it, so keeping one around keeps no JavaScript object (or proxy) alive.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SocketEvent"]


@dataclass(frozen=True, slots=True)
class SocketEvent:
    """What happened to one underlying WebSocket.

    Attributes:
        type: ``"open"``, ``"close"`` or ``"error"``, as the browser names them.
        socket_id: the id of the underlying WebSocket this event is about (1, 2, …),
            so a log can tell the connections of one :class:`~heartsock.Socket` apart.
        code: for ``"close"``: the close code; the browser's, or heartsock's own when
            heartsock ended the socket itself (4000 heartbeat timeout, 4001 connect
            timeout, 1000 for ``destroy()``, ``onreconnect()`` and a socket replaced by
            ``create()``).
        reason: for ``"close"``: the close reason (may be empty); for ``"error"``: a
            description of what failed.
        was_clean: for ``"close"``: whether the closing handshake completed. ``False``
            whenever heartsock abandoned the socket rather than wait for the browser.
        error: for ``"error"`` events heartsock raises itself (a URL provider that
            failed, a full receive buffer): the exception; ``None`` for browser errors.
    """

    type: str
    socket_id: int = 0
    code: int | None = None
    reason: str = ""
    was_clean: bool | None = None
    error: BaseException | None = None
