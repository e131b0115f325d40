"""The pure decision core of heartsock: states, heartbeat, backoff, offline queue.

Rule 1: every decision lives here — when to ping, when the peer is dead, whether and
when to retry, what a send does while offline. Rule 2: this module does no I/O. It
imports nothing from ``js``, ``pyodide`` or ``asyncio`` and never reads a clock: every
input takes ``now`` (seconds on a monotonic clock) as an argument.

Theory of operation
-------------------
The driver (``heartsock.socket.Socket``) owns one :class:`Machine`. It feeds it inputs —
user calls (:meth:`Machine.connect`, :meth:`~Machine.send`, :meth:`~Machine.destroy`),
network events (:meth:`~Machine.socket_opened`, :meth:`~Machine.socket_message`,
:meth:`~Machine.socket_error`, :meth:`~Machine.socket_closed`), browser hints
(:meth:`~Machine.went_offline`, :meth:`~Machine.went_online`,
:meth:`~Machine.became_visible`) and timer wake-ups (:meth:`~Machine.handle_timer`).

After calling any input, the driver calls :meth:`Machine.pop_output` until it returns
``None`` and performs each output in order: actions (:class:`Open`, :class:`Send`,
:class:`Abandon`) on the transport, and events (:class:`Opened`, :class:`Received`, …)
to user code. Then it asks :meth:`Machine.next_deadline` and makes sure a single timer
fires no later than that; waking early is harmless, since every decision compares
deadlines with ``now`` rather than counting timer firings.

Every underlying socket gets a new id. Network inputs carry the id the socket was
opened with; an input for any id but the current one is stale and changes nothing, so
a late event from an abandoned socket can never disturb its successor.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

from .backoff import BackoffPolicy, exponential, fixed
from .errors import QueueFull, SocketClosed
from .events import SocketEvent
from .options import Options
from .state import State
from .wire import CLOSE_CONNECT_TIMEOUT, CLOSE_HEARTBEAT_TIMEOUT, CLOSE_NORMAL, CLOSE_POLICY_VIOLATION, Data

__all__ = [
    "Abandon",
    "CLOSE_CONNECT_TIMEOUT",
    "CLOSE_HEARTBEAT_TIMEOUT",
    "ErrorRaised",
    "GaveUp",
    "Machine",
    "Open",
    "Opened",
    "Output",
    "Received",
    "Retrying",
    "Send",
    "StateChanged",
    "SocketEnded",
]

log = logging.getLogger("heartsock")


#: Upper bound of the random delay before retrying when the browser comes back online.
ONLINE_JITTER = 0.5


# ---- actions: what the driver must do to the transport ---------------------------------
@dataclass(frozen=True, slots=True)
class Open:
    """Open a new underlying WebSocket with this id."""

    socket_id: int


@dataclass(frozen=True, slots=True)
class Send:
    """Write ``data`` to the open socket ``socket_id`` (``heartbeat``: it is a ping)."""

    socket_id: int
    data: Data
    heartbeat: bool = False


@dataclass(frozen=True, slots=True)
class Abandon:
    """Detach the socket's handlers, try ``close(code, reason)`` and forget it."""

    socket_id: int
    code: int
    reason: str


# ---- events: what the driver must tell user code -----------------------------------------
@dataclass(frozen=True, slots=True)
class Opened:
    """A connection opened (after the offline queue was flushed into it)."""

    event: SocketEvent


@dataclass(frozen=True, slots=True)
class Received:
    """A message for the user (heartbeat replies matched by ``pong_msg`` never are)."""

    data: Data


@dataclass(frozen=True, slots=True)
class SocketEnded:
    """An underlying socket ended: the browser closed it, or heartsock abandoned it."""

    event: SocketEvent


@dataclass(frozen=True, slots=True)
class ErrorRaised:
    """The browser reported an error on the current socket."""

    event: SocketEvent


@dataclass(frozen=True, slots=True)
class Retrying:
    """Retry number ``attempt`` (1-based) will start in ``delay`` seconds."""

    attempt: int
    delay: float


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The state moved from ``old`` to ``new``."""

    old: State
    new: State


@dataclass(frozen=True, slots=True)
class GaveUp:
    """The socket stopped reconnecting (now ``CLOSED``); ``why`` says which rule."""

    code: int | None
    reason: str
    why: str


Output = Union[Open, Send, Abandon, Opened, Received, SocketEnded, ErrorRaised, Retrying, StateChanged, GaveUp]


def _policy(options: Options, rand: Callable[[], float]) -> BackoffPolicy:
    if options.backoff == "exponential":
        return exponential(options.reconnect_time, options.reconnect_max_time, rand)
    if options.backoff == "fixed":
        return fixed(options.reconnect_time)
    assert callable(options.backoff)
    return options.backoff


class Machine:
    """The connection state machine; see the module docstring for the calling protocol.

    Args:
        options: validated options (only the policy parts are used here; the
            user callbacks are the driver's business, except ``should_reconnect``).
        rand: a source of floats in ``[0, 1)`` for jitter; inject one in tests.
    """

    def __init__(self, options: Options, rand: Callable[[], float]) -> None:
        self._opt = options
        self._rand = rand
        self._backoff = _policy(options, rand)
        self._pong_timeout = options.effective_pong_timeout
        self._out: deque[Output] = deque()
        self._queue: deque[Data] = deque()
        self.state = State.CONNECTING
        self.socket_id = 0  # the current underlying socket; 0 = none
        self._last_id = 0
        self.retries = 0  # retries used since the last connection that lasted min_uptime
        self.offline = False
        self.latency: float | None = None
        self.last_close: SocketEvent | None = None
        self.gave_up_because: str | None = None
        self.retry_at: float | None = None
        self._connect_deadline: float | None = None
        self._opened_at: float | None = None
        self._last_rx = 0.0
        self._ping_sent_at: float | None = None

    # ---- reading --------------------------------------------------------------------
    @property
    def queued(self) -> int:
        """How many messages wait in the offline queue."""
        return len(self._queue)

    def pop_output(self) -> Output | None:
        """The next output to perform, or ``None`` when there is none left."""
        return self._out.popleft() if self._out else None

    def next_deadline(self) -> float | None:
        """The earliest time :meth:`handle_timer` has something to do, or ``None``."""
        if self.state is State.CONNECTING:
            return self._connect_deadline
        if self.state is State.RECONNECTING:
            return self.retry_at
        if self.state is State.OPEN:
            if self._ping_sent_at is not None:
                deadline = self._ping_sent_at + self._pong_timeout
            else:
                deadline = self._last_rx + self._opt.heart_time
                if self.retries and self._opened_at is not None:
                    deadline = min(deadline, self._opened_at + self._opt.min_uptime)
            return deadline
        return None

    # ---- user calls -----------------------------------------------------------------
    def connect(self, now: float) -> None:
        """Open a new connection now (``create()``), replacing any live one.

        From ``CLOSED`` this starts over with a fresh retry budget.

        Raises:
            SocketClosed: after :meth:`destroy`.
        """
        self._refuse_if_destroyed("create()")
        if self.state is State.CLOSED:
            self.retries = 0
            self.gave_up_because = None
        self._end_current(CLOSE_NORMAL, "replaced by create()", now)
        self._open(now)

    def reconnect(self, now: float) -> None:
        """Drop the live connection, if any, and schedule a retry after the backoff delay.

        From ``CLOSED`` this starts over with a fresh retry budget.

        Raises:
            SocketClosed: after :meth:`destroy`.
        """
        self._refuse_if_destroyed("onreconnect()")
        if self.state is State.CLOSED:
            self.retries = 0
            self.gave_up_because = None
        self._end_current(CLOSE_NORMAL, "reconnect requested", now)
        self._schedule_retry(now)

    def send(self, data: Data, now: float) -> bool:
        """Send ``data`` if open (``True``), else queue it for the next connection (``False``).

        Raises:
            SocketClosed: after :meth:`destroy`, or once the socket gave up (``CLOSED``).
            QueueFull: not open, and ``max_queue`` messages already wait.
        """
        self._refuse_if_destroyed("send()")
        if self.state is State.CLOSED:
            raise SocketClosed("send() on a socket that gave up reconnecting; call create() to start again")
        if self.state is State.OPEN and self._pong_overdue(now):
            # The wake-up that should have declared the peer dead is late (a throttled tab):
            # do not hand a message to a connection that is presumed dead.
            self._peer_dead(now)
        if self.state is State.OPEN:
            self._out.append(Send(self.socket_id, data))
            return True
        if len(self._queue) >= self._opt.max_queue:
            raise QueueFull(
                f"the offline queue already holds max_queue={self._opt.max_queue} messages; this one was not queued"
            )
        self._queue.append(data)
        return False

    def destroy(self, now: float) -> list[Data]:
        """Stop for good: close the live socket (1000), cancel every deadline.

        Idempotent. Returns the messages that were still queued and so never sent.
        """
        if self.state is State.DESTROYED:
            return []
        # Outputs not yet performed (destroy() called from a callback) must not outlive
        # it: no Open, no callback. Abandons still run; unsent data goes back to the caller.
        pending, self._out = self._out, deque()
        unsent: list[Data] = []
        for out in pending:
            if isinstance(out, Abandon):
                self._out.append(out)
            elif isinstance(out, Send) and not out.heartbeat:
                unsent.append(out.data)
            elif isinstance(out, Open) and out.socket_id == self.socket_id:
                self.socket_id = 0  # never started: nothing to close or report
        self._end_current(CLOSE_NORMAL, "destroyed", now)
        self.retry_at = None
        self._connect_deadline = None
        self._set_state(State.DESTROYED)
        unsent.extend(self._queue)
        self._queue.clear()
        return unsent

    # ---- network events ---------------------------------------------------------------
    def socket_opened(self, socket_id: int, now: float) -> None:
        """The browser opened socket ``socket_id``: flush the queue, start the heartbeat."""
        if socket_id != self.socket_id or self.state is not State.CONNECTING:
            return
        self._connect_deadline = None
        self._opened_at = self._last_rx = now
        self._ping_sent_at = None
        self._set_state(State.OPEN)
        while self._queue:
            self._out.append(Send(socket_id, self._queue.popleft()))
        self._out.append(Opened(SocketEvent("open", socket_id)))

    def socket_message(self, socket_id: int, data: Data, now: float, queue: bool = True) -> bool:
        """A message arrived on ``socket_id``: proof of life; deliver unless it is a pong.

        Returns whether ``data`` is for the user. With ``queue=False`` no :class:`Received`
        output is queued for it: the caller delivers it itself, at once (the driver's
        hot path, when no other output is pending).
        """
        if socket_id != self.socket_id or self.state is not State.OPEN:
            return False
        self._last_rx = now
        if self._opt.pong_msg is None:  # the default: any message is proof of life and the user's
            if self._ping_sent_at is not None:
                self.latency = now - self._ping_sent_at
                self._ping_sent_at = None
            if queue:
                self._out.append(Received(data))
            return True
        is_pong = self._is_pong(data)
        if self._ping_sent_at is not None and is_pong:
            self.latency = now - self._ping_sent_at
            self._ping_sent_at = None
        if is_pong:
            return False
        if queue:
            self._out.append(Received(data))
        return True

    def socket_error(self, socket_id: int, now: float) -> None:
        """The browser reported an error on ``socket_id`` (a close event follows)."""
        if socket_id == self.socket_id:
            self._out.append(ErrorRaised(SocketEvent("error", socket_id, reason="WebSocket error")))

    def socket_failed(self, socket_id: int, error: BaseException, now: float) -> None:
        """Socket ``socket_id`` could not even be created (a URL provider raised, a bad URL).

        Reported as an error event and counted as a failed attempt; no close event,
        since no underlying socket existed.
        """
        if socket_id != self.socket_id or self.state is not State.CONNECTING:
            return
        self._out.append(ErrorRaised(SocketEvent("error", socket_id, reason=str(error), error=error)))
        self._retire(socket_id)
        # No socket existed, so there is no close code: heartsock never invents one.
        self._after_loss(SocketEvent("close", socket_id, None, f"could not connect: {error}", False), now)

    def socket_closed(self, socket_id: int, code: int, reason: str, was_clean: bool, now: float) -> None:
        """The browser closed ``socket_id`` with this code and reason."""
        if socket_id != self.socket_id or self.state not in (State.CONNECTING, State.OPEN):
            return
        self._retire(socket_id)
        event = SocketEvent("close", socket_id, code, reason, was_clean)
        self._out.append(SocketEnded(event))
        self._after_loss(event, now)

    # ---- timer and browser hints ---------------------------------------------------------
    def handle_timer(self, now: float) -> None:
        """Act on every deadline that ``now`` has reached (waking early is harmless)."""
        if self.state is State.CONNECTING:
            if self._connect_deadline is not None and now >= self._connect_deadline:
                self._abandon(CLOSE_CONNECT_TIMEOUT, "connect timeout", now)
        elif self.state is State.OPEN:
            if self._pong_overdue(now):
                self._peer_dead(now)
                return
            if self._ping_sent_at is None:
                if self.retries and self._opened_at is not None and now >= self._opened_at + self._opt.min_uptime:
                    self.retries = 0  # open and not in doubt for min_uptime: a fresh retry budget
                if now >= self._last_rx + self._opt.heart_time:
                    self._ping(now)
        elif self.state is State.RECONNECTING:
            if self.retry_at is not None and now >= self.retry_at:
                self._open(now)

    def went_offline(self, now: float) -> None:
        """The browser says it is offline: keep the socket, but pause retries."""
        self.offline = True
        if self.state is State.RECONNECTING:
            self.retry_at = None

    def went_online(self, now: float) -> None:
        """The browser is back online: probe an open socket, retry a waiting one soon."""
        self.offline = False
        self._wake_up(now)

    def became_visible(self, now: float) -> None:
        """The page became visible: timers may have been throttled, so check now."""
        if not self.offline:
            self._wake_up(now)

    # ---- internals ----------------------------------------------------------------------
    def _wake_up(self, now: float) -> None:
        if self.state is State.OPEN:
            if self._pong_overdue(now):
                self._peer_dead(now)
            elif self._ping_sent_at is None:
                self._ping(now)
        elif self.state is State.RECONNECTING:
            soon = now + self._rand() * min(ONLINE_JITTER, self._opt.reconnect_time)
            if self.retry_at is None or soon < self.retry_at:
                self.retry_at = soon

    def _refuse_if_destroyed(self, what: str) -> None:
        if self.state is State.DESTROYED:
            raise SocketClosed(f"{what} on a destroyed socket")

    def _set_state(self, new: State) -> None:
        old, self.state = self.state, new
        if old is not new:
            self._out.append(StateChanged(old, new))

    def _is_pong(self, data: Data) -> bool:
        matcher = self._opt.pong_msg
        if matcher is None:
            return False
        if isinstance(matcher, (str, bytes)):
            return data == matcher
        try:
            return bool(matcher(data))
        except Exception:
            log.exception("pong_msg predicate raised; treating the message as not a pong")
            return False

    def _pong_overdue(self, now: float) -> bool:
        return self._ping_sent_at is not None and now >= self._ping_sent_at + self._pong_timeout

    def _ping(self, now: float) -> None:
        self._ping_sent_at = now
        self._out.append(Send(self.socket_id, self._opt.heart_msg, heartbeat=True))

    def _peer_dead(self, now: float) -> None:
        log.info("socket %d: no heartbeat reply within %.3fs; abandoning it", self.socket_id, self._pong_timeout)
        self._abandon(CLOSE_HEARTBEAT_TIMEOUT, "heartbeat timeout", now)

    def _retire(self, socket_id: int) -> bool:
        """Forget socket ``socket_id``: drop its pending outputs, requeue its unsent data.

        Outputs wait in order until the driver performs them; when a callback ends the
        socket before they were (``create()`` from ``state_cb``, say), its ``Open`` and
        ``Opened`` must not happen and its messages go back to the front of the queue,
        so each is still sent exactly once, in order.

        Returns:
            Whether the socket was ever started (its ``Open`` was already performed).
        """
        self.socket_id = 0
        started = True
        if not self._out:
            return started
        keep: deque[Output] = deque()
        unsent: list[Data] = []
        for out in self._out:
            if isinstance(out, Send) and out.socket_id == socket_id:
                if not out.heartbeat:
                    unsent.append(out.data)
            elif isinstance(out, Open) and out.socket_id == socket_id:
                started = False
            elif not (isinstance(out, Opened) and out.event.socket_id == socket_id):
                keep.append(out)
        self._out = keep
        self._queue.extendleft(reversed(unsent))
        return started

    def _abandon(self, code: int, reason: str, now: float) -> None:
        """heartsock ends the current socket itself; reconnect as for any lost connection."""
        sid = self.socket_id
        event = SocketEvent("close", sid, code, reason, False)
        if self._retire(sid):
            self._out.append(Abandon(sid, code, reason))
            self._out.append(SocketEnded(event))
        self._after_loss(event, now)

    def _end_current(self, code: int, reason: str, now: float) -> None:
        """End the live socket on the user's request; no reconnect decision is taken."""
        if self.socket_id and self.state in (State.CONNECTING, State.OPEN):
            sid = self.socket_id
            started = self._retire(sid)
            self._forget_connection(now)
            if started:  # a socket whose Open never ran has nothing to close or report
                self._out.append(Abandon(sid, code, reason))
                self._out.append(SocketEnded(SocketEvent("close", sid, code, reason, False)))
        self.socket_id = 0

    def _forget_connection(self, now: float) -> None:
        # Uptime counts while the connection is not in doubt: with a heartbeat unanswered,
        # only until the last proof of life. So a peer that accepts and then goes silent
        # until the heartbeat gives up has not earned a fresh retry budget.
        alive_until = now if self._ping_sent_at is None else self._last_rx
        if self._opened_at is not None and alive_until - self._opened_at >= self._opt.min_uptime:
            self.retries = 0
        self._opened_at = None
        self._ping_sent_at = None
        self._connect_deadline = None

    def _open(self, now: float) -> None:
        self._last_id += 1
        self.socket_id = self._last_id
        self.retry_at = None
        self._connect_deadline = now + self._opt.connect_timeout
        self._set_state(State.CONNECTING)
        self._out.append(Open(self.socket_id))

    def _after_loss(self, event: SocketEvent, now: float) -> None:
        """The current socket is gone (``socket_id`` already 0): retry, wait, or give up."""
        self._forget_connection(now)
        if event.code is not None:
            self.last_close = event
        if not self._opt.is_reconnect:
            self._give_up(event, "reconnect is off (is_reconnect=False)")
        elif not self._wants_reconnect(event):
            self._give_up(event, f"close code {event.code} is final")
        elif self.offline:
            self.retry_at = None  # wait for "online"; offline time burns no attempts
            self._set_state(State.RECONNECTING)
        elif self._opt.reconnect_count != -1 and self.retries >= self._opt.reconnect_count:
            self._give_up(event, f"reconnect_count={self._opt.reconnect_count} retries spent")
        else:
            self._schedule_retry(now)

    def _wants_reconnect(self, event: SocketEvent) -> bool:
        if event.code is None:
            return True  # the attempt failed before any socket existed: not a close to judge
        rule = self._opt.should_reconnect
        if rule is not None:
            try:
                return bool(rule(event))
            except Exception:
                log.exception("should_reconnect raised; using the default close-code rule")
        return event.code != CLOSE_POLICY_VIOLATION

    def _schedule_retry(self, now: float) -> None:
        try:
            delay = float(self._backoff(self.retries))
        except Exception:
            log.exception("backoff policy raised; waiting reconnect_time instead")
            delay = self._opt.reconnect_time
        if not math.isfinite(delay) or delay < 0:
            log.error("backoff policy returned %r; waiting reconnect_time instead", delay)
            delay = self._opt.reconnect_time
        self.retries += 1
        self.retry_at = now + delay
        self._set_state(State.RECONNECTING)
        self._out.append(Retrying(self.retries, delay))

    def _give_up(self, event: SocketEvent, why: str) -> None:
        self.gave_up_because = why
        self.retry_at = None
        self._set_state(State.CLOSED)
        self._out.append(GaveUp(event.code, event.reason, why))
