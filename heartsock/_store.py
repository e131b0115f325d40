"""Where sessions live when they must outlive one process: the :class:`SessionStore` interface.

``serve(..., resume=True, store=None)`` keeps sessions in the server's memory
(:class:`~heartsock.server.SessionManager`). A :class:`SessionStore` — ``RedisStore(url)``
— keeps everything a session is outside the process instead, so that any server process
sharing the store can serve any session: the session record (its Origin, its sequence and
ack state, the inbound dedup state), the replay buffer of server → client messages, the
buffer of client → server messages on their way to the handler, a control channel (a
newer connection took the session over; the session ended), the lease of the process that
runs the session's handler, and expiry.

The store only stores; the session logic over it (relaying, acks, leases) is in
``heartsock._store_sessions``. The interface is the list of operations that logic needs;
each one is atomic in the store. Sequence numbers are the wire's: from 1 per direction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

from .wire import Data

__all__ = ["Appended", "Control", "Entry", "SessionStore", "StoredSession"]


class Appended(IntEnum):
    """The outcome of :meth:`SessionStore.append_in`."""

    STORED = 1
    """Every message was stored (or was a resend of one already stored)."""
    GAP = -1
    """A message beyond the next one: a protocol error."""
    GONE = -2
    """The session no longer exists."""
    FULL = -3
    """The handler is too far behind (``inbound_limit`` unread messages): try again later."""


@dataclass(frozen=True)
class StoredSession:
    """A session's record as :meth:`SessionStore.find` reads it.

    Attributes:
        origin: the Origin of the page that created it (``None``: none was sent).
        in_ack: the last client → server sequence number stored, in order.
        out_seq: the last server → client sequence number.
        out_first: the first server → client message still in the replay buffer
            (``out_seq + 1`` when it is empty).
        in_read: the last client → server message the handler finished with.
    """

    origin: str | None
    in_ack: int
    out_seq: int
    out_first: int
    in_read: int


@dataclass(frozen=True)
class Entry:
    """One message in a session's stream: its sequence number and its payload."""

    seq: int
    data: Data


@dataclass(frozen=True)
class Control:
    """An event on a session's control channel.

    Attributes:
        position: the event's opaque position (read on after it).
        kind: ``"attach"`` (a connection attached, with ``epoch``) or ``"end"``.
        epoch: the attaching connection's number (``"attach"``).
        why: why the session ended (``"end"``).
        out_seq: the last server → client sequence number when it ended (``"end"``).
    """

    position: str
    kind: str
    epoch: int = 0
    why: str = ""
    out_seq: int = 0


class SessionStore(ABC):
    """The operations a store-backed session needs, each atomic in the store.

    :meth:`configure` is called once, by ``serve()``/``asgi()``, before anything else.
    Every other method takes a session id; after the session ended or expired, the
    reads return ``None``/empty results and the writes report that it is gone.
    :class:`~heartsock.server.RedisStore` implements it; the interface (and its types,
    in ``heartsock._store``) may still change before heartsock 1.0.

    Attributes:
        session_ttl: seconds a session lives without a connection.
        replay_limit: server → client messages kept per session.
        inbound_limit: unread client → server messages a session may hold.
        lease: seconds a handler's lease lasts without renewal.
    """

    session_ttl: float = 60.0
    replay_limit: int = 1000
    inbound_limit: int = 128
    lease: float = 5.0

    def configure(self, session_ttl: float, replay_limit: int, inbound_limit: int) -> None:
        """Set the expiry (seconds without a connection), the replay buffer's length, and
        how many unread client messages a session may hold before :meth:`append_in` says FULL."""
        self.session_ttl = session_ttl
        self.replay_limit = replay_limit
        self.inbound_limit = inbound_limit

    @abstractmethod
    async def create(self, origin: str | None) -> str:
        """Create a session bound to ``origin``; return its new, unguessable id."""

    @abstractmethod
    async def find(self, session_id: str, origin: str | None) -> StoredSession | None:
        """The session, if it exists and was created from ``origin``; else ``None``."""

    @abstractmethod
    async def attach(self, session_id: str, client_ack: int) -> tuple[int, int, str] | None:
        """A connection attaches: acknowledge up to ``client_ack``, number the connection,
        announce it on the control channel and restart the expiry clock.

        Returns ``(epoch, in_ack, control position)``, or ``None`` if the session is gone.
        """

    @abstractmethod
    async def touch(self, session_id: str) -> bool:
        """Restart the expiry clock (``session_ttl`` from now); ``False`` if the session is gone."""

    @abstractmethod
    async def append_out(
        self, session_id: str, messages: Sequence[Data], in_read: int = 0, owner: str = ""
    ) -> int | None:
        """Number and keep server → client ``messages`` in order (dropping the oldest past
        ``replay_limit``) and record that the handler finished with every client message up
        to ``in_read`` (forgetting them), all at once — only while ``owner`` (if given) holds
        the session's lease, so a handler that lost it cannot write. Returns the last
        sequence number, or ``None`` if the session is gone or the lease is another's."""

    @abstractmethod
    async def ack_out(self, session_id: str, seq: int) -> None:
        """The client received every server → client message up to ``seq``: forget them."""

    @abstractmethod
    async def append_in(self, session_id: str, messages: Sequence[tuple[int, Data]]) -> tuple[int, Appended]:
        """Store client → server ``(seq, data)`` messages, in order, each only if it is the next
        one (the dedup state: a resend is skipped). Stops at the first that cannot be stored.

        Returns the session's inbound ack afterwards and :attr:`Appended.STORED`, or why it
        stopped (:attr:`~Appended.GAP`, :attr:`~Appended.FULL`, :attr:`~Appended.GONE`).
        """

    @abstractmethod
    async def read(
        self,
        session_id: str,
        stream: Literal["out", "in"],
        after: int,
        control_after: str | None,
        timeout: float | None,
    ) -> tuple[list[Entry], list[Control]]:
        """Messages of ``stream`` after sequence number ``after`` and control events after
        ``control_after`` (``"0"``: from the start; ``None``: none), waiting up to ``timeout``
        seconds for one (``None``: not at all)."""

    @abstractmethod
    async def info(self, session_id: str) -> dict[str, int] | None:
        """The session's counters (``out_seq``, ``out_ack``, ``replayed``, ``dropped``,
        ``in_ack``, ``in_read``), or ``None`` if it is gone."""

    @abstractmethod
    async def claim(self, session_id: str, owner: str) -> int:
        """Take or renew the lease to run the session's handler for ``lease`` seconds.

        Returns 1 (``owner`` holds it), 0 (another owner does) or -1 (the session is gone).
        """

    @abstractmethod
    async def release(self, session_id: str, owner: str) -> None:
        """Give the lease up, if ``owner`` holds it."""

    @abstractmethod
    async def end(self, session_id: str, why: str) -> None:
        """End the session: announce it on the control channel and forget the session
        (the server → client messages stay readable a short while, for a last flush)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release the store's connections."""
