"""The retry budget: how many retries are left, how long to wait, and the ``min_uptime`` rule.

Rule (``min_uptime``): a connection earns a fresh budget only after it stayed up, and not
in doubt, for ``min_uptime`` seconds. "In doubt" means a heartbeat is unanswered: then
the connection counts as up only until its last proof of life. So a server that accepts
and drops at once (or accepts and goes silent) cannot reset the budget, and a flapping
server is given up on after ``reconnect_count`` retries.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .backoff import BackoffPolicy, exponential, fixed
from .options import Options

__all__ = ["RetryBudget", "backoff_policy"]


def backoff_policy(options: Options, rand: Callable[[], float]) -> BackoffPolicy:
    """The delay policy ``options.backoff`` names (or is)."""
    if options.backoff == "exponential":
        return exponential(options.reconnect_time, options.reconnect_max_time, rand)
    if options.backoff == "fixed":
        return fixed(options.reconnect_time)
    assert callable(options.backoff)
    return options.backoff


class RetryBudget:
    """Retries used since the last connection that stayed up ``min_uptime`` seconds.

    Args:
        options: ``reconnect_count`` (retries allowed; ``-1`` for no limit), ``min_uptime``,
            and the backoff: ``backoff``, ``reconnect_time``, ``reconnect_max_time``.
        rand: the source of jitter.
        on_error: called with a description and the exception when the backoff policy
            fails; ``reconnect_time`` is waited instead.
    """

    __slots__ = ("fallback", "limit", "min_uptime", "on_error", "opened_at", "policy", "used")

    def __init__(self, options: Options, rand: Callable[[], float], on_error: Callable[[str, Exception], None]) -> None:
        self.limit = options.reconnect_count
        self.min_uptime = options.min_uptime
        self.policy = backoff_policy(options, rand)
        self.fallback = options.reconnect_time
        self.on_error = on_error
        self.used = 0
        self.opened_at: float | None = None

    @property
    def spent(self) -> bool:
        """Whether no retry is left."""
        return self.limit != -1 and self.used >= self.limit

    def next_delay(self) -> float:
        """Seconds to wait before the next retry: the policy's answer for :attr:`used` retries."""
        try:
            delay = float(self.policy(self.used))
        except Exception as exc:
            self.on_error("the backoff policy raised; waiting reconnect_time instead", exc)
            return self.fallback
        if not math.isfinite(delay) or delay < 0:
            error = ValueError(f"the backoff policy returned {delay!r}, not a finite number of seconds >= 0")
            self.on_error("waiting reconnect_time instead", error)
            return self.fallback
        return delay

    def spend(self) -> int:
        """Use one retry; return its number (1 for the first since the budget was fresh)."""
        self.used += 1
        return self.used

    def refill(self) -> None:
        """Start over with a fresh budget (``create()`` or ``onreconnect()`` after giving up)."""
        self.used = 0

    def connection_opened(self, now: float) -> None:
        """A connection opened at ``now``; its uptime starts counting."""
        self.opened_at = now

    def settle(self, alive_until: float) -> None:
        """Apply the rule: refill if the connection was up, not in doubt, until ``alive_until``."""
        if self.opened_at is not None and alive_until - self.opened_at >= self.min_uptime:
            self.used = 0

    def connection_ended(self, alive_until: float) -> None:
        """The connection ended; it counts as up until ``alive_until``."""
        self.settle(alive_until)
        self.opened_at = None

    def deadline(self) -> float | None:
        """When an open connection would earn a fresh budget, if it has a budget to refill."""
        if self.used and self.opened_at is not None:
            return self.opened_at + self.min_uptime
        return None
