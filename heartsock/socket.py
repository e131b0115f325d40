"""``Socket``: heartsock's public face — one class for callbacks, listeners and asyncio.

A ``Socket`` holds a private driver (``heartsock._driver``) that runs the pure core
against the runtime; this module is only the API, and reads like its reference.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._compat import MICROPYTHON as _MICROPYTHON
from ._dispatch import EVENTS, Listeners
from ._driver import Driver
from ._json import decode_json
from ._runtime import Runtime
from .errors import ConfigError, ConfigTypeError, ConnectionFailed, SocketClosed
from .events import SocketEvent
from .options import Options, parse_options, positive_seconds
from .state import State
from .stats import Stats
from .wire import Data

if TYPE_CHECKING:
    from ._shared import SharedLink

__all__ = ["Socket"]

F = TypeVar("F", bound=Callable[..., Any])

_SEND_TYPES = (str, bytes, bytearray, memoryview)
_DRAIN_POLL = 0.005  # seconds between bufferedAmount checks in drain()


def _policies(ttl: object, key: object, resume: bool) -> tuple[float | None, Hashable | None]:
    if resume:
        raise ConfigError("send(): ttl and key are not available with resume=True (a session drops nothing)")
    if ttl is not None:
        ttl = positive_seconds("ttl", ttl)
    if key is not None:
        try:
            hash(key)  # not isinstance(key, Hashable): MicroPython has no ABCs
        except TypeError:
            raise ConfigTypeError(f"send(): key must be hashable, got {type(key).__name__}") from None
    return ttl, key


def _check_utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(
            f"send(): the text has a lone surrogate at index {exc.start} ({text[exc.start]!r}), which is not "
            "valid UTF-8 (the browser would send U+FFFD in its place); nothing was sent"
        ) from None


def _default_runtime() -> Runtime:
    """The host's runtime: Pyodide's or MicroPython's in a browser, CPython's asyncio runtime elsewhere."""
    from ._runtime import default_runtime

    return default_runtime()


class Socket:
    """A WebSocket that stays alive: heartbeat, reconnection with backoff, offline queue.

    Construct it with a URL (or a URL provider, or the reference library's option dict)
    and options; it starts connecting at once. See :class:`~heartsock.Options` for
    every option.

    Args:
        url_or_options: ``"ws://…"``/``"wss://…"``, a callable returning the URL
            (plain or ``async``; called before every attempt), or the reference's
            camelCase option dict (times in milliseconds).
        runtime: where to run. ``None``: the browser's ``WebSocket`` in Pyodide, or
            CPython's running asyncio loop with ``websockets`` elsewhere
            (``pip install heartsock[cpython]``). Tests pass
            :class:`heartsock.testing.FakeRuntime`.
        **options: heartsock's keyword options (snake_case, seconds); they override
            the dict's values.

    Raises:
        UnsupportedError: there is no global ``WebSocket`` here; or, on CPython,
            ``websockets`` is not installed or no asyncio loop is running.
        ConfigError: an option value is bad (missing or non-ws URL, negative time, …).
        ConfigTypeError: an option has the wrong type, or its name is unknown.
    """

    CONNECTING = 0
    """``ready_state``: the underlying WebSocket is connecting."""
    OPEN = 1
    """``ready_state``: the underlying WebSocket is open."""
    CLOSING = 2
    """``ready_state``: the underlying WebSocket is closing."""
    CLOSED = 3
    """``ready_state``: there is no open underlying WebSocket."""

    def __init__(self, url_or_options: object = None, *, runtime: Runtime | None = None, **options: Any) -> None:
        opt = parse_options(url_or_options, options)
        rt = runtime if runtime is not None else _default_runtime()
        self._listeners = Listeners({name: getattr(opt, cb) for name, cb in EVENTS.items()}, rt.report)
        self._shared: SharedLink | None = None
        self._shared_reason: str | None = None
        if opt.shared is not None:
            try:
                from ._shared import SharedLink
            except ImportError as exc:  # MicroPython: the relay needs CPython's standard library
                self._shared_reason = f"shared sockets are not available in this Python ({exc}): this socket is private"
            else:
                link = SharedLink(opt.shared, opt, rt, self._listeners, self._install)
                if link.reason is None:
                    self._shared = link  # the lock decides who connects: nothing to create here
                    return
                self._shared_reason = link.reason  # no BroadcastChannel or Web Locks: a private socket
        self._install(Driver(opt, rt, self._listeners))
        self.create()

    def _install(self, driver: Driver) -> None:
        self._driver = driver
        self._machine = driver.machine

    # ---- the reference API ------------------------------------------------------------
    def create(self) -> None:
        """Open a new underlying WebSocket now, replacing (and closing) any live one.

        From ``CLOSED`` (gave up) this starts over with a fresh retry budget.

        Raises:
            SocketClosed: after :meth:`destroy`.
        """
        self._machine.create(self._driver.clock())
        self._driver.run()

    def send(
        self, data: Data | bytearray | memoryview, *, ttl: float | None = None, key: Hashable | None = None
    ) -> bool:
        """Send a text (``str``) or binary (bytes-like) message.

        Args:
            data: the message.
            ttl: while queued, drop it if no connection opened within ``ttl`` seconds
                (counted, and reported as an ``error`` event with a
                :class:`~heartsock.MessageExpired`).
            key: while queued, a newer message with the same key replaces it in its
                place (the latest value wins).

        Returns:
            ``True`` if written to the open socket, ``False`` if queued for the next
            connection (flushed in order before ``open_cb`` runs).

        Raises:
            ConfigTypeError: (a ``TypeError``) ``data`` is not ``str`` or bytes-like.
            ConfigError: (a ``ValueError``) ``data`` is a ``str`` that is not valid UTF-8
                (a lone surrogate), which the browser would silently send as U+FFFD.
            QueueFull: not open, and ``max_queue`` messages already wait.
            SocketClosed: after :meth:`destroy`, or once the socket gave up.
        """
        if type(data) is str:
            if not _MICROPYTHON and not data.isascii():  # MicroPython's str is always valid UTF-8
                _check_utf8(data)
        elif not isinstance(data, _SEND_TYPES):
            raise ConfigTypeError(f"send() takes str or bytes-like data, got {type(data).__name__}")
        elif not isinstance(data, (str, bytes)):
            data = bytes(data)
        if self._shared is not None:
            if ttl is not None or key is not None:
                ttl, key = _policies(ttl, key, self._driver.options.resume)
            return self._shared.send(data, ttl, key)
        driver = self._driver
        if ttl is None and key is None:
            if driver.send_now(data):
                return True
            sent = self._machine.send(data, driver.clock())
        else:
            sent = self._machine.send(data, driver.clock(), *_policies(ttl, key, self._driver.options.resume))
        driver.run()
        return sent

    def destroy(self) -> list[Data]:
        """Close for good (code 1000), cancel every timer, release every proxy.

        Idempotent. No connection attempt, heartbeat or callback runs after it, except
        the close and state callbacks of the destroy itself.

        Returns:
            The messages that were still in the offline queue, never sent.
        """
        if self._machine.state is State.DESTROYED:
            return []
        self._listeners.cut()  # called from a callback: the event in progress reaches no one else
        if self._shared is not None:
            return self._shared.destroy()  # a leader hands the socket over to another tab
        unsent = self._machine.destroy(self._driver.clock())
        self._driver.close()
        return unsent

    def onreconnect(self) -> None:
        """Drop the live connection (if any) and schedule a retry after the backoff delay.

        From ``CLOSED`` this starts over with a fresh retry budget.

        Raises:
            SocketClosed: after :meth:`destroy`.
        """
        self._machine.reconnect(self._driver.clock())
        self._driver.run()

    def onopen(self, cb: Callable[..., Any] | None) -> None:
        """Set the open callback (replaces ``open_cb``; kept across reconnects)."""
        self._set_callback("open", cb)

    def onclose(self, cb: Callable[..., Any] | None) -> None:
        """Set the close callback (replaces ``close_cb``; kept across reconnects)."""
        self._set_callback("close", cb)

    def onmessage(self, cb: Callable[..., Any] | None) -> None:
        """Set the message callback (replaces ``message_cb``; kept across reconnects)."""
        self._set_callback("message", cb)

    def onerror(self, cb: Callable[..., Any] | None) -> None:
        """Set the error callback (replaces ``error_cb``; kept across reconnects)."""
        self._set_callback("error", cb)

    def _set_callback(self, event: str, cb: Callable[..., Any] | None) -> None:
        if cb is not None and not callable(cb):
            raise ConfigTypeError(f"on{event}() takes a callable or None, got {type(cb).__name__}")
        self._listeners.callbacks[event] = cb

    # ---- listeners ---------------------------------------------------------------------
    @overload
    def on(self, event: str) -> Callable[[F], F]: ...
    @overload
    def on(self, event: str, fn: F) -> F: ...
    def on(self, event: str, fn: F | None = None) -> F | Callable[[F], F]:
        """Add a listener for ``event``; usable as ``@sock.on("message")``.

        Events and their arguments: ``"open"`` (event), ``"message"`` (data),
        ``"close"`` (event), ``"error"`` (event), ``"reconnect"`` (attempt, delay),
        ``"state"`` (old, new), ``"reset"`` (a :class:`~heartsock.SessionReset`). Listeners
        run after the ``*_cb`` option, in the order
        they were added; plain functions and coroutine functions both work.

        Raises:
            ConfigError: ``event`` is not one of the names above.
            ConfigTypeError: ``fn`` is not callable.
        """
        self._check_event(event)
        if fn is None:

            def decorator(f: F) -> F:
                return self.on(event, f)

            return decorator
        if not callable(fn):
            raise ConfigTypeError(f"on({event!r}, fn): fn must be callable, got {type(fn).__name__}")
        self._listeners.add(event, fn)
        return fn

    def off(self, event: str, fn: Callable[..., Any]) -> bool:
        """Remove a listener added with :meth:`on`; return whether it was there."""
        self._check_event(event)
        return self._listeners.remove(event, fn)

    @staticmethod
    def _check_event(event: str) -> None:
        if event not in EVENTS:
            raise ConfigError(f"unknown event {event!r}; events are {', '.join(EVENTS)}")

    # ---- properties --------------------------------------------------------------------
    @property
    def state(self) -> State:
        """Where the socket is in its life cycle (:class:`~heartsock.State`)."""
        return self._machine.state

    @property
    def ready_state(self) -> int:
        """The underlying WebSocket's ``readyState``; ``Socket.CLOSED`` when there is none."""
        sid = self._machine.socket_id
        return self._driver.transport.ready_state(sid) if sid else self.CLOSED

    @property
    def url(self) -> str:
        """The URL of the current or last attempt ('' before a URL provider first answered)."""
        return self._driver.url

    @property
    def latency(self) -> float | None:
        """Round-trip time of the last answered heartbeat, in seconds (``None`` before)."""
        return self._machine.latency

    @property
    def queued(self) -> int:
        """How many messages wait in the offline queue."""
        return self._machine.queued

    @property
    def attempt(self) -> int:
        """Retries used since the last connection that stayed up ``min_uptime``."""
        return self._machine.retries

    @property
    def retry_in(self) -> float | None:
        """Seconds until the scheduled retry, or ``None`` when none is scheduled."""
        at = self._machine.retry_at
        if at is None or self._machine.state is not State.RECONNECTING:
            return None
        return max(0.0, at - self._driver.clock())

    @property
    def buffered_amount(self) -> int:
        """The underlying WebSocket's ``bufferedAmount`` (0 when there is none)."""
        sid = self._machine.socket_id
        return self._driver.transport.buffered_amount(sid) if sid else 0

    @property
    def last_close(self) -> SocketEvent | None:
        """The close event of the last underlying socket that ended, if any."""
        return self._machine.last_close

    @property
    def recv_dropped(self) -> int:
        """Messages not buffered for :meth:`recv` because the buffer was full."""
        return self._driver.inbox.dropped

    @property
    def closed_reason(self) -> str | None:
        """Why the socket gave up (``CLOSED``), e.g. ``"close code 1008 is final"``; else ``None``."""
        return self._machine.gave_up_because if self._machine.state is State.CLOSED else None

    @property
    def sharing(self) -> str:
        """How this socket shares its connection (``shared=``; see the README's "Sharing one socket across tabs").

        ``"off"``: no ``shared=`` name; ``"leader"``: this tab holds the underlying WebSocket
        for every tab sharing the name; ``"follower"``: another tab does (or none yet), and
        this socket's state mirrors it; ``"private"``: ``shared=`` was asked for but this
        runtime lacks ``BroadcastChannel`` or Web Locks (or is CPython), so the socket has
        its own connection — :attr:`sharing_reason` says why.
        """
        if self._shared is not None:
            return "leader" if self._shared.is_leader else "follower"
        return "off" if self._shared_reason is None else "private"

    @property
    def sharing_reason(self) -> str | None:
        """Why a ``shared=`` socket fell back to a private connection (``None`` otherwise)."""
        return self._shared_reason

    @property
    def is_leader(self) -> bool:
        """Whether this tab holds the underlying WebSocket (always, for a socket that is not shared)."""
        return self._shared is None or self._shared.is_leader

    @property
    def tabs(self) -> int:
        """How many tabs share this socket's connection, as far as this tab knows.

        ``1`` for a socket that is not shared; ``0`` for a follower that has not heard from
        a leader yet. A tab that crashed stays counted until the leader changes.
        """
        return 1 if self._shared is None else self._shared.tabs

    @property
    def options(self) -> Options:
        """The validated options this socket runs with."""
        return self._driver.options

    def stats(self) -> Stats:
        """A snapshot of this socket's counters (:class:`~heartsock.Stats`)."""
        d = self._driver
        return Stats(
            messages_in=d.messages_in,
            messages_out=d.messages_out,
            size_in=d.size_in,
            size_out=d.size_out,
            connections=d.connections,
            retries=d.retries,
            queued=self._machine.queued,
            expired=self._machine.outbox.expired,
            coalesced=self._machine.outbox.coalesced,
            overflowed=self._machine.outbox.overflowed,
            recv_buffered=len(d.inbox),
            recv_dropped=d.inbox.dropped,
            live_sockets=d.transport.live,
            live_proxies=d.runtime.live_proxies(),
        )

    # ---- asyncio -----------------------------------------------------------------------
    async def wait_open(self, timeout: float | None = None) -> None:
        """Return once the socket is open (at once if it is).

        Raises:
            ConnectionFailed: the socket gave up (``CLOSED``).
            SocketClosed: the socket was destroyed.
            TimeoutError: ``timeout`` seconds passed first.
        """
        if self._machine.state is State.OPEN:
            return
        if timeout is None:
            await self._until_open()
        else:
            await asyncio.wait_for(self._until_open(), timeout)

    async def _until_open(self) -> None:
        while self._machine.state is not State.OPEN:
            self._raise_if_over()
            await self._driver.inbox.changed()

    async def recv(self) -> Data:
        """Return the next message (``str`` or ``bytes``), waiting across reconnects.

        Messages are buffered (up to ``max_recv_queue``) from the first call of
        :meth:`recv` or ``async for`` on, or from the start for sockets made by
        :func:`connect`. When the buffer is full, further messages still reach
        ``message_cb`` and listeners but not :meth:`recv`; the first drop of each overflow
        is reported (``error_cb``) and every drop counted in :attr:`recv_dropped`.

        Raises:
            ConnectionFailed: the socket gave up and no buffered message is left.
            SocketClosed: the socket was destroyed and no buffered message is left.
        """
        inbox = self._driver.inbox
        inbox.enabled = True
        while (data := inbox.take()) is None:
            self._raise_if_over()
            await inbox.changed()
        return data

    async def recv_json(self) -> Any:
        """:meth:`recv` a message and decode it as JSON.

        Raises:
            DecodeError: (a ``ValueError``) the message is not JSON, or nests deeper than
                500 levels; the socket is fine.
        """
        return decode_json(await self.recv(), "recv_json()")

    def send_json(self, obj: Any) -> bool:
        """Send ``obj`` encoded as a JSON text message; see :meth:`send`."""
        return self.send(json.dumps(obj, separators=(",", ":")))

    async def drain(self) -> None:
        """Return when the offline queue is empty and the browser has sent everything.

        Raises:
            ConnectionFailed: the socket gave up with messages still queued.
            SocketClosed: the socket was destroyed.
        """
        while True:
            if self._machine.state is State.DESTROYED:
                raise SocketClosed("drain() on a destroyed socket")
            if self._machine.queued:
                self._raise_if_over()
                await self._driver.inbox.changed()
            elif self.buffered_amount:
                await asyncio.sleep(_DRAIN_POLL)
            else:
                return

    def __aiter__(self) -> AsyncIterator[Data]:
        """Iterate over received messages (see :meth:`recv`) until the socket is destroyed."""
        self._driver.inbox.enabled = True
        return _Messages(self)

    def _raise_if_over(self) -> None:
        state = self._machine.state
        if state is State.DESTROYED:
            raise SocketClosed("the socket was destroyed")
        if state is State.CLOSED:
            last = self._machine.last_close
            code = last.code if last else None
            reason = last.reason if last else ""
            why = self._machine.gave_up_because
            raise ConnectionFailed(f"the socket gave up: {why} (last close: {code} {reason!r})", code, reason)

    def _buffer_from_the_start(self) -> None:
        """Buffer every message for :meth:`recv` from now on (sockets made by ``connect()``)."""
        self._driver.inbox.enabled = True

    def __repr__(self) -> str:
        return f"<heartsock.Socket {self._driver.url or '(url provider)'} {self._machine.state.name}>"


class _Messages:
    """``async for`` over a socket (a class, not an async generator: MicroPython has none)."""

    def __init__(self, sock: Socket) -> None:
        self._sock = sock

    def __aiter__(self) -> _Messages:
        return self

    async def __anext__(self) -> Data:
        data = self._sock._driver.inbox.take()  # already buffered (a batch's messages): no recv() coroutine
        if data is not None:
            return data
        try:
            return await self._sock.recv()
        except SocketClosed:
            raise StopAsyncIteration from None
