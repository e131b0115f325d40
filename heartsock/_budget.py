"""The retry budget: how many retries are left, and the ``min_uptime`` rule.

Rule (``min_uptime``): a connection earns a fresh budget only after it stayed up, and not
in doubt, for ``min_uptime`` seconds. "In doubt" means a heartbeat is unanswered: then
the connection counts as up only until its last proof of life. So a server that accepts
and drops at once (or accepts and goes silent) cannot reset the budget, and a flapping
server is given up on after ``reconnect_count`` retries.
"""

from __future__ import annotations

__all__ = ["RetryBudget"]


class RetryBudget:
    """Retries used since the last connection that stayed up ``min_uptime`` seconds.

    Args:
        limit: retries allowed (``reconnect_count``); ``-1`` for no limit.
        min_uptime: seconds a connection must stay up, not in doubt, to earn a fresh budget.
    """

    __slots__ = ("limit", "min_uptime", "opened_at", "used")

    def __init__(self, limit: int, min_uptime: float) -> None:
        self.limit = limit
        self.min_uptime = min_uptime
        self.used = 0
        self.opened_at: float | None = None

    @property
    def spent(self) -> bool:
        """Whether no retry is left."""
        return self.limit != -1 and self.used >= self.limit

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
