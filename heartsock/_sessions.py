"""The server's half of heartsock sessions (``serve(..., resume=True)``), kept in memory.

Rules (the wire format is in :mod:`heartsock.wire`, the protocol in PROTOCOL.md):

1. A session outlives its connections. Its handler runs once, from the first hello to
   the session's end: the client's goodbye (``destroy()``), or ``session_ttl`` seconds
   with no connection. ``Session.send()`` works while the client is away.
2. Every message the handler sends is numbered and kept until the client acknowledges it,
   up to ``replay_limit`` messages; a resume replays what the client lacks. If the buffer
   overflowed past what the client has, the session is reset (the client is told how many
   messages it lost) instead of silently skipping them.
3. Messages from the client are delivered once, in order: a duplicate (resent after a
   resume) is dropped; a gap is a protocol error that closes the connection (the client
   resumes and resends).
4. The newest connection takes a session over; the old one is closed with 4402.
5. A session id is a bearer credential: 144 random bits, logged only as its first 8
   characters, and only resumable from the Origin that created it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, Protocol

from .errors import SocketClosed
from .wire import (
    ACK,
    BYE,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_PROTOCOL_MISMATCH,
    CLOSE_SESSION_TAKEN_OVER,
    DATA,
    HELLO,
    SUBPROTOCOL,
    Data,
    ack_frame,
    data_frame,
    parse_frame,
    welcome_frame,
)

__all__ = ["Session", "SessionConnection", "SessionHandler", "SessionManager"]

log = logging.getLogger("heartsock.server")

SessionHandler = Callable[["Session"], Awaitable[None]]
"""A ``resume=True`` handler: a coroutine function that receives the :class:`Session`."""


class SessionConnection(Protocol):
    """What a session needs from one connection: heartbeats already answered and filtered out.

    :class:`~heartsock.server.HeartbeatConnection` has it (over a ``websockets`` connection
    or, via :func:`~heartsock.server.asgi`, over an
    :class:`~heartsock.server.AsgiConnection`), and so does a bare ``AsgiConnection``. Two
    more members are read when present: ``subprotocol`` (the one negotiated) and
    ``request`` (whose ``headers`` give the Origin).
    """

    async def recv(self) -> Data:
        """Return the next message; raise ``websockets.exceptions.ConnectionClosed`` at the end."""
        ...

    async def send(self, message: Data) -> None:
        """Send a text (``str``) or binary (``bytes``) message."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection with ``code`` and ``reason``."""
        ...

    def __aiter__(self) -> AsyncIterator[Data]:
        """Iterate over the messages until the connection closes."""
        ...


_ACK_EVERY = 32
_ACK_DELAY = 0.05
_HELLO_TIMEOUT = 10.0
_END = object()  # the inbox's end marker


class Session:
    """One client's session, across all of its connections: what a ``resume=True`` handler gets.

    ``await session.send(data)`` and ``async for data in session`` work while the client is
    away and after it resumes; the iteration ends when the client destroys its socket or
    the session expires.

    Attributes:
        id: the session's id — a credential: do not log it.
        origin: the Origin of the page that created it.
        replayed: messages sent again to the client after a resume, in total.
        dropped: messages the replay buffer had to drop (the client was reset for them).
        connection: the client's current connection, ``None`` while it is away.
        ended: whether the session ended (``send()`` raises, iteration stops).
    """

    def __init__(self, manager: SessionManager, origin: str | None) -> None:
        self.id = secrets.token_urlsafe(18)
        self.origin = origin
        self.replayed = 0
        self.dropped = 0
        self._manager = manager
        self._in_ack = 0  # the last seq received from the client, in order
        self._out_seq = 0
        self._buffer: deque[tuple[int, Data]] = deque()  # (seq, data) sent and not acknowledged
        self._sent_upto = 0  # on the current connection
        self._inbox: asyncio.Queue[object] = asyncio.Queue(manager.max_queue)
        self._wake = asyncio.Event()
        self._ack_owed = 0
        self._ack_due = False  # 32 messages owed, or the 50 ms delay passed: the pump sends the ack
        self._ack_timer: asyncio.TimerHandle | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self.connection: SessionConnection | None = None
        self.ended = False

    @property
    def short_id(self) -> str:
        """The first 8 characters of the id, for logs."""
        return self.id[:8]

    @property
    def unacknowledged(self) -> int:
        """Messages sent to the client and not acknowledged yet."""
        return len(self._buffer)

    async def send(self, data: Data) -> None:
        """Send ``data`` (``str`` or ``bytes``) to the client: now, or when it resumes.

        Raises:
            SocketClosed: the session ended.
        """
        if self.ended:
            raise SocketClosed(f"session {self.short_id} ended")
        self._out_seq += 1
        self._buffer.append((self._out_seq, data))
        if len(self._buffer) > self._manager.replay_limit:
            self._buffer.popleft()
            self.dropped += 1
            if self.dropped == 1:
                log.info("session %s: replay buffer full (%d); dropping the oldest", self.short_id, len(self._buffer))
        self._wake.set()

    async def recv(self) -> Data:
        """The next message from the client.

        Raises:
            SocketClosed: the session ended.
        """
        item = await self._inbox.get()
        if item is _END:
            self._inbox.put_nowait(_END)  # later calls end too
            raise SocketClosed(f"session {self.short_id} ended")
        assert isinstance(item, (str, bytes))
        return item

    def __aiter__(self) -> AsyncIterator[Data]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Data]:
        while True:
            try:
                yield await self.recv()
            except SocketClosed:
                return

    # ---- the manager's side ---------------------------------------------------------------
    def can_resume_from(self, client_ack: int) -> int:
        """How many of this session's messages a client that has ``client_ack`` lost (0: none)."""
        first = self._buffer[0][0] if self._buffer else self._out_seq + 1
        return max(0, first - 1 - client_ack)

    async def attach(self, conn: SessionConnection, client_ack: int, resumed: bool, missing: int) -> None:
        """Serve the session on ``conn`` until it closes (or the session ends)."""
        old, self.connection = self.connection, conn
        if old is not None:
            self._manager.spawn(old.close(CLOSE_SESSION_TAKEN_OVER, "session taken over"))
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        self._acknowledged(client_ack)
        self._sent_upto = client_ack
        self.replayed += len(self._buffer)
        await conn.send(welcome_frame(self.id, self._in_ack, resumed, missing))
        pump = asyncio.ensure_future(self._pump(conn))
        self._wake.set()
        try:
            async for frame in conn:
                if not await self._frame(conn, frame):
                    return
        finally:
            pump.cancel()
            if self.connection is conn:
                self.connection = None
                if not self.ended:
                    loop = asyncio.get_running_loop()
                    self._expiry = loop.call_later(self._manager.session_ttl, self.end, "expired")

    async def _frame(self, conn: SessionConnection, frame: Data) -> bool:
        try:
            kind, number, rest = parse_frame(frame)
        except ValueError:
            kind, number, rest = "?", 0, ""
        if kind == DATA:
            if number == self._in_ack + 1:
                self._in_ack = number
                await self._inbox.put(rest)
                self._ack_owed += 1
                if self._ack_owed >= _ACK_EVERY:
                    self._ack_is_due()
                elif self._ack_timer is None:
                    self._ack_timer = asyncio.get_running_loop().call_later(_ACK_DELAY, self._ack_is_due)
                return True
            if number <= self._in_ack:
                return True  # a resend of what already arrived
        elif kind == ACK:
            self._acknowledged(number)
            return True
        elif kind == BYE:
            self.end("the client destroyed its socket")
            await conn.close(1000, "session ended")
            return False
        await conn.close(CLOSE_PROTOCOL_ERROR, "session protocol error")
        return False

    def _ack_is_due(self) -> None:
        self._ack_due = True
        self._wake.set()

    def _acknowledged(self, seq: int) -> None:
        buffer = self._buffer
        while buffer and buffer[0][0] <= seq:
            buffer.popleft()

    async def _pump(self, conn: SessionConnection) -> None:
        """Send what the client lacks, in order, and the batched acks, whenever woken."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            for seq, data in list(self._buffer):
                if seq > self._sent_upto:
                    await conn.send(data_frame(seq, data))
                    self._sent_upto = seq
            # Only when due: a pump woken to send data (an echo's reply) leaves the ack to the
            # batch, or request/response traffic would carry one ack frame per message.
            if self._ack_due and self._ack_owed:
                self._ack_due = False
                self._ack_owed = 0
                if self._ack_timer is not None:
                    self._ack_timer.cancel()
                    self._ack_timer = None
                await conn.send(ack_frame(self._in_ack))

    def end(self, why: str) -> None:
        """End the session: the handler's iteration stops; the id is forgotten."""
        if self.ended:
            return
        self.ended = True
        log.info("session %s ended: %s", self.short_id, why)
        for timer in (self._expiry, self._ack_timer):
            if timer is not None:
                timer.cancel()
        self._manager.forget(self)
        while True:  # make room for the end marker: nobody will read these any more
            try:
                self._inbox.put_nowait(_END)
                break
            except asyncio.QueueFull:
                self._inbox.get_nowait()


#: Seconds session handlers get to return once their server closed, before they are cancelled.
SHUTDOWN_TIMEOUT = 5.0


class SessionManager:
    """The sessions of one server, in memory; its :meth:`connection` serves each connection.

    Args:
        handler: runs once per session, with the :class:`Session`.
        session_ttl: seconds a session survives without a connection.
        replay_limit: messages kept for replay per session.
        max_queue: messages from the client buffered until the handler reads them.
    """

    def __init__(self, handler: SessionHandler, session_ttl: float, replay_limit: int, max_queue: int) -> None:
        self.handler = handler
        self.session_ttl = session_ttl
        self.replay_limit = replay_limit
        self.max_queue = max_queue
        self.sessions: dict[str, Session] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        self._shutdown: asyncio.Future[None] | None = None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background, keeping a reference until it is done."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def forget(self, session: Session) -> None:
        """Drop an ended session."""
        self.sessions.pop(session.id, None)

    async def connection(self, conn: SessionConnection) -> None:
        """Serve one connection: check the subprotocol, read the hello, attach to its session."""
        hello = await read_hello(conn)
        if hello is None:
            return
        client_ack, rest = hello
        origin = _origin(conn)
        session = self.sessions.get(rest) if rest else None
        if session is not None and session.origin != origin:
            session = None  # a session is only resumable from the Origin that created it
        missing = -1
        if session is not None and (lost := session.can_resume_from(client_ack)):
            session.end(f"replay buffer overflowed: the client lost {lost} messages")
            session, missing = None, lost
        resumed = session is not None
        if session is None:
            session = self._start(origin)
            client_ack = 0
        await session.attach(conn, client_ack, resumed and bool(rest), missing)

    def end_all(self, why: str) -> None:
        """End every session (their handlers' iterations stop)."""
        for session in list(self.sessions.values()):
            session.end(why)

    def shut_down(self) -> asyncio.Future[None]:
        """End every session ("the server closed") and wait for their handlers, at most
        :data:`SHUTDOWN_TIMEOUT` seconds (then they are cancelled). Idempotent."""
        if self._shutdown is None:
            self._shutdown = asyncio.ensure_future(self._shut_down())
        return asyncio.shield(self._shutdown)

    async def _shut_down(self) -> None:
        self.end_all("the server closed")
        pending = {task for task in self._tasks if not task.done()}
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=SHUTDOWN_TIMEOUT)
        for task in late:
            task.cancel()
        if late:
            log.warning(
                "%d session handlers ran on %gs after the server closed; cancelled", len(late), SHUTDOWN_TIMEOUT
            )
            await asyncio.wait(late)

    def _start(self, origin: str | None) -> Session:
        session = Session(self, origin)
        self.sessions[session.id] = session
        self.spawn(self._run(session))
        return session

    async def _run(self, session: Session) -> None:
        try:
            await self.handler(session)
        except Exception:
            log.exception("session handler failed (session %s)", session.short_id)
        finally:
            session.end("the handler returned")
            conn = session.connection
            if conn is not None:
                await conn.close(1000, "session ended")


def _origin(conn: Any) -> str | None:
    request = getattr(conn, "request", None)
    headers = getattr(request, "headers", None)
    return headers.get("Origin") if headers is not None else None


async def read_hello(conn: SessionConnection) -> tuple[int, str] | None:
    """A new connection's hello: ``(the client's ack, the session id to resume)``.

    ``None`` when the connection did not negotiate heartsock sessions or did not say hello
    in time; it is closed with the reason.
    """
    if getattr(conn, "subprotocol", None) != SUBPROTOCOL:
        await conn.close(CLOSE_PROTOCOL_MISMATCH, "this server needs heartsock sessions: Socket(url, resume=True)")
        return None
    try:
        kind, client_ack, rest = parse_frame(await asyncio.wait_for(conn.recv(), _HELLO_TIMEOUT))
    except (ValueError, TimeoutError):
        kind, client_ack, rest = "?", 0, ""
    if kind != HELLO:
        await conn.close(CLOSE_PROTOCOL_ERROR, "expected a session hello")
        return None
    return client_ack, str(rest)
