"""The core's reconnect decisions: after a lost connection, retry, wait, or give up.

:class:`ReconnectDecisions` is a part of :class:`heartsock._core.Machine` (a base class),
split out to keep the core readable: the close-code policy (1008 and 4400 are final,
``should_reconnect`` overrides), the retry budget, the backoff delay, and why it gave up.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ._outputs import Event, GaveUp, Retrying
from .events import SocketEvent
from .state import State
from .wire import CLOSE_POLICY_VIOLATION, CLOSE_PROTOCOL_MISMATCH, SUBPROTOCOL

if TYPE_CHECKING:
    from ._budget import RetryBudget
    from ._session import ClientSession
    from .options import Options

__all__ = ["HANDSHAKE_FAILED", "NO_SESSION_SERVER", "ReconnectDecisions"]

#: What heartsock can say about an attempt that closed before it ever opened. The browser
#: hides the HTTP status of a failed handshake from scripts (it shows it in its console).
HANDSHAKE_FAILED = (
    "the handshake failed: the server refused the connection, could not be reached, or rejected "
    "the handshake (an Origin check or a wrong path, say); the browser console shows the HTTP status"
)
#: With ``resume=True``: browsers refuse a handshake whose server chose no subprotocol, so a
#: server without heartsock sessions looks like a failed handshake too.
NO_SESSION_SERVER = (
    f"with resume=True this is also what a server without heartsock sessions looks like (it did not "
    f"accept the {SUBPROTOCOL} subprotocol, so the browser refused the handshake)"
)


class ReconnectDecisions:
    """What happens after a connection is lost; see :class:`heartsock._core.Machine`."""

    # Provided by Machine:
    session: ClientSession | None
    budget: RetryBudget
    events: deque[Event]
    offline: bool
    retry_at: float | None
    last_close: SocketEvent | None
    gave_up_because: str | None
    _opt: Options

    if TYPE_CHECKING:  # provided by Machine; never defined here, so nothing shadows it

        def _set_state(self, new: State, trigger: str) -> None: ...
        def _forget_connection(self, now: float) -> None: ...
        def _user_code_failed(self, what: str, error: Exception) -> None: ...

    def _after_loss(self, event: SocketEvent, now: float, handshake_failed: bool = False) -> None:
        """The current socket is gone (``socket_id`` already 0): retry, wait, or give up.

        ``handshake_failed``: the socket closed (or timed out) before it ever opened.
        """
        self._forget_connection(now)
        if event.code is not None:
            self.last_close = event
        why = None
        if not self._opt.is_reconnect:
            why = "reconnect is off (is_reconnect=False)"
        elif not self._wants_reconnect(event):
            why = f"close code {event.code} is final"
        elif self.offline:
            self.retry_at = None  # wait for "online"; offline time burns no attempts
            self._set_state(State.RECONNECTING, "lost")
        elif self.budget.spent:
            why = f"reconnect_count={self._opt.reconnect_count} retries spent"
        else:
            self._schedule_retry(now, "lost")
        if why is not None:
            if handshake_failed:
                known = event.reason.startswith("the handshake failed")  # a runtime that could tell more
                why = f"{why}; the last attempt never opened: {event.reason if known else HANDSHAKE_FAILED}"
                if self.session is not None:
                    why += f"; {NO_SESSION_SERVER}"
            self._give_up(event, why)

    def _wants_reconnect(self, event: SocketEvent) -> bool:
        if event.code is None:
            return True  # the attempt failed before any socket existed: not a close to judge
        rule = self._opt.should_reconnect
        if rule is not None:
            try:
                return bool(rule(event))
            except Exception as exc:
                self._user_code_failed("should_reconnect raised; the default close-code rule decided", exc)
        return event.code not in (CLOSE_POLICY_VIOLATION, CLOSE_PROTOCOL_MISMATCH)

    def _schedule_retry(self, now: float, trigger: str) -> None:
        delay = self.budget.next_delay()
        attempt = self.budget.spend()
        self.retry_at = now + delay
        self._set_state(State.RECONNECTING, trigger)
        self.events.append(Retrying(attempt, delay))

    def _give_up(self, event: SocketEvent, why: str) -> None:
        self.gave_up_because = why
        self.retry_at = None
        self._set_state(State.CLOSED, "gave up")
        self.events.append(GaveUp(event.code, event.reason, why))
