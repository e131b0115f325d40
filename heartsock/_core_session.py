"""The core's session inputs (``resume=True``), split from :mod:`heartsock._core` to keep it readable.

:class:`SessionInputs` is a part of :class:`heartsock._core.Machine` (its base class): the
same state, the same rules — the numbers themselves are kept by
:class:`heartsock._session.ClientSession`. Nothing here runs for a socket without a session.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ._outputs import (
    Abandon,
    Acknowledged,
    Action,
    Event,
    Opened,
    Send,
    SessionWasReset,
    SocketEnded,
)
from ._session import ClientSession
from .errors import QueueFull, SocketClosed
from .events import SessionReset, SocketEvent
from .state import State
from .wire import ACK, CLOSE_PROTOCOL_ERROR, CLOSE_PROTOCOL_MISMATCH, DATA, SUBPROTOCOL, WELCOME, Data, parse_frame

if TYPE_CHECKING:
    from ._budget import RetryBudget
    from ._heartbeat import HeartbeatTracker
    from .options import Options

__all__ = ["SessionInputs"]


class SessionInputs:
    """The session half of the core's inputs; see :class:`heartsock._core.Machine`."""

    # Provided by Machine:
    session: ClientSession | None
    state: State
    socket_id: int
    heartbeat: HeartbeatTracker
    budget: RetryBudget
    events: deque[Event]
    last_close: SocketEvent | None
    actions: list[Action]
    _opt: Options
    _connect_deadline: float | None

    if TYPE_CHECKING:  # provided by Machine; never defined here, so nothing shadows it

        def _set_state(self, new: State, trigger: str) -> None: ...
        def _refuse_if_destroyed(self, what: str) -> None: ...
        def _peer_dead(self, now: float) -> None: ...
        def _forget_connection(self, now: float) -> None: ...
        def _give_up(self, event: SocketEvent, why: str) -> None: ...
        def _abandon(self, code: int, reason: str, now: float, handshake_failed: bool = False) -> None: ...

    def _session_send(self, data: Data, now: float) -> bool:
        session = self.session
        assert session is not None
        if self.state is State.OPEN and self.heartbeat.overdue(now):
            self._peer_dead(now)
        self._refuse_if_destroyed("send()")
        if self.state is State.CLOSED:
            raise SocketClosed("send() on a socket that gave up reconnecting; call create() to start again")
        if len(session.outbox) >= self._opt.max_queue:
            raise QueueFull(
                f"max_queue={self._opt.max_queue} messages already wait for the server's acknowledgement; "
                "this one was not queued"
            )
        seq = session.push(data)
        if self.state is State.OPEN:
            self.actions.append(Send(self.socket_id, session.frame(seq, data, now)))
            return True
        return False

    def _session_opened(self, socket_id: int, protocol: str, now: float) -> None:
        session = self.session
        assert session is not None
        if protocol != SUBPROTOCOL:
            why = (
                f"the server does not speak heartsock sessions (it did not accept the {SUBPROTOCOL} subprotocol): "
                "serve it with heartsock.server and resume=True, or use Socket(resume=False)"
            )
            self.socket_id = 0
            event = SocketEvent("close", socket_id, CLOSE_PROTOCOL_MISMATCH, "no heartsock session", False)
            self.actions.append(Abandon(socket_id, CLOSE_PROTOCOL_MISMATCH, "no heartsock session"))
            self.events.append(SocketEnded(event))
            self._forget_connection(now)
            self.last_close = event
            self._give_up(event, why)
            return
        self.heartbeat.start(now)
        session.owed, session.ack_due = 0, None
        self.actions.append(Send(socket_id, session.hello()))

    def _session_message(self, socket_id: int, data: Data, now: float) -> None:
        session = self.session
        assert session is not None
        if socket_id != self.socket_id or self.state not in (State.CONNECTING, State.OPEN):
            return
        self.heartbeat.received(data, now)  # every frame is proof of life; only data frames are the app's
        try:
            kind, number, rest = parse_frame(data)
            if self.state is State.CONNECTING:
                if kind == WELCOME:
                    self._welcomed(number, str(rest), now)
                return
            if kind == DATA:
                verdict = session.received(number, now)
                if verdict == "deliver":
                    self.events.append(rest)
                    if session.ack_now():
                        self.actions.append(Send(socket_id, session.take_ack()))
                elif verdict == "gap":
                    raise ValueError(f"data frame {number} after {session.in_seq}")
            elif kind == ACK:
                rtt = session.acknowledged(number, now)
                if rtt is not None:
                    self.heartbeat.latency = rtt
                self.events.append(Acknowledged(number))
        except ValueError:
            self._abandon(CLOSE_PROTOCOL_ERROR, "session protocol error", now)  # resuming replays the rest

    def _welcomed(self, ack: int, fields: str, now: float) -> None:
        session = self.session
        assert session is not None
        resumed, _, rest = fields.partition("|")
        missing, _, session_id = rest.partition("|")
        old = session.id
        if old and resumed != "1":
            resend = session.renumber()
            lost = int(missing) if missing.isdigit() else -1
            reset = SessionReset(old[:8], session_id[:8], len(resend), lost if lost >= 0 else None)
            self.events.append(SessionWasReset(reset))
        else:
            resend = session.unacked_after(ack)
        session.id = session_id
        socket_id = self.socket_id
        self._connect_deadline = None
        self.budget.connection_opened(now)
        self._set_state(State.OPEN, "opened")
        for seq, payload in resend:
            self.actions.append(Send(socket_id, session.frame(seq, payload, now)))
        self.events.append(Opened(SocketEvent("open", socket_id)))
