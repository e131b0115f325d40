"""Reconnect delay policies: small functions from attempt number to seconds.

A policy is any ``Callable[[int], float]``: given the retry number ``n`` (0 for the
first retry after a connection is lost or fails, 1 for the next …) it returns how many
seconds to wait before that retry. heartsock calls it once per scheduled retry.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable

__all__ = ["BackoffPolicy", "exponential", "fixed"]

BackoffPolicy = Callable[[int], float]

# 2**64 times any sane base is far past any cap; stops float overflow for huge n.
_MAX_DOUBLINGS = 64


def exponential(base: float, cap: float, rand: Callable[[], float] = _random.random) -> BackoffPolicy:
    """Full-jitter exponential backoff (AWS "Exponential Backoff And Jitter").

    The delay before retry ``n`` is drawn uniformly from
    ``[0, min(cap, base * 2**n)]``. Spreading retries over the whole interval is what
    keeps thousands of clients from reconnecting in the same instant after an outage.

    Args:
        base: the upper bound of the first delay, in seconds (``reconnect_time``).
        cap: the largest upper bound, in seconds (``reconnect_max_time``).
        rand: a source of floats in ``[0, 1)``; inject one to make delays predictable.
    """

    def policy(attempt: int) -> float:
        ceiling = min(cap, base * 2.0 ** min(attempt, _MAX_DOUBLINGS))
        return rand() * ceiling

    return policy


def fixed(delay: float) -> BackoffPolicy:
    """The reference library's policy: exactly ``delay`` seconds before every retry."""

    def policy(attempt: int) -> float:
        return delay

    return policy
