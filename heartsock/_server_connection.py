"""The connection a :mod:`heartsock.server` handler gets: heartbeats answered and filtered out.

Split from :mod:`heartsock.server` (which re-exports :class:`HeartbeatConnection`): a
reader task answers heartbeats and buffers application messages, a watchdog task probes
and closes a connection that stays silent. See that module's docstring for the rules.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any

from .wire import CLOSE_INTERNAL_ERROR, Data

if TYPE_CHECKING:
    from .server import Connection, Heartbeat

__all__ = ["HeartbeatConnection"]

log = logging.getLogger("heartsock.server")


class _Inbox:
    """A bounded FIFO of application messages; ``get()`` returns ``None`` once closed and empty."""

    def __init__(self, limit: int) -> None:
        self._items: deque[Data] = deque()
        self._limit = limit
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, item: Data) -> None:
        while len(self._items) >= self._limit:
            self._writable.clear()
            await self._writable.wait()
        self._items.append(item)
        self._readable.set()

    async def get(self) -> Data | None:
        while not self._items:
            if self.closed:
                return None
            self._readable.clear()
            await self._readable.wait()
        item = self._items.popleft()
        self._writable.set()
        return item

    def close(self) -> None:
        self.closed = True
        self._readable.set()


class _RateLimit:
    """Token buckets for inbound messages and bytes; a bucket holds one second's worth."""

    def __init__(self, messages: float | None, size: float | None) -> None:
        self.messages, self.size = messages, size
        self.tokens = [messages or 0.0, size or 0.0]
        self.at: float | None = None

    def allow(self, length: int, now: float) -> bool:
        """Account for one message of ``length``; return whether it is within the limits."""
        if self.messages is None and self.size is None:
            return True
        elapsed = 0.0 if self.at is None else now - self.at
        self.at = now
        ok = True
        for i, (rate, cost) in enumerate(((self.messages, 1), (self.size, length))):
            if rate is not None:
                self.tokens[i] = min(rate, self.tokens[i] + elapsed * rate) - cost
                ok = ok and self.tokens[i] >= 0
        return ok


class HeartbeatConnection:
    """A connection as the application sees it: heartbeats answered and filtered out.

    ``recv()`` and ``async for`` return application messages only; ``send()``,
    ``close()`` and ``ping()`` go to the wrapped connection, and so does any other
    attribute (``request``, ``remote_address``, ``id``, ``wait_closed()`` … of a
    ``websockets`` connection). Use it as an async context manager (as
    :meth:`Heartbeat.wrap` does) to run its reader and silence watchdog.

    Attributes:
        connection: the wrapped connection.
        heartbeat: the settings in force.
        heartbeats: how many heartbeats arrived.
        probes: how many times the connection was silent and got probed.
        timed_out: whether the watchdog closed the connection for silence.
        last_seen: the event loop's time of the last proof of life.
        answering: whether heartbeats are answered (``True``); set it to ``False`` to
            play a peer that went quiet (fault injection, tests).
        ended_because: why heartsock ended the connection, if it did: ``"silent"``
            (no proof of life), ``"stalled"`` (it stopped reading), ``"rate limit"``.
    """

    def __init__(self, connection: Connection, heartbeat: Heartbeat | None = None) -> None:
        self.connection = connection
        if heartbeat is None:
            from .server import Heartbeat

            heartbeat = Heartbeat()
        self.heartbeat = heartbeat
        self.heartbeats = 0
        self.probes = 0
        self.timed_out = False
        self.last_seen = 0.0
        self.answering = True
        self.ended_because: str | None = None
        self._rate = _RateLimit(self.heartbeat.max_messages_per_second, self.heartbeat.max_bytes_per_second)
        self._inbox = _Inbox(self.heartbeat.max_queue)
        self._closed_exc: BaseException | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._life = asyncio.Event()  # set by the reader at every message, for probes

    # ---- the application's view ------------------------------------------------------
    async def recv(self) -> Data:
        """Return the next application message (``str`` or ``bytes``).

        Raises:
            websockets.exceptions.ConnectionClosed: the connection ended (also after
                a heartbeat timeout, with :attr:`timed_out` set).
        """
        message = await self._inbox.get()
        if message is None:
            raise self._closed()
        return message

    def __aiter__(self) -> AsyncIterator[Data]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Data]:
        """Yield application messages; stop at a normal close or a heartbeat timeout."""
        from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

        while True:
            try:
                yield await self.recv()
            except ConnectionClosedOK:
                return
            except ConnectionClosed:
                if self.timed_out:
                    return
                raise

    async def recv_streaming(self) -> AsyncIterator[Data]:
        """Yield the next application message, whole, as its only fragment.

        The reader has already assembled the message (it had to, to tell a heartbeat
        from data), so this exists for handlers written against ``websockets``' API.
        """
        yield await self.recv()

    async def send(self, message: Data) -> None:
        """Send ``message`` on the wrapped connection."""
        await self.connection.send(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the wrapped connection with ``code`` and ``reason``."""
        await self.connection.close(code, reason)

    async def ping(self) -> Awaitable[float]:
        """Send a WebSocket Ping frame (see ``websockets``' ``ping()``).

        Raises:
            NotImplementedError: the connection has no Ping frames (ASGI).
        """
        ping = getattr(self.connection, "ping", None)
        if ping is None:
            raise NotImplementedError("this connection has no Ping frames (ASGI)")
        result: Awaitable[float] = await ping()
        return result

    @property
    def silence(self) -> float:
        """Seconds since the last proof of life (a message, or a Pong to a probe)."""
        return max(0.0, asyncio.get_running_loop().time() - self.last_seen)

    @property
    def pending(self) -> int:
        """Application messages received and not read by the handler yet."""
        return len(self._inbox)

    def __getattr__(self, name: str) -> Any:
        if name == "connection":  # not set yet (copy, pickle): do not recurse
            raise AttributeError(name)
        return getattr(self.connection, name)

    # ---- life cycle ---------------------------------------------------------------------
    async def __aenter__(self) -> HeartbeatConnection:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def start(self) -> None:
        """Start reading (answering heartbeats) and, with a ``timeout``, watching silence."""
        if self._tasks:
            return
        self.last_seen = asyncio.get_running_loop().time()
        self._tasks.append(asyncio.create_task(self._read(), name="heartsock-reader"))
        if self.heartbeat.timeout is not None:
            self._tasks.append(asyncio.create_task(self._watch(self.heartbeat.timeout), name="heartsock-watchdog"))
        if self.heartbeat.stall_timeout is not None and hasattr(self.connection, "transport"):
            task = asyncio.create_task(self._watch_writes(self.heartbeat.stall_timeout), name="heartsock-stall")
            self._tasks.append(task)

    async def stop(self) -> None:
        """Cancel the reader and the watchdog and wait for them to end."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._closed_exc is not None:
            # Its traceback holds the frames that raised it, and so this connection: without
            # this, every connection would outlive its handler until a full garbage collection.
            self._closed_exc.__traceback__ = None

    def _closed(self) -> BaseException:
        if self._closed_exc is None:
            from websockets.exceptions import ConnectionClosedError

            self._closed_exc = ConnectionClosedError(None, None)
        return self._closed_exc

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        loop = asyncio.get_running_loop()
        hb = self.heartbeat
        try:
            while True:
                message = await self.connection.recv()
                now = self.last_seen = loop.time()
                self._life.set()
                if not self._rate.allow(len(message), now):
                    await self._end("rate limit", 1008, "rate limit exceeded")
                    return
                if hb.is_ping(message):
                    self.heartbeats += 1
                    if hb.on_ping is not None:
                        try:
                            hb.on_ping(self)
                        except Exception:
                            log.exception("on_ping raised")
                    if hb.pong is not None and self.answering:
                        await self.connection.send(hb.pong)
                    continue
                await self._inbox.put(message)
        except ConnectionClosed as exc:
            self._closed_exc = exc
        except Exception:
            log.exception("heartbeat reader failed; closing the connection")
            await self._end(None, CLOSE_INTERNAL_ERROR, "heartbeat reader failed")
        finally:
            self._inbox.close()
            for task in self._tasks:
                if task is not asyncio.current_task():
                    task.cancel()

    async def _watch(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        hb = self.heartbeat
        while True:
            wait = self.last_seen + timeout - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            if hb.probe_timeout is not None:
                verdict = await self._probe(hb.probe_timeout)
                if verdict == "alive":
                    continue
                if verdict == "closed":
                    return  # the reader sees the end too
            self.timed_out = True
            log.info("no message for %.3fs; closing with %d %r", timeout, hb.close_code, hb.close_reason)
            await self._end("silent", hb.close_code, hb.close_reason)
            return

    async def _watch_writes(self, stall_timeout: float) -> None:
        """Abort the connection once its send buffer stayed above ``stall_buffer`` for ``stall_timeout``."""
        loop = asyncio.get_running_loop()
        transport = self.connection.transport  # type: ignore[attr-defined]
        limit = self.heartbeat.stall_buffer
        step = min(1.0, stall_timeout / 4)
        above_since: float | None = None
        while not transport.is_closing():
            await asyncio.sleep(step)
            if transport.get_write_buffer_size() <= limit:
                above_since = None
            elif above_since is None:
                above_since = loop.time()
            elif loop.time() - above_since >= stall_timeout:
                log.info("send buffer above %d bytes for %.3fs: the client stopped reading", limit, stall_timeout)
                self.ended_because = "stalled"
                transport.abort()
                return

    async def _end(self, because: str | None, code: int, reason: str) -> None:
        """Close with ``code``; abort instead if the close does not finish within ``close_timeout``."""
        if because is not None:
            self.ended_because = because
        try:
            await asyncio.wait_for(self.connection.close(code, reason), self.heartbeat.close_timeout)
        except TimeoutError:
            log.info("close(%d) did not finish within %.3fs; aborting", code, self.heartbeat.close_timeout)
            transport = getattr(self.connection, "transport", None)
            if transport is not None:
                transport.abort()
        except Exception:
            log.debug("close(%d) failed", code, exc_info=True)

    async def _probe(self, probe_timeout: float) -> str:
        """Ping a silent connection: ``"alive"``, ``"dead"`` (no sign within ``probe_timeout``) or ``"closed"``."""
        from websockets.exceptions import ConnectionClosed

        self.probes += 1
        self._life.clear()
        ping = getattr(self.connection, "ping", None)
        if ping is None:
            return "dead"  # ASGI has no Ping frames: silence is all there is to go by
        try:  # ping() waits for flow control: a client that stopped reading never lets it through
            waiter = await asyncio.wait_for(ping(), probe_timeout)
        except TimeoutError:
            return "dead"
        except ConnectionClosed:
            return "closed"
        pong = asyncio.ensure_future(waiter)
        life = asyncio.ensure_future(self._life.wait())
        try:
            done, _ = await asyncio.wait({pong, life}, timeout=probe_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (pong, life):
                if not future.done():
                    future.cancel()
        if life in done:
            return "alive"
        if pong in done:
            if pong.cancelled() or pong.exception() is not None:
                return "closed"
            self.last_seen = asyncio.get_running_loop().time()
            return "alive"
        return "dead"
