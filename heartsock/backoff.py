"""Reconnect delay policies: small functions from retry index to seconds.

A policy is any ``Callable[[int], float]``: given ``n``, the number of retries already
made (0 before the first retry after a connection is lost or fails, 1 before the
next …), it returns how many seconds to wait before the next one. heartsock calls it
once per scheduled retry. ``n`` counts from 0, while ``reconnect_cb`` and the
``"reconnect"`` event number retries from 1: the delay for ``n`` is the one reported
with ``attempt == n + 1``.

``Socket(backoff=...)`` takes ``"exponential"`` (the default:
``exponential(reconnect_time, reconnect_max_time)``), ``"fixed"``
(``fixed(reconnect_time)``) or any policy, such as ``exponential(0.5, 30.0)``. A policy
that raises, or returns a negative or non-finite delay, is reported as an error in user
code, and ``reconnect_time`` is waited instead.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable

__all__ = ["BackoffPolicy", "exponential", "fixed"]

BackoffPolicy = Callable[[int], float]
"""A reconnect delay policy: ``policy(n)`` is the delay in seconds before the retry that
follows ``n`` retries (see the module docstring)."""

# 2**64 times any sane base is far past any cap; stops float overflow for huge n.
_MAX_DOUBLINGS = 64


def exponential(base: float, cap: float, rand: Callable[[], float] = _random.random) -> BackoffPolicy:
    """Full-jitter exponential backoff (AWS "Exponential Backoff And Jitter").

    The delay ``policy(n)`` is drawn uniformly from ``[0, min(cap, base * 2**n)]``:
    for the first retry (``n == 0``) from ``[0, base]``, then from intervals that
    double up to ``cap``. Spreading retries over the whole interval is what keeps
    thousands of clients from reconnecting in the same instant after an outage.

    Args:
        base: the upper bound of the first delay, in seconds (``reconnect_time``).
        cap: the largest upper bound, in seconds (``reconnect_max_time``).
        rand: a source of floats in ``[0, 1)``; inject one to make delays predictable.

    Returns:
        The policy, for ``Socket(backoff=...)``.
    """

    def policy(attempt: int) -> float:
        ceiling = min(cap, base * 2.0 ** min(attempt, _MAX_DOUBLINGS))
        return rand() * ceiling

    return policy


def fixed(delay: float) -> BackoffPolicy:
    """The reference library's policy: exactly ``delay`` seconds before every retry.

    Args:
        delay: seconds to wait before each retry (``reconnect_time``).

    Returns:
        The policy, for ``Socket(backoff=...)``.
    """

    def policy(attempt: int) -> float:
        return delay

    return policy
