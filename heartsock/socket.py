"""``Socket``: heartsock's public face — one class for callbacks, listeners and asyncio.

The socket is a driver around the pure core (``heartsock._core.Machine``): it feeds the
core every input with ``now`` from the runtime's clock, performs the actions the core
hands back (open, send, abandon) on the runtime's transport, delivers events to user
code, and keeps exactly one timer armed no later than the core's next deadline.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from typing import Any, TypeVar, overload

from . import _core
from ._dispatch import EVENTS, Listeners, Waiters
from ._runtime import Runtime
from .errors import ConfigError, ConfigTypeError, ConnectionFailed, DecodeError, QueueFull, SocketClosed
from .events import SocketEvent
from .options import Options, parse_options, validate_url
from .state import State
from .wire import Data

__all__ = ["Connecting", "Socket", "connect"]

log = logging.getLogger("heartsock")

F = TypeVar("F", bound=Callable[..., Any])

_SEND_TYPES = (str, bytes, bytearray, memoryview)
_DRAIN_POLL = 0.005  # seconds between bufferedAmount checks in drain()
_TRUNCATE = 200  # characters of bad JSON quoted in DecodeError


def _default_runtime() -> Runtime:
    from ._browser import browser_runtime

    return browser_runtime()


class Socket:
    """A WebSocket that stays alive: heartbeat, reconnection with backoff, offline queue.

    Construct it with a URL (or a URL provider, or the reference library's option dict)
    and options; it starts connecting at once. See the README for every option.

    Args:
        url_or_options: ``"ws://…"``/``"wss://…"``, a callable returning the URL
            (plain or ``async``; called before every attempt), or the reference's
            camelCase option dict (times in milliseconds).
        runtime: where to run; the browser (Pyodide) when ``None``. Tests pass
            :class:`heartsock.testing.FakeRuntime`.
        **options: heartsock's keyword options (snake_case, seconds); they override
            the dict's values.

    Raises:
        UnsupportedError: there is no global ``WebSocket`` here.
        ConfigError: an option value is bad (missing or non-ws URL, negative time, …).
        ConfigTypeError: an option has the wrong type, or its name is unknown.
    """

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3

    def __init__(self, url_or_options: object = None, /, *, runtime: Runtime | None = None, **options: Any) -> None:
        self._options: Options = parse_options(url_or_options, options)
        opt = self._options
        self._runtime = runtime if runtime is not None else _default_runtime()
        self._clock = self._runtime.clock
        self._listeners = Listeners({name: getattr(opt, cb) for name, cb in EVENTS.items()})
        self._machine = _core.Machine(opt, self._runtime.random)
        self._url = opt.url if isinstance(opt.url, str) else ""
        self._waiters = Waiters()
        self._inbox: deque[Data] = deque()
        self._inbox_on = False
        self._recv_dropped = 0
        self._overflowing = False
        self._pumping = False
        self._armed: float | None = None
        self._timer = self._runtime.timer(self._on_timer)
        self._transport = self._runtime.transport(self)
        self._watch = self._runtime.watch(self)
        if not self._watch.online:
            self._machine.went_offline(self._clock())
        self.create()

    # ---- the reference API ------------------------------------------------------------
    def create(self) -> None:
        """Open a new underlying WebSocket now, replacing (and closing) any live one.

        From ``CLOSED`` (gave up) this starts over with a fresh retry budget.

        Raises:
            SocketClosed: after :meth:`destroy`.
        """
        self._machine.connect(self._clock())
        self._pump()

    def send(self, data: Data | bytearray | memoryview) -> bool:
        """Send a text (``str``) or binary (bytes-like) message.

        Returns:
            ``True`` if written to the open socket, ``False`` if queued for the next
            connection (flushed in order before ``open_cb`` runs).

        Raises:
            TypeError: ``data`` is not ``str`` or bytes-like.
            QueueFull: not open, and ``max_queue`` messages already wait.
            SocketClosed: after :meth:`destroy`, or once the socket gave up.
        """
        if not isinstance(data, _SEND_TYPES):
            raise ConfigTypeError(f"send() takes str or bytes-like data, got {type(data).__name__}")
        if not isinstance(data, (str, bytes)):
            data = bytes(data)
        machine = self._machine
        sent = machine.send(data, self._clock())
        if sent and not self._pumping:
            # Sent on an open socket: the core queued one output, this Send, and no deadline
            # moved. Perform it without the pump's re-arm.
            if self._perform_pending(machine) > 1:
                self._rearm()
        else:
            self._pump()
        return sent

    def destroy(self) -> list[Data]:
        """Close for good (code 1000), cancel every timer, release every proxy.

        Idempotent. No connection attempt, heartbeat or callback timer runs after it.

        Returns:
            The messages that were still in the offline queue, never sent.
        """
        if self._machine.state is State.DESTROYED:
            return []
        unsent = self._machine.destroy(self._clock())
        self._pump()
        self._timer.close()
        self._watch.close()
        self._transport.close()
        self._armed = None
        self._waiters.notify()
        return unsent

    def onreconnect(self) -> None:
        """Drop the live connection (if any) and schedule a retry after the backoff delay.

        From ``CLOSED`` this starts over with a fresh retry budget.

        Raises:
            SocketClosed: after :meth:`destroy`.
        """
        self._machine.reconnect(self._clock())
        self._pump()

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
        ``"state"`` (old, new). Listeners run after the ``*_cb`` option, in the order
        they were added; plain functions and coroutine functions both work.
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
        return self._transport.ready_state(sid) if sid else self.CLOSED

    @property
    def url(self) -> str:
        """The URL of the current or last attempt ('' before a URL provider first answered)."""
        return self._url

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
        return max(0.0, at - self._clock())

    @property
    def buffered_amount(self) -> int:
        """The underlying WebSocket's ``bufferedAmount`` (0 when there is none)."""
        sid = self._machine.socket_id
        return self._transport.buffered_amount(sid) if sid else 0

    @property
    def last_close(self) -> SocketEvent | None:
        """The close event of the last underlying socket that ended, if any."""
        return self._machine.last_close

    @property
    def recv_dropped(self) -> int:
        """Messages not buffered for :meth:`recv` because the buffer was full."""
        return self._recv_dropped

    @property
    def closed_reason(self) -> str | None:
        """Why the socket gave up (``CLOSED``), e.g. ``"close code 1008 is final"``; else ``None``."""
        return self._machine.gave_up_because if self._machine.state is State.CLOSED else None

    @property
    def options(self) -> Options:
        """The validated options this socket runs with."""
        return self._options

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
            await self._waiters.changed()

    async def recv(self) -> Data:
        """Return the next message (``str`` or ``bytes``), waiting across reconnects.

        Messages are buffered (up to ``max_recv_queue``) from the first call of
        :meth:`recv` or ``async for`` on, or from the start for sockets made by
        :func:`connect`. When the buffer is full, further messages still reach
        ``message_cb`` and listeners but not :meth:`recv`; the first drop of each overflow
        is reported (``error_cb``, a warning) and every drop counted in :attr:`recv_dropped`.

        Raises:
            ConnectionFailed: the socket gave up and no buffered message is left.
            SocketClosed: the socket was destroyed and no buffered message is left.
        """
        self._inbox_on = True
        while not self._inbox:
            self._raise_if_over()
            await self._waiters.changed()
        return self._inbox.popleft()

    async def recv_json(self) -> Any:
        """:meth:`recv` a message and decode it as JSON.

        Raises:
            DecodeError: (a ``ValueError``) the message is not JSON; the socket is fine.
        """
        data = await self.recv()
        try:
            return json.loads(data)
        except ValueError as exc:
            text = data if isinstance(data, str) else data.decode("utf-8", "replace")
            shown = text if len(text) <= _TRUNCATE else text[:_TRUNCATE] + f"… ({len(text)} characters)"
            raise DecodeError(f"recv_json(): the message is not JSON ({exc}): {shown!r}") from exc

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
                await self._waiters.changed()
            elif self.buffered_amount:
                await asyncio.sleep(_DRAIN_POLL)
            else:
                return

    def __aiter__(self) -> AsyncIterator[Data]:
        self._inbox_on = True
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Data]:
        while True:
            try:
                yield await self.recv()
            except SocketClosed:
                return

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

    # ---- transport and watch sinks (called by the runtime) -----------------------------
    def on_open(self, socket_id: int) -> None:
        """Transport sink (called by the runtime, not by users): socket ``socket_id`` opened."""
        self._machine.socket_opened(socket_id, self._clock())
        self._pump()

    def on_message(self, socket_id: int, data: Data) -> None:
        """Transport sink: socket ``socket_id`` received ``data``. The hot path."""
        # The hot path (every received message). Delivered at once, without an output,
        # unless a pump is running (a re-entrant event: the outputs keep the order). A
        # message moves no deadline earlier unless it answered a pending heartbeat (which
        # sets ``latency``), so the timer is re-armed only then, or when the user's
        # callback caused outputs.
        machine = self._machine
        if self._pumping:
            machine.socket_message(socket_id, data, self._clock())
            return
        latency = machine.latency
        if machine.socket_message(socket_id, data, self._clock(), queue=False):
            self._pumping = True
            try:
                self._deliver(data)
            finally:
                self._pumping = False
        if self._perform_pending(machine) or machine.latency is not latency:
            self._rearm()

    def on_error(self, socket_id: int) -> None:
        """Transport sink: the browser reported an error on socket ``socket_id``."""
        self._machine.socket_error(socket_id, self._clock())
        self._pump()

    def on_close(self, socket_id: int, code: int, reason: str, was_clean: bool) -> None:
        """Transport sink: socket ``socket_id`` closed."""
        self._machine.socket_closed(socket_id, code, reason, was_clean, self._clock())
        self._pump()

    def on_offline(self) -> None:
        """Watch sink: the browser went offline."""
        self._machine.went_offline(self._clock())
        self._pump()

    def on_online(self) -> None:
        """Watch sink: the browser came back online."""
        self._machine.went_online(self._clock())
        self._pump()

    def on_visible(self) -> None:
        """Watch sink: the page became visible."""
        self._machine.became_visible(self._clock())
        self._pump()

    def _on_timer(self) -> None:
        self._armed = None
        self._machine.handle_timer(self._clock())
        self._pump()

    # ---- performing the core's outputs -------------------------------------------------
    def _perform_pending(self, machine: _core.Machine) -> int:
        """Perform every pending output (as :meth:`_pump` does, without re-arming the timer).

        Returns how many were performed.
        """
        self._pumping = True
        count = 0
        try:
            pop = machine.pop_output
            while (out := pop()) is not None:
                count += 1
                self._perform(out)
        finally:
            self._pumping = False
        return count

    def _pump(self) -> None:
        """Perform every pending output in order, then make sure the timer is armed.

        Re-entrant calls (a callback that sends or destroys) return at once: the
        outermost pump performs their outputs, in the order the core produced them.
        """
        if self._pumping:
            return
        self._perform_pending(self._machine)
        self._rearm()

    def _rearm(self) -> None:
        deadline = self._machine.next_deadline()
        if deadline is None:
            if self._armed is not None:
                self._timer.cancel()
                self._armed = None
        elif self._armed is None or deadline < self._armed:
            # A later deadline keeps the earlier timer: it wakes early, finds nothing
            # due, and re-arms. So the hot path (every message) never touches the timer.
            self._timer.arm(max(0.0, deadline - self._clock()))
            self._armed = deadline

    def _perform(self, out: _core.Output) -> None:
        if isinstance(out, _core.Received):
            self._deliver(out.data)
        elif isinstance(out, _core.Send):
            try:
                self._transport.send(out.socket_id, out.data)
            except Exception:
                log.exception("socket %d: send failed", out.socket_id)
        elif isinstance(out, _core.Open):
            self._open(out.socket_id)
        elif isinstance(out, _core.Abandon):
            self._transport.abandon(out.socket_id, out.code, out.reason)
        elif isinstance(out, _core.Opened):
            self._listeners.emit("open", out.event)
            self._waiters.notify()
        elif isinstance(out, _core.SocketEnded):
            log.info("socket %d closed: %s %r", out.event.socket_id, out.event.code, out.event.reason)
            self._listeners.emit("close", out.event)
        elif isinstance(out, _core.ErrorRaised):
            self._listeners.emit("error", out.event)
        elif isinstance(out, _core.Retrying):
            log.info("retry %d in %.3fs", out.attempt, out.delay)
            self._listeners.emit("reconnect", out.attempt, out.delay)
        elif isinstance(out, _core.StateChanged):
            self._listeners.emit("state", out.old, out.new)
            self._waiters.notify()
        elif isinstance(out, _core.GaveUp):
            log.warning("gave up reconnecting: %s (last close %s %r)", out.why, out.code, out.reason)
            self._waiters.notify()

    def _deliver(self, data: Data) -> None:
        self._listeners.emit("message", data)
        if not self._inbox_on:
            return
        if len(self._inbox) >= self._options.max_recv_queue:
            self._recv_dropped += 1
            if not self._overflowing:  # report each overflow once, count every drop
                self._overflowing = True
                error = QueueFull(
                    f"receive buffer full (max_recv_queue={self._options.max_recv_queue}): messages reach "
                    "message_cb and listeners but not recv() until it catches up; see recv_dropped"
                )
                log.warning("%s", error)
                event = SocketEvent("error", self._machine.socket_id, reason=str(error), error=error)
                self._listeners.emit("error", event)
            return
        self._overflowing = False
        self._inbox.append(data)
        self._waiters.notify()

    def _open(self, socket_id: int) -> None:
        url = self._options.url
        if isinstance(url, str):
            self._start(socket_id, url)
            return
        try:
            result = url()
        except Exception as exc:
            self._machine.socket_failed(socket_id, exc, self._clock())
            return
        if isinstance(result, Awaitable):
            task = asyncio.ensure_future(self._resolve(socket_id, result))
            task.add_done_callback(lambda t: None if t.cancelled() else t.exception())
        else:
            self._start(socket_id, result)

    async def _resolve(self, socket_id: int, pending: Awaitable[str]) -> None:
        try:
            url = await pending
        except Exception as exc:
            self._machine.socket_failed(socket_id, exc, self._clock())
        else:
            if self._machine.socket_id == socket_id and self._machine.state is State.CONNECTING:
                self._start(socket_id, url)
        self._pump()

    def _start(self, socket_id: int, url: object) -> None:
        try:
            self._url = validate_url(url, "the URL provider's result" if callable(self._options.url) else "url")
            self._transport.open(socket_id, self._url, self._options.protocols)
        except Exception as exc:
            self._machine.socket_failed(socket_id, exc, self._clock())

    def __repr__(self) -> str:
        return f"<heartsock.Socket {self._url or '(url provider)'} {self._machine.state.name}>"


class Connecting:
    """What :func:`connect` returns: ``await`` it, or use it with ``async with``."""

    def __init__(self, url_or_options: object, runtime: Runtime | None, options: Mapping[str, Any]) -> None:
        self._args = (url_or_options, runtime, dict(options))
        self._socket: Socket | None = None

    async def _open(self) -> Socket:
        url_or_options, runtime, options = self._args
        sock = Socket(url_or_options, runtime=runtime, **options)
        sock._inbox_on = True  # buffer for recv() from the very first message
        try:
            await sock.wait_open()
        except BaseException:
            sock.destroy()
            raise
        return sock

    def __await__(self) -> Generator[Any, None, Socket]:
        return self._open().__await__()

    async def __aenter__(self) -> Socket:
        self._socket = await self._open()
        return self._socket

    async def __aexit__(self, *exc_info: object) -> None:
        if self._socket is not None:
            self._socket.destroy()


def connect(url_or_options: object = None, /, *, runtime: Runtime | None = None, **options: Any) -> Connecting:
    """Open a :class:`Socket` and wait until its first connection is open.

    ``sock = await connect(url, ...)`` or ``async with connect(url, ...) as sock:``
    (the socket is destroyed when the block exits, also on errors and cancellation).
    Takes the same arguments as :class:`Socket`.

    Raises:
        ConnectionFailed: the socket gave up before it ever opened (``.code`` and
            ``.reason`` of the last close).
    """
    return Connecting(url_or_options, runtime, options)
