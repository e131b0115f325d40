"""The event objects heartsock hands to ``open_cb``, ``close_cb`` and ``error_cb``.

They are plain frozen Python objects, built from the browser's event and detached
from it, so keeping one around keeps no JavaScript object (or proxy) alive.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SessionReset", "SocketEvent"]


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

    __match_args__ = (
        "type",
        "socket_id",
        "code",
        "reason",
        "was_clean",
        "error",
    )  # the fields, in order (MicroPython: heartsock._mpy_stdlib)

    type: str
    socket_id: int = 0
    code: int | None = None
    reason: str = ""
    was_clean: bool | None = None
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class SessionReset:
    """The server no longer had this socket's session (``resume=True``); a new one began.

    The server's session expired (no connection for its ``session_ttl``), the server
    restarted without a shared store, or its replay buffer overflowed while the client
    was away. The app decides what to fetch again.

    Attributes:
        old_session: the id the client tried to resume (shortened: it is a credential).
        new_session: the new session's id (shortened).
        resent: this client's unacknowledged messages, sent again in the new session;
            the old session may have delivered some of them already.
        missing: messages from the server the client can no longer get, when the server
            knows (a replay buffer that overflowed); ``None`` when it cannot know.
    """

    __match_args__ = (
        "old_session",
        "new_session",
        "resent",
        "missing",
    )  # the fields, in order (MicroPython: heartsock._mpy_stdlib)

    old_session: str
    new_session: str
    resent: int
    missing: int | None
