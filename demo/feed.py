"""The market feed as heartsock sessions: what ``/ws/feed`` serves a client that offers ``heartsock.v1``.

The dashboard's socket runs with ``resume=True``: its feed is one
:class:`heartsock.server.Session` per page, across the page's reconnects (the demo's
``asgi(..., resume=True)`` endpoint), so every tick reaches the page and every note the
server exactly once, in order — numbered, acknowledged and replayed by the session, with
no hand-made acks. A client without sessions gets the plain feed (ticks only).

A :class:`FeedSession` is the demo's record of one such session: what ``/api/status``
shows and what the fault controls act on. Its connection is the session's current one
(``None`` while the page is away); the controls reach its TCP connection through
uvicorn's protocol (:func:`demo.listener.protocol_of`).

Bounded like every other record: the ticks a session holds for a page that is away are
at most the endpoint's ``replay_limit`` (a page further behind gets a session reset),
the notes kept for ``/api/status`` a ring of :data:`demo.clients.RECENT`, the sessions
themselves :data:`MAX_SESSIONS` (:func:`evict`), and the record is forgotten when the
session ends.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from heartsock.server import Session
from heartsock.wire import Data

from .clients import RECENT, SHOWN, Received
from .listener import WebSocketProtocol, protocol_of

__all__ = ["MAX_SESSIONS", "REPLAY_LIMIT", "SESSION_TTL", "FeedSession", "evict"]

#: Seconds a feed session survives without a connection (a page away longer gets a reset).
SESSION_TTL = 60.0
#: Messages a feed session keeps for a page that is away (about a minute of ticks).
REPLAY_LIMIT = 2000
#: Feed sessions kept at most (they outlive their connections by ``SESSION_TTL``): a new
#: one beyond this ends the oldest, those without a connection first.
MAX_SESSIONS = 256


class FeedSession:
    """One page's feed session, across its reconnects.

    Args:
        id: the peer number ``/api/status`` shows (one per session, not per connection).
        session: the heartsock session.
    """

    def __init__(self, id: int, session: Session) -> None:
        self.id = id
        self.session = session
        self.opened_at = asyncio.get_running_loop().time()
        self.messages = 0
        self.recent: deque[Received] = deque(maxlen=RECENT)
        #: Since when flow control has held the current connection's writes (``None``: it does not).
        self.paused_since: float | None = None

    def heard(self, message: Data) -> None:
        """Record a message from the page (a note), delivered once by the session."""
        self.messages += 1
        data = message if isinstance(message, str) else f"<{len(message)} bytes>"
        if len(data) > SHOWN:
            data = data[: SHOWN - 1] + "…"
        self.recent.append(Received(time.time(), self.id, "feed", data))

    @property
    def connection(self) -> Any:
        """The session's current connection (a ``HeartbeatConnection``), ``None`` while the page is away."""
        return self.session.connection

    @property
    def protocol(self) -> WebSocketProtocol | None:
        """uvicorn's protocol under the current connection, if there is one."""
        conn = self.connection
        return None if conn is None else protocol_of(conn.request.scope)

    def abort(self) -> bool:
        """Abort the current TCP connection (the page sees 1006, then resumes); whether there was one."""
        protocol = self.protocol
        if protocol is None or protocol.transport.is_closing():
            return False
        protocol.abort()
        return True

    def mute(self) -> bool:
        """Go half-open on the current connection: TCP stays up, nothing reaches the page; whether there was one."""
        protocol, conn = self.protocol, self.connection
        if protocol is None or conn is None or protocol.muted:
            return False
        conn.answering = False
        protocol.muted = True
        return True

    async def close(self, code: int, reason: str, timeout: float) -> bool:
        """Close the current connection with ``code`` (the session lives on); abort if that takes over ``timeout``."""
        conn = self.connection
        if conn is None:
            return False
        try:
            await asyncio.wait_for(conn.close(code, reason), timeout)
        except TimeoutError:
            self.abort()
        return True

    def status(self, now: float) -> dict[str, Any]:
        """This session as a connection of ``/api/status`` (only while it has one)."""
        conn = self.connection
        return {
            "peer": self.id,
            "path": "/ws/feed",
            "age": round(now - self.opened_at, 3),
            "heartbeats": conn.heartbeats if conn is not None else 0,
            "messages": self.messages,
            "queued": self.session.unacknowledged,
            "silent": bool(self.protocol and self.protocol.muted),
            "session": {"replayed": self.session.replayed, "unacknowledged": self.session.unacknowledged},
        }


def evict(members: dict[int, FeedSession]) -> None:
    """End the oldest sessions in ``members`` beyond :data:`MAX_SESSIONS`, those without a connection first.

    An ended session's handler leaves ``members`` itself; a page whose session was ended
    gets a session reset when it resumes.
    """
    excess = len(members) - MAX_SESSIONS
    if excess <= 0:
        return
    oldest = sorted(members.values(), key=lambda m: (m.connection is not None, m.id))
    for member in oldest[:excess]:
        member.session.end(f"more than {MAX_SESSIONS} feed sessions")
