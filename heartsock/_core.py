"""The pure decision core of heartsock: states, heartbeat, backoff, offline queue.

Rule 1: every decision lives here — when to ping, when the peer is dead, whether and
when to retry, what a send does while offline. Rule 2: this module does no I/O. It
imports nothing from ``js``, ``pyodide`` or ``asyncio`` and never reads a clock: every
input takes ``now`` (seconds on a monotonic clock) as an argument.

Calling protocol
----------------
The driver (``heartsock._driver.Driver``) owns one :class:`Machine` and feeds it inputs —
user calls (:meth:`~Machine.create`, :meth:`~Machine.reconnect`, :meth:`~Machine.send`,
:meth:`~Machine.destroy`), network events (:meth:`~Machine.socket_opened`,
:meth:`~Machine.socket_message`, :meth:`~Machine.socket_error`,
:meth:`~Machine.socket_failed`, :meth:`~Machine.socket_closed`), browser hints
(:meth:`~Machine.went_offline`, :meth:`~Machine.went_online`,
:meth:`~Machine.became_visible`) and timer wake-ups (:meth:`~Machine.handle_timer`).

After calling any input, the driver:

1. performs every action of :meth:`~Machine.take_actions` (open, send, abandon), in order;
2. delivers one event of :meth:`~Machine.pop_event` to user code, then goes back to 1,
   until no action and no event is left (user code may call inputs, which only queue
   more actions and events: nothing already queued is rewritten);
3. arms its single timer for :meth:`~Machine.next_deadline`. Waking early is harmless:
   every decision compares deadlines with ``now`` rather than counting timer firings.

Every underlying socket gets a new id. Network inputs carry the id the socket was
opened with; an input for any id but the current one is stale and changes nothing, so
a late event from an abandoned socket can never disturb its successor.

The parts: :mod:`heartsock._reconnect` (retry, wait or give up after a loss) and
:mod:`heartsock._core_session` (the ``resume=True`` inputs), both base classes of
:class:`Machine`; :class:`~heartsock._heartbeat.HeartbeatTracker` (ping, reply, latency),
:class:`~heartsock._budget.RetryBudget` (retries left, the ``min_uptime`` rule),
:mod:`heartsock._transitions` (the state changes allowed), :mod:`heartsock._outputs`
(the actions and events).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable

from ._budget import RetryBudget
from ._compat import deque  # MicroPython's deque is fixed-size
from ._core_session import SessionInputs
from ._heartbeat import HeartbeatTracker
from ._outbox import Outbox
from ._outputs import (
    Abandon,
    Action,
    ErrorRaised,
    Event,
    Open,
    Opened,
    Send,
    SocketEnded,
    StateChanged,
    UserCodeFailed,
)
from ._reconnect import HANDSHAKE_FAILED, NO_SESSION_SERVER, ReconnectDecisions
from ._session import ClientSession
from ._transitions import allowed
from .errors import MessageExpired, QueueFull, SocketClosed
from .events import SocketEvent
from .options import Options
from .state import State
from .wire import (
    BYE,
    CLOSE_CONNECT_TIMEOUT,
    CLOSE_HEARTBEAT_TIMEOUT,
    CLOSE_NORMAL,
    Data,
)

__all__ = ["HANDSHAKE_FAILED", "NO_SESSION_SERVER", "ONLINE_JITTER", "Machine"]

#: Upper bound of the random delay before retrying when the browser comes back online.
ONLINE_JITTER = 0.5


_DESTROYED = "destroyed"


class Machine(SessionInputs, ReconnectDecisions):
    """The connection state machine; see the module docstring for the calling protocol.

    Args:
        options: validated options (only the policy parts are used here; the
            user callbacks are the driver's business, except ``should_reconnect``).
        rand: a source of floats in ``[0, 1)`` for jitter; inject one in tests.
    """

    def __init__(self, options: Options, rand: Callable[[], float]) -> None:
        self._opt = options
        self._rand = rand
        self.actions: list[Action] = []  # read by the driver; see take_actions()
        self.events: deque[Event] = deque()  # read by the driver; see pop_event()
        self._queue = Outbox(options.max_queue, options.queue_overflow)
        self.heartbeat = HeartbeatTracker(
            options.heart_time, options.effective_pong_timeout, options.pong_msg, self._user_code_failed
        )
        self.budget = RetryBudget(options, rand, self._user_code_failed)
        self.session = ClientSession() if options.resume else None
        self.state = State.CONNECTING
        self.socket_id = 0  # the current underlying socket; 0 = none
        self._last_id = 0
        self.offline = False
        self.last_close: SocketEvent | None = None
        self.gave_up_because: str | None = None
        self.retry_at: float | None = None
        self._connect_deadline: float | None = None

    # ---- reading --------------------------------------------------------------------
    @property
    def queued(self) -> int:
        """How many messages wait in the offline queue (with a session: not acknowledged yet)."""
        return len(self.session.outbox) if self.session is not None else len(self._queue)

    @property
    def outbox(self) -> Outbox:
        """The offline queue (its policy counters: ``expired``, ``coalesced``, ``overflowed``)."""
        return self._queue

    @property
    def retries(self) -> int:
        """Retries used since the last connection that lasted ``min_uptime``."""
        return self.budget.used

    @property
    def latency(self) -> float | None:
        """Round-trip time of the last answered heartbeat, in seconds."""
        return self.heartbeat.latency

    def take_actions(self) -> list[Action]:
        """Every pending action, in order; the caller performs them all."""
        actions, self.actions = self.actions, []
        return actions

    def pop_event(self) -> Event | None:
        """The next event to deliver, or ``None``; perform pending actions first."""
        return self.events.popleft() if self.events else None

    def next_deadline(self) -> float | None:
        """The earliest time :meth:`handle_timer` has something to do, or ``None``."""
        state = self.state
        if state is State.OPEN:
            hb = self.heartbeat
            deadline = hb.deadline()
            if hb.ping_sent_at is None:
                earned = self.budget.deadline()
                if earned is not None and earned < deadline:
                    deadline = earned
            if self.session is not None and self.session.ack_due is not None:
                return min(deadline, self.session.ack_due)
            return deadline
        if state is State.CONNECTING:
            return self._connect_deadline
        if state is State.RECONNECTING:
            return self.retry_at
        return None

    # ---- user calls -----------------------------------------------------------------
    def create(self, now: float) -> None:
        """Open a new connection now (``Socket.create()``), replacing any live one.

        From ``CLOSED`` this starts over with a fresh retry budget.

        Raises:
            SocketClosed: after :meth:`destroy`.
        """
        self._refuse_if_destroyed("create()")
        self._restart_if_closed()
        self._end_current(CLOSE_NORMAL, "replaced by create()", now)
        self._open(now, "create()")

    def reconnect(self, now: float) -> None:
        """Drop the live connection, if any, and schedule a retry after the backoff delay.

        From ``CLOSED`` this starts over with a fresh retry budget.

        Raises:
            SocketClosed: after :meth:`destroy`.
        """
        self._refuse_if_destroyed("onreconnect()")
        self._restart_if_closed()
        self._end_current(CLOSE_NORMAL, "reconnect requested", now)
        self._schedule_retry(now, "onreconnect()")

    def sends_directly(self, now: float) -> bool:
        """Whether :meth:`send` at ``now`` would do nothing but emit one ``Send`` action.

        True when open, without a session, with no action pending and the heartbeat not
        overdue; the driver may then hand the message to the transport itself, skipping
        the action list (the hot path of ``Socket.send``). Changes nothing.
        """
        return (
            self.state is State.OPEN and self.session is None and not self.actions and not self.heartbeat.overdue(now)
        )

    def send(self, data: Data, now: float, ttl: float | None = None, key: Hashable | None = None) -> bool:
        """Send ``data`` if open (``True``), else queue it for the next connection (``False``).

        Raises:
            SocketClosed: after :meth:`destroy`, or once the socket gave up (``CLOSED``).
            QueueFull: not open, and ``max_queue`` messages already wait.
        """
        state = self.state
        if self.session is not None:
            return self._session_send(data, now)
        if state is State.OPEN:
            if not self.heartbeat.overdue(now):
                self.actions.append(Send(self.socket_id, data))
                return True
            # The wake-up that should have declared the peer dead is late (a throttled tab):
            # do not hand a message to a connection that is presumed dead.
            self._peer_dead(now)
        self._refuse_if_destroyed("send()")
        if self.state is State.CLOSED:
            raise SocketClosed("send() on a socket that gave up reconnecting; call create() to start again")
        dropped = self._queue.put(data, now, ttl, key)
        if dropped is not None:
            self.events.append(
                ErrorRaised(SocketEvent("error", self.socket_id, reason=dropped, error=QueueFull(dropped)))
            )
        return False

    def destroy(self, now: float) -> list[Data]:
        """Stop for good: close the live socket (1000), cancel every deadline.

        Idempotent. Events not yet delivered are dropped: after ``destroy()`` the only
        events left are its own (the socket's close, the change to ``DESTROYED``).

        Returns:
            The messages that were still queued and so never sent.
        """
        if self.state is State.DESTROYED:
            return []
        self.events.clear()
        unsent, _ = self._queue.take(-math.inf)  # nothing has expired for the caller
        if self.session is not None:
            if self.state is State.OPEN:
                self.actions.append(Send(self.socket_id, BYE))  # the server ends the session
            unsent = [payload for _, payload in self.session.outbox]
            self.session.outbox.clear()
        self._end_current(CLOSE_NORMAL, _DESTROYED, now)
        self.retry_at = None
        self._set_state(State.DESTROYED, "destroy()")
        return unsent

    # ---- network events ---------------------------------------------------------------
    def socket_opened(self, socket_id: int, now: float, protocol: str = "") -> None:
        """The browser opened socket ``socket_id`` (with ``protocol``): flush the queue, start the heartbeat.

        With a session, the socket says hello and stays ``CONNECTING`` until the server's
        welcome; a server that did not accept the ``heartsock.v1`` subprotocol is final.
        """
        if socket_id != self.socket_id or self.state is not State.CONNECTING:
            return
        if self.session is not None:
            self._session_opened(socket_id, protocol, now)
            return
        self._connect_deadline = None
        self.budget.connection_opened(now)
        self.heartbeat.start(now)
        self._set_state(State.OPEN, "opened")
        live, expired = self._queue.take(now)
        for data in live:
            self.actions.append(Send(socket_id, data))
        if expired:
            error = MessageExpired(f"{expired} queued message(s) outlived their ttl before a connection opened")
            self.events.append(ErrorRaised(SocketEvent("error", socket_id, reason=str(error), error=error)))
        self.events.append(Opened(SocketEvent("open", socket_id)))

    def socket_message(self, socket_id: int, data: Data, now: float) -> None:
        """A message arrived on ``socket_id``: proof of life; queued for the user unless it is a reply."""
        if self.session is not None:
            self._session_message(socket_id, data, now)
        elif socket_id == self.socket_id and self.state is State.OPEN:
            hb = self.heartbeat
            if hb.ping_sent_at is None and hb.pong_matcher is None:
                hb.last_rx = now  # the common case of HeartbeatTracker.received(), inlined: the hot path
                self.events.append(data)
            elif hb.received(data, now):
                self.events.append(data)

    def plain_messages(self, socket_id: int, now: float) -> bool:
        """Whether messages on ``socket_id`` are, now, the user's and nothing else; if so, note proof of life.

        True on the open connection with no session, no heartbeat awaiting its reply and
        no ``pong_msg``: :meth:`socket_message` would only note ``now`` and queue each as
        is. So a caller may deliver a batch of them itself, without queueing each here,
        for as long as no input leaves an action or an event (every input that ends this
        does: a send, a timer's heartbeat, a close, ``create()``, ``destroy()``).
        """
        if self.session is None and socket_id == self.socket_id and self.state is State.OPEN:
            hb = self.heartbeat
            if hb.ping_sent_at is None and hb.pong_matcher is None:
                hb.last_rx = now
                return True
        return False

    def socket_error(self, socket_id: int, now: float) -> None:
        """The browser reported an error on ``socket_id`` (a close event follows)."""
        if socket_id != self.socket_id:
            return
        if self.state is State.CONNECTING:
            reason = f"WebSocket error before the connection opened: {HANDSHAKE_FAILED}"
        else:
            reason = "WebSocket error"
        self.events.append(ErrorRaised(SocketEvent("error", socket_id, reason=reason)))

    def socket_failed(self, socket_id: int, error: BaseException, now: float) -> None:
        """Socket ``socket_id`` could not even be created (a URL provider raised, a bad URL).

        Reported as an error event and counted as a failed attempt; no close event,
        since no underlying socket existed (and heartsock never invents a close code).
        """
        if socket_id != self.socket_id or self.state is not State.CONNECTING:
            return
        self.events.append(ErrorRaised(SocketEvent("error", socket_id, reason=str(error), error=error)))
        self.socket_id = 0
        self._after_loss(SocketEvent("close", socket_id, None, f"could not connect: {error}", False), now)

    def socket_closed(self, socket_id: int, code: int, reason: str, was_clean: bool, now: float) -> None:
        """The browser closed ``socket_id`` with this code and reason.

        A socket that closes before it ever opened failed its handshake; the browser
        does not say why (1006, no reason), so the event's reason says what is known.
        """
        if socket_id != self.socket_id or self.state not in (State.CONNECTING, State.OPEN):
            return
        handshake_failed = self.state is State.CONNECTING
        if handshake_failed and not reason:
            reason = HANDSHAKE_FAILED
        self.socket_id = 0
        event = SocketEvent("close", socket_id, code, reason, was_clean)
        self.events.append(SocketEnded(event))
        self._after_loss(event, now, handshake_failed)

    # ---- timer and browser hints ---------------------------------------------------------
    def handle_timer(self, now: float) -> None:
        """Act on every deadline that ``now`` has reached (waking early is harmless)."""
        state = self.state
        if state is State.OPEN:
            hb = self.heartbeat
            if hb.overdue(now):
                self._peer_dead(now)
            elif hb.ping_sent_at is None:
                self.budget.settle(now)
                if hb.due(now):
                    self._ping(now)
            session = self.session
            if session is not None and session.ack_due is not None and now >= session.ack_due:
                self.actions.append(Send(self.socket_id, session.take_ack()))
        elif state is State.CONNECTING:
            if self._connect_deadline is not None and now >= self._connect_deadline:
                self._abandon(CLOSE_CONNECT_TIMEOUT, "connect timeout", now, handshake_failed=True)
        elif state is State.RECONNECTING:
            if self.retry_at is not None and now >= self.retry_at:
                self._open(now, "retry")

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
            if self.heartbeat.overdue(now):
                self._peer_dead(now)
            elif not self.heartbeat.in_doubt:
                self._ping(now)
        elif self.state is State.RECONNECTING:
            soon = now + self._rand() * min(ONLINE_JITTER, self._opt.reconnect_time)
            if self.retry_at is None or soon < self.retry_at:
                self.retry_at = soon

    def _refuse_if_destroyed(self, what: str) -> None:
        if self.state is State.DESTROYED:
            raise SocketClosed(f"{what} on a destroyed socket")

    def _restart_if_closed(self) -> None:
        if self.state is State.CLOSED:
            self.budget.refill()
            self.gave_up_because = None

    def _set_state(self, new: State, trigger: str) -> None:
        old = self.state
        if not allowed(old, trigger, new):
            raise AssertionError(f"heartsock bug: no transition {old.name} --{trigger}--> {new.name}")
        self.state = new
        if old is not new:
            self.events.append(StateChanged(old, new))

    def _user_code_failed(self, what: str, error: Exception) -> None:
        self.events.append(UserCodeFailed(what, error))

    def _ping(self, now: float) -> None:
        self.heartbeat.pinged(now)
        self.actions.append(Send(self.socket_id, self._opt.heart_msg, heartbeat=True))

    def _peer_dead(self, now: float) -> None:
        self._abandon(CLOSE_HEARTBEAT_TIMEOUT, "heartbeat timeout", now)

    def _abandon(self, code: int, reason: str, now: float, handshake_failed: bool = False) -> None:
        """heartsock ends the current socket itself; reconnect as for any lost connection.

        ``reason`` goes to the browser's ``close()``, so it stays short (at most 123 bytes).
        """
        sid, self.socket_id = self.socket_id, 0
        event = SocketEvent("close", sid, code, reason, False)
        self.actions.append(Abandon(sid, code, reason))
        self.events.append(SocketEnded(event))
        self._after_loss(event, now, handshake_failed)

    def _end_current(self, code: int, reason: str, now: float) -> None:
        """End the live socket on the user's request; no reconnect decision is taken.

        An open socket (or any socket, for ``destroy()``) gets a close event. A socket
        still connecting that ``create()`` or ``onreconnect()`` replaces ends without one:
        it never became a connection, and the app asked for its end. So ``close_cb``
        calling ``create()`` (the manual-reconnect idiom) cannot feed itself forever.
        """
        sid = self.socket_id
        if sid and self.state in (State.CONNECTING, State.OPEN):
            tell = self.state is State.OPEN or code == CLOSE_NORMAL and reason == _DESTROYED
            self._forget_connection(now)
            self.actions.append(Abandon(sid, code, reason))
            if tell:
                self.events.append(SocketEnded(SocketEvent("close", sid, code, reason, False)))
        self.socket_id = 0

    def _forget_connection(self, now: float) -> None:
        self.budget.connection_ended(self.heartbeat.alive_until(now))
        self.heartbeat.stop()
        self._connect_deadline = None

    def _open(self, now: float, trigger: str) -> None:
        self._last_id += 1
        self.socket_id = self._last_id
        self.retry_at = None
        self._connect_deadline = now + self._opt.connect_timeout
        self._set_state(State.CONNECTING, trigger)
        self.actions.append(Open(self.socket_id))
