"""Sessions over a :class:`~heartsock.server.SessionStore`: any process sharing the store serves any session.

``serve(..., resume=True, store=RedisStore(url))`` uses this instead of the in-memory
:class:`~heartsock.server.SessionManager`. Same wire protocol, same rules (see
``heartsock._sessions``), plus:

1. **One handler per session, where possible.** The process that creates a session runs
   its handler and holds the session's lease in the store, renewing it every tick. A
   process that serves a connection of a session whose handler runs elsewhere *relays*:
   client messages go into the session's inbound stream, which the handler's process
   reads; the handler's messages go into the replay stream, which every process serving
   the session's connection reads and forwards. So a message reaches the client through
   whichever process holds its connection.
2. **A dead handler's process.** Its lease expires (``lease`` seconds); the next process
   that serves one of the session's connections (or already does) takes the lease and
   runs the handler **again**, with the session's numbering and buffers intact: the new
   run receives the client messages its predecessor had not finished with (the handler
   "finishes" a message when it asks for the next one; the store learns it within a tick),
   so across such a crash the handler sees a message at least once. A process that shuts
   down cleanly (its handler task is cancelled) records exactly where the handler was and
   gives the lease up at once.
3. **A connection** numbers itself in the store when it attaches; a newer one (on any
   process) takes the session over and the older one is closed with 4402.
4. **The store unreachable**: connections are closed with 1011 (the client resumes when it
   can); the handler's process keeps retrying. Sessions the store lost (a Redis restart
   without persistence) are reset for their clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Coroutine
from typing import Any

from ._sessions import _END, Session, SessionConnection, SessionHandler, _origin, read_hello
from ._store import Appended, SessionStore
from .errors import SocketClosed
from .wire import (
    ACK,
    BYE,
    CLOSE_INTERNAL_ERROR,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_SESSION_TAKEN_OVER,
    DATA,
    Data,
    ack_frame,
    data_frame,
    parse_frame,
    welcome_frame,
)

__all__ = ["StoreSession", "StoreSessionManager"]

log = logging.getLogger("heartsock.server")

_ACK_EVERY = 32
_ACK_DELAY = 0.05
_COMMIT_EVERY = 16
_WRITE_BATCH = 256


class StoreSession(Session):
    """A :class:`~heartsock.server.Session` whose state lives in a store: what the handler gets.

    The same interface as the in-memory session: ``send()``, ``recv()``, ``async for``,
    ``id``, ``origin``, ``ended``, ``connection`` (``None`` while the client's connection
    is held by another process). ``replayed``, ``dropped`` and ``unacknowledged`` are
    the store's, as of the last tick.
    """

    def __init__(self, manager: StoreSessionManager, session_id: str, origin: str | None, in_read: int) -> None:
        # No Session.__init__: the numbering and the buffers live in the store.
        self.id = session_id
        self.origin = origin
        self.replayed = 0
        self.dropped = 0
        self.connection: SessionConnection | None = None
        self.ended = False
        self.lost = False  # another process took the handler's lease
        self._owner = manager
        self._store = manager.store
        self._inbox: asyncio.Queue[object] = asyncio.Queue(manager.max_queue)
        self._returned = in_read  # the last client message handed to the handler
        self._processed = in_read  # the last one it finished with (it asked for the next)
        self._committed = in_read  # the last one the store knows it finished with
        self._unacked = 0
        self._loops: list[asyncio.Future[None]] = []
        self._outgoing: list[Data] = []  # sent by the handler, not in the store yet
        self._writer: asyncio.Future[None] | None = None
        self._write_lock = asyncio.Lock()

    @property
    def unacknowledged(self) -> int:
        """Messages sent to the client and not acknowledged yet (as of the last tick)."""
        return self._unacked

    async def send(self, data: Data) -> None:
        """Send ``data`` (``str`` or ``bytes``) to the client, through whichever process holds its connection.

        Raises:
            SocketClosed: the session ended.
        """
        if self.ended:
            raise SocketClosed(f"session {self.short_id} ended")
        if not isinstance(data, (str, bytes)):
            raise TypeError(f"a session message must be str or bytes, got {type(data).__name__}")
        self._outgoing.append(data)
        self._kick()
        if len(self._outgoing) >= _WRITE_BATCH:
            await self.flush()  # the store is behind: wait for it

    async def flush(self) -> None:
        """Wait until every message sent so far (and the handler's progress) is in the store."""
        while (self._outgoing or self._processed > self._committed) and not self.ended:
            self._kick()
            assert self._writer is not None
            await asyncio.shield(self._writer)

    async def recv(self) -> Data:
        """The next message from the client (and: the handler finished with the previous one).

        Raises:
            SocketClosed: the session ended.
        """
        self._processed = self._returned
        if self._processed - self._committed >= _COMMIT_EVERY:
            self._kick()
        item = await self._inbox.get()
        if item is _END:
            self._inbox.put_nowait(_END)
            raise SocketClosed(f"session {self.short_id} ended")
        assert isinstance(item, tuple)
        self._returned = item[0]
        data: Data = item[1]
        return data

    # ---- the manager's side ---------------------------------------------------------------
    def start(self) -> None:
        """Start reading the session's inbound stream and renewing its lease."""
        self._loops = [asyncio.ensure_future(self._read_loop()), asyncio.ensure_future(self._lease_loop())]

    def _kick(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        """Write the handler's messages and progress to the store, in order, in batches (until it ends)."""
        while (self._outgoing or self._processed > self._committed) and not self.ended:
            try:
                await self._write_batch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is unreachable: keep the messages, try again
                log.warning("session %s: writing to the store failed: %s", self.short_id, exc)
                await asyncio.sleep(self._owner.tick)

    async def _write_batch(self) -> None:
        async with self._write_lock:
            batch, processed = self._outgoing[:_WRITE_BATCH], self._processed
            if len(batch) < len(self._outgoing):
                processed = self._committed  # progress only with every send made before it
            if not batch and processed <= self._committed:
                return
            seq = await self._store.append_out(self.id, batch, processed, self._owner.owner)
            del self._outgoing[: len(batch)]
            self._committed = max(self._committed, processed)
            if seq is None:
                self._outgoing.clear()
                self.lost = True  # gone, or another process runs the handler now: write nothing more
                self.end("the session is gone or its handler runs elsewhere")

    async def _read_loop(self) -> None:
        after, control = self._returned, "0"
        tick = self._owner.tick
        while not self.ended:
            try:
                entries, controls = await self._store.read(self.id, "in", after, control, tick)
            except Exception as exc:  # the store is unreachable: try again next tick
                log.warning("session %s: reading from the store failed: %s", self.short_id, exc)
                await asyncio.sleep(tick)
                continue
            for entry in entries:
                await self._inbox.put((entry.seq, entry.data))
                after = entry.seq
            for event in controls:
                control = event.position
                if event.kind == "end":
                    self.end(event.why)
                    return

    async def _lease_loop(self) -> None:
        store, tick = self._store, self._owner.tick
        while not self.ended:
            await asyncio.sleep(tick)
            try:
                held = await store.claim(self.id, self._owner.owner)
                if self._processed > self._committed:
                    self._kick()
                info = await store.info(self.id)
            except Exception as exc:
                log.warning("session %s: renewing the lease failed: %s", self.short_id, exc)
                continue
            if held < 0:
                self.end("expired")
            elif held == 0:
                self.lost = True
                self._outgoing.clear()
                self.end("another process runs the handler now")
            elif info is not None:
                self.replayed, self.dropped = info["replayed"], info["dropped"]
                self._unacked = info["out_seq"] - info["out_ack"]

    async def hand_over(self) -> None:
        """A clean shutdown: write what the handler sent, record exactly where it was, give the lease up."""
        with contextlib.suppress(Exception):
            while self._outgoing or self._processed > self._committed:
                await self._write_batch()
            await self._store.release(self.id, self._owner.owner)

    def end(self, why: str) -> None:
        """End the session here: the handler's iteration stops, ``send()`` raises."""
        if self.ended:
            return
        self.ended = True
        log.info("session %s ended: %s", self.short_id, why)
        current = asyncio.current_task()
        for loop in self._loops:
            if loop is not current:
                loop.cancel()
        while True:
            try:
                self._inbox.put_nowait(_END)
                break
            except asyncio.QueueFull:
                self._inbox.get_nowait()


class _Acks:
    """The batched acks one connection owes the client: every 32 messages or 50 ms."""

    def __init__(self, manager: StoreSessionManager, conn: SessionConnection, in_ack: int) -> None:
        self.manager = manager
        self.conn = conn
        self.in_ack = in_ack
        self.owed = 0
        self.timer: asyncio.TimerHandle | None = None

    async def stored(self, seq: int) -> None:
        if seq <= self.in_ack:
            return
        self.owed += seq - self.in_ack
        self.in_ack = seq
        if self.owed >= _ACK_EVERY:
            await self.flush()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(_ACK_DELAY, self._later)

    def _later(self) -> None:
        self.timer = None
        self.manager.spawn(self.flush())

    async def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.owed:
            self.owed = 0
            with contextlib.suppress(Exception):
                await self.conn.send(ack_frame(self.in_ack))

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class _Inbound:
    """One connection's client messages on their way into the store, written in batches by one task."""

    def __init__(self, manager: StoreSessionManager, conn: SessionConnection, session_id: str, acks: _Acks) -> None:
        self.manager = manager
        self.conn = conn
        self.session_id = session_id
        self.acks = acks
        self.pending: list[tuple[int, Data]] = []
        self.task: asyncio.Future[None] | None = None
        self.closed = False  # the connection was closed for what the store said

    async def put(self, seq: int, data: Data) -> None:
        """Queue a data frame; wait while ``max_queue`` of them are not in the store yet."""
        self.pending.append((seq, data))
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._write())
        if len(self.pending) >= self.manager.max_queue:
            await self.drain()

    async def drain(self) -> None:
        """Wait until every queued frame is in the store (or the connection was closed)."""
        while self.pending and not self.closed and self.task is not None:
            await asyncio.shield(self.task)

    async def _write(self) -> None:
        store, conn = self.manager.store, self.conn
        try:
            while self.pending and not self.closed:
                batch = self.pending[:_WRITE_BATCH]
                in_ack, outcome = await store.append_in(self.session_id, batch)
                done = 0
                while done < len(batch) and batch[done][0] <= in_ack:
                    done += 1
                del self.pending[:done]
                await self.acks.stored(in_ack)
                if outcome is Appended.FULL:
                    await asyncio.sleep(min(0.02, self.manager.tick))  # the handler is behind
                elif outcome is Appended.GAP:
                    self.closed = True
                    await conn.close(CLOSE_PROTOCOL_ERROR, "session protocol error")
                elif outcome is Appended.GONE:
                    self.closed = True
                    await conn.close(1000, "session ended")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if type(exc).__name__.startswith("ConnectionClosed"):
                self.closed = True
                return
            log.warning("session %s: the session store failed: %s", self.session_id[:8], exc)
            self.closed = True
            await conn.close(CLOSE_INTERNAL_ERROR, "session store unavailable")


class StoreSessionManager:
    """Serves session connections over a :class:`~heartsock.server.SessionStore`.

    Args:
        handler: runs once per session (on the process holding its lease).
        store: where the sessions live.
        session_ttl: seconds a session survives without a connection.
        replay_limit: messages kept for replay per session.
        max_queue: client messages buffered in this process until the handler reads them
            (the store holds up to as many more).
    """

    def __init__(
        self, handler: SessionHandler, store: SessionStore, session_ttl: float, replay_limit: int, max_queue: int
    ) -> None:
        store.configure(session_ttl, replay_limit, 2 * max_queue)
        self.handler = handler
        self.store = store
        self.session_ttl = session_ttl
        self.max_queue = max_queue
        self.owner = secrets.token_hex(8)  # this manager's name on the leases it holds
        self.tick = min(1.0, store.lease / 4, session_ttl / 4)
        self.running: dict[str, StoreSession] = {}  # sessions whose handler runs here
        self.holders: dict[str, SessionConnection] = {}  # sessions whose connection is here
        self._starting: set[str] = set()
        self._tasks: set[asyncio.Future[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background, keeping a reference until it is done."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def connection(self, conn: SessionConnection) -> None:
        """Serve one connection: check the subprotocol, read the hello, resume or create, relay."""
        hello = await read_hello(conn)
        if hello is None:
            return
        client_ack, rest = hello
        origin = _origin(conn)
        try:
            opened = await self._open(rest, client_ack, origin)
        except Exception as exc:
            log.warning("session store unavailable: %s", exc)
            await conn.close(CLOSE_INTERNAL_ERROR, "session store unavailable")
            return
        if opened is None:
            await conn.close(CLOSE_INTERNAL_ERROR, "session store unavailable")
            return
        await self._hold(conn, origin, *opened)

    async def _open(
        self, session_id: str, client_ack: int, origin: str | None
    ) -> tuple[str, int, tuple[int, int, str], bool, int] | None:
        store = self.store
        found = await store.find(session_id, origin) if session_id else None
        missing = -1
        if found is not None and (lost := max(0, found.out_first - 1 - client_ack)):
            await store.end(session_id, f"replay buffer overflowed: the client lost {lost} messages")
            found, missing = None, lost
        resumed = found is not None
        attached = await store.attach(session_id, client_ack) if resumed else None
        if attached is None:  # new, or it expired just now
            resumed, client_ack = False, 0
            session_id = await store.create(origin)
            attached = await store.attach(session_id, 0)
            if attached is None:
                return None
        return session_id, client_ack, attached, resumed, missing

    async def _ensure_handler(self, session_id: str, origin: str | None) -> None:
        """Run the session's handler here if nobody holds its lease."""
        if session_id in self.running or session_id in self._starting:
            return
        self._starting.add(session_id)  # one start at a time per session (the awaits below)
        try:
            if await self.store.claim(session_id, self.owner) != 1:
                return
            info = await self.store.info(session_id)
        finally:
            self._starting.discard(session_id)
        if info is None:
            return
        if info["in_read"] or info["out_seq"]:
            log.info("session %s: running its handler again here (its process is gone)", session_id[:8])
        session = StoreSession(self, session_id, origin, info["in_read"])
        session.connection = self.holders.get(session_id)
        self.running[session_id] = session
        session.start()
        self.spawn(self._run(session))

    async def _run(self, session: StoreSession) -> None:
        try:
            await self.handler(session)
        except asyncio.CancelledError:
            session.end("this process is shutting down")
            await session.hand_over()
            raise
        except Exception:
            log.exception("session handler failed (session %s)", session.short_id)
        finally:
            self.running.pop(session.id, None)
        if not session.lost:
            with contextlib.suppress(Exception):
                await session.flush()  # what it sent last reaches the client before the end
                await self.store.end(session.id, "the handler returned")
        session.end("the handler returned")

    async def _hold(
        self,
        conn: SessionConnection,
        origin: str | None,
        session_id: str,
        client_ack: int,
        attached: tuple[int, int, str],
        resumed: bool,
        missing: int,
    ) -> None:
        """Serve the session on ``conn`` until it closes, the session ends or a newer connection takes over."""
        epoch, in_ack, control = attached
        self.holders[session_id] = conn
        if (running := self.running.get(session_id)) is not None:
            running.connection = conn
        acks = _Acks(self, conn, in_ack)
        inbound = _Inbound(self, conn, session_id, acks)
        loops: list[asyncio.Future[None]] = []
        try:
            await self._ensure_handler(session_id, origin)
            await conn.send(welcome_frame(session_id, in_ack, resumed, missing))
            loops = [
                asyncio.ensure_future(self._pump(conn, session_id, epoch, client_ack, control)),
                asyncio.ensure_future(self._keepalive(conn, session_id, origin)),
            ]
            async for frame in conn:
                if not await self._frame(conn, session_id, frame, inbound):
                    return
        except Exception as exc:
            if type(exc).__name__.startswith("ConnectionClosed"):
                raise
            log.warning("session %s: the session store failed: %s", session_id[:8], exc)
            await conn.close(CLOSE_INTERNAL_ERROR, "session store unavailable")
        finally:
            acks.cancel()
            if inbound.task is not None:
                inbound.task.cancel()
            for loop in loops:
                loop.cancel()
            if self.holders.get(session_id) is conn:
                del self.holders[session_id]
                if (running := self.running.get(session_id)) is not None:
                    running.connection = None
                with contextlib.suppress(Exception):
                    await self.store.touch(session_id)  # the expiry clock starts now

    async def _frame(self, conn: SessionConnection, session_id: str, frame: Data, inbound: _Inbound) -> bool:
        try:
            kind, number, rest = parse_frame(frame)
        except ValueError:
            kind, number, rest = "?", 0, ""
        if kind == DATA:
            await inbound.put(number, rest)
            return not inbound.closed
        elif kind == ACK:
            await self.store.ack_out(session_id, number)
            return True
        elif kind == BYE:
            await inbound.drain()  # what the client sent before its goodbye reaches the handler
            await self.store.end(session_id, "the client destroyed its socket")
            await conn.close(1000, "session ended")
            return False
        await conn.close(CLOSE_PROTOCOL_ERROR, "session protocol error")
        return False

    async def _pump(self, conn: SessionConnection, session_id: str, epoch: int, after: int, control: str) -> None:
        """Forward the session's replay stream to ``conn``; obey takeovers and the end."""
        store = self.store
        try:
            while True:
                entries, controls = await store.read(session_id, "out", after, control, self.tick)
                for entry in entries:
                    await conn.send(data_frame(entry.seq, entry.data))
                    after = entry.seq
                for event in controls:
                    control = event.position
                    if event.kind == "attach" and event.epoch > epoch:
                        await conn.close(CLOSE_SESSION_TAKEN_OVER, "session taken over")
                        return
                    if event.kind == "end":
                        while after < event.out_seq:  # what the handler sent before it returned
                            entries, _ = await store.read(session_id, "out", after, None, None)
                            if not entries:
                                break
                            for entry in entries:
                                await conn.send(data_frame(entry.seq, entry.data))
                                after = entry.seq
                        await conn.close(1000, "session ended")
                        return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if type(exc).__name__.startswith("ConnectionClosed"):
                return
            log.warning("session %s: the session store failed: %s", session_id[:8], exc)
            await conn.close(CLOSE_INTERNAL_ERROR, "session store unavailable")

    async def _keepalive(self, conn: SessionConnection, session_id: str, origin: str | None) -> None:
        """Keep the session alive while connected; run its handler here if its process is gone."""
        while True:
            await asyncio.sleep(self.tick)
            try:
                if not await self.store.touch(session_id):
                    await asyncio.sleep(self.tick)  # an end the pump flushes first, or keys the store lost
                    await conn.close(1000, "session ended")
                    return
                await self._ensure_handler(session_id, origin)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("session %s: keeping the session alive failed: %s", session_id[:8], exc)
