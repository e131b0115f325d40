"""The heartbeat: when to ping, which message is the reply, when the peer is dead.

Rules:

1. Any inbound message is proof of life. After ``heart_time`` seconds without one, a
   heartbeat (``heart_msg``) goes out; the connection is then *in doubt*.
2. The reply ends the doubt and measures ``latency``. Without ``pong_msg`` any message
   is the reply and is also delivered to the user; with ``pong_msg`` (a value or a
   predicate) only a matching message is the reply, and it is never delivered.
3. With a heartbeat unanswered for ``pong_timeout`` seconds, the peer is dead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Union

from .wire import Data

__all__ = ["HeartbeatTracker"]

PongMatcher = Union[str, bytes, Callable[[Data], bool], None]


class HeartbeatTracker:
    """The heartbeat of one open connection at a time; times are seconds on one clock.

    Args:
        heart_time: seconds of inbound silence before a heartbeat.
        pong_timeout: seconds a heartbeat may stay unanswered.
        pong_matcher: ``pong_msg``: ``None`` (any message is the reply), a ``str`` or
            ``bytes`` to compare with, or a predicate.
        on_error: called with a description and the exception when the predicate raises
            (the message then counts as not a reply).
    """

    __slots__ = ("heart_time", "last_rx", "latency", "on_error", "ping_sent_at", "pong_matcher", "pong_timeout")

    def __init__(
        self,
        heart_time: float,
        pong_timeout: float,
        pong_matcher: PongMatcher,
        on_error: Callable[[str, Exception], None],
    ) -> None:
        self.heart_time = heart_time
        self.on_error = on_error
        self.pong_timeout = pong_timeout
        self.pong_matcher = pong_matcher
        self.last_rx = 0.0
        self.ping_sent_at: float | None = None
        self.latency: float | None = None

    def start(self, now: float) -> None:
        """A connection opened at ``now``: silence counts from here."""
        self.last_rx = now
        self.ping_sent_at = None

    def stop(self) -> None:
        """The connection ended: no heartbeat is pending any more."""
        self.ping_sent_at = None

    @property
    def in_doubt(self) -> bool:
        """Whether a heartbeat is waiting for its reply."""
        return self.ping_sent_at is not None

    def alive_until(self, now: float) -> float:
        """Until when the connection was known to be alive: ``now``, or its last message when in doubt."""
        return self.last_rx if self.ping_sent_at is not None else now

    def received(self, data: Data, now: float) -> bool:
        """A message arrived at ``now``; return whether it is the user's (not a matched reply)."""
        self.last_rx = now
        matcher = self.pong_matcher
        if matcher is None:
            if self.ping_sent_at is not None:
                self.latency = now - self.ping_sent_at
                self.ping_sent_at = None
            return True
        if not self._is_pong(matcher, data):
            return True
        if self.ping_sent_at is not None:
            self.latency = now - self.ping_sent_at
            self.ping_sent_at = None
        return False

    def _is_pong(self, matcher: str | bytes | Callable[[Data], bool], data: Data) -> bool:
        if isinstance(matcher, (str, bytes)):
            return data == matcher
        try:
            return bool(matcher(data))
        except Exception as exc:
            self.on_error("the pong_msg predicate raised; the message was treated as not a reply", exc)
            return False

    def overdue(self, now: float) -> bool:
        """Whether the pending heartbeat went unanswered for ``pong_timeout``: the peer is dead."""
        return self.ping_sent_at is not None and now >= self.ping_sent_at + self.pong_timeout

    def due(self, now: float) -> bool:
        """Whether a heartbeat should go out now (silent for ``heart_time``, none pending)."""
        return self.ping_sent_at is None and now >= self.last_rx + self.heart_time

    def pinged(self, now: float) -> None:
        """A heartbeat went out at ``now``."""
        self.ping_sent_at = now

    def deadline(self) -> float:
        """When the heartbeat next needs a look: the reply's deadline, or the next ping."""
        if self.ping_sent_at is not None:
            return self.ping_sent_at + self.pong_timeout
        return self.last_rx + self.heart_time
