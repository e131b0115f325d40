"""Backoff policies: exact sequences with an injected random source, and full-jitter uniformity."""

from __future__ import annotations

import math
import random

import pytest

from heartsock import exponential, fixed
from heartsock._outputs import Open, Retrying
from heartsock.testing import FakeRuntime

from .helpers import drain, machine, make_socket, of_type, run_until_next_attempt, sequence


def refuse_and_record(rt: FakeRuntime, times: int) -> list[float]:
    """Refuse ``times`` attempts in a row; return the clock time at which each retry was opened."""
    opened_at = []
    for _ in range(times):
        rt.net.closed_by_peer(rt.net.last_id)
        assert run_until_next_attempt(rt)
        opened_at.append(rt.now)
    return opened_at


# ---- exact sequences ------------------------------------------------------------------------


def test_exponential_policy_full_jitter_formula() -> None:
    """exponential(base, cap, rand)(n) == rand() * min(cap, base * 2**n)"""
    rand = sequence([0.5, 0.25, 0.75, 0.1, 0.9, 0.5, 0.999])
    policy = exponential(1.0, 10.0, rand)
    got = [policy(n) for n in range(7)]
    assert got == pytest.approx([0.5, 0.5, 3.0, 0.8, 9.0, 5.0, 9.99])


def test_exponential_policy_handles_huge_attempt_numbers() -> None:
    """the ceiling stays at the cap for any attempt number (no float overflow)"""
    policy = exponential(5.0, 60.0, lambda: 0.5)
    assert policy(10_000) == 30.0


def test_exponential_sequence_through_the_socket() -> None:
    """the socket waits rand * min(reconnect_max_time, reconnect_time * 2**n) before retry n"""
    rand = sequence([0.5, 0.25, 0.75, 0.1, 0.9, 0.5, 0.0])
    sock, rt, rec = make_socket(rt=FakeRuntime(rand=rand), reconnect_time=1, reconnect_max_time=10, reconnect_count=-1)
    expected = [0.5, 0.5, 3.0, 0.8, 9.0, 5.0, 0.0]
    started = []
    for _ in expected:
        t0 = rt.now
        rt.net.closed_by_peer(rt.net.last_id)
        assert run_until_next_attempt(rt)
        started.append(rt.now - t0)
    assert rec.delays == pytest.approx(expected)
    assert started == pytest.approx(expected)
    assert [a for a, _ in rec.reconnects] == list(range(1, 8))


def test_exponential_delays_are_capped_by_reconnect_max_time() -> None:
    """the interval stops doubling at reconnect_max_time"""
    sock, rt, rec = make_socket(
        rt=FakeRuntime(rand=lambda: 0.999), reconnect_time=5, reconnect_max_time=60, reconnect_count=-1
    )
    refuse_and_record(rt, 8)
    ceilings = [d / 0.999 for d in rec.delays]
    assert ceilings == pytest.approx([5, 10, 20, 40, 60, 60, 60, 60])


def test_default_reconnect_max_time_is_60_seconds() -> None:
    """without reconnect_max_time, the ceiling is 60 s"""
    sock, rt, rec = make_socket(rt=FakeRuntime(rand=lambda: 0.5), reconnect_time=5, reconnect_count=-1)
    refuse_and_record(rt, 7)
    assert rec.delays[-1] == 30.0


def test_fixed_backoff_waits_reconnect_time_every_time() -> None:
    """backoff='fixed' waits exactly reconnect_time before every retry, like the reference"""
    sock, rt, rec = make_socket(
        rt=FakeRuntime(rand=lambda: 0.123), reconnect_time=2.5, backoff="fixed", reconnect_count=-1
    )
    refuse_and_record(rt, 6)
    assert rec.delays == [2.5] * 6
    assert fixed(3.0)(99) == 3.0


def test_callable_backoff_gets_the_attempt_number() -> None:
    """a callable backoff(attempt) is called with 0, 1, 2 … and its result is the delay"""
    calls: list[int] = []

    def policy(n: int) -> float:
        calls.append(n)
        return [0.25, 1.5, 0.75, 4.0][n]

    sock, rt, rec = make_socket(backoff=policy, reconnect_count=-1)
    starts = refuse_and_record(rt, 4)
    assert calls == [0, 1, 2, 3]
    assert rec.delays == [0.25, 1.5, 0.75, 4.0]
    assert [b - a for a, b in zip([0.0, *starts], starts, strict=False)] == pytest.approx([0.25, 1.5, 0.75, 4.0])


@pytest.mark.parametrize("result", [-1.0, math.nan, math.inf, "soon"], ids=["negative", "nan", "inf", "str"])
def test_broken_backoff_never_leaves_the_socket_stuck(result: object) -> None:
    """a callable backoff that returns nonsense is reported and a retry still happens"""
    sock, rt, rec = make_socket(backoff=lambda n: result, reconnect_time=1)
    rt.net.closed_by_peer(1)
    assert run_until_next_attempt(rt)
    assert len(rt.reported) == 1 and "reconnect_time" in rt.reported[0][1]


def test_backoff_that_raises_never_leaves_the_socket_stuck() -> None:
    """a callable backoff that raises is reported and a retry still happens"""

    def policy(n: int) -> float:
        raise ZeroDivisionError

    sock, rt, rec = make_socket(backoff=policy, reconnect_time=1)
    rt.net.closed_by_peer(1)
    assert run_until_next_attempt(rt)
    assert [type(error) for error, _ in rt.reported] == [ZeroDivisionError]


def test_core_retry_delay_uses_the_injected_rand() -> None:
    """the core's Retrying output carries rand * ceiling, and the retry opens at that time"""
    m = machine(rand=sequence([0.25]), reconnect_time=4, reconnect_max_time=60)
    m.create(0.0)
    m.socket_closed(1, 1006, "", False, 10.0)
    (retry,) = of_type(drain(m), Retrying)
    assert (retry.attempt, retry.delay) == (1, 1.0)
    assert m.next_deadline() == 11.0
    m.handle_timer(10.99)
    assert of_type(drain(m), Open) == []
    m.handle_timer(11.0)
    assert of_type(drain(m), Open) == [Open(2)]


# ---- statistics -----------------------------------------------------------------------------


def ks_uniform(samples: list[float]) -> float:
    """Kolmogorov–Smirnov statistic of ``samples`` against the uniform law on [0, 1]."""
    xs = sorted(samples)
    n = len(xs)
    return max(max((i + 1) / n - x, x - i / n) for i, x in enumerate(xs))


def chi_square_uniform(samples: list[float], bins: int) -> float:
    """Pearson's chi-square statistic of ``samples`` in ``bins`` equal bins of [0, 1]."""
    counts = [0] * bins
    for x in samples:
        counts[min(bins - 1, int(x * bins))] += 1
    expected = len(samples) / bins
    return sum((c - expected) ** 2 / expected for c in counts)


# Critical values at a 0.1 % false-alarm rate: KS ≈ 1.95 / sqrt(n); chi-square with 19 d.o.f. = 43.82.
KS_CRITICAL_001 = 1.95
CHI2_19_CRITICAL_001 = 43.82


def test_full_jitter_is_uniform_on_its_interval_policy() -> None:
    """20000 draws for one attempt number are uniform on [0, min(cap, base*2**n)]"""
    rng = random.Random(20240601)
    policy = exponential(0.5, 60.0, rng.random)
    ceiling = 0.5 * 2**4
    draws = [policy(4) for _ in range(20_000)]
    assert all(0.0 <= d <= ceiling for d in draws)
    u = [d / ceiling for d in draws]
    assert min(u) < 0.001 and max(u) > 0.999  # the whole interval is used, down to 0
    assert ks_uniform(u) < KS_CRITICAL_001 / math.sqrt(len(u))
    assert chi_square_uniform(u, 20) < CHI2_19_CRITICAL_001
    assert sum(u) / len(u) == pytest.approx(0.5, abs=0.01)


def test_full_jitter_delays_from_the_core_are_uniform() -> None:
    """20000 retry delays scheduled by the core, scaled by their ceilings, are uniform on [0, 1]"""
    rng = random.Random(7)
    m = machine(rand=rng.random, reconnect_time=1, reconnect_max_time=16, reconnect_count=-1)
    m.create(0.0)
    now = 0.0
    scaled: list[float] = []
    for n in range(20_000):
        m.socket_closed(m.socket_id, 1006, "", False, now)
        (retry,) = of_type(drain(m), Retrying)
        ceiling = min(16.0, 2.0 ** min(n, 10))
        assert 0.0 <= retry.delay <= ceiling
        scaled.append(retry.delay / ceiling)
        now += retry.delay
        m.handle_timer(now)
        assert of_type(drain(m), Open)
    assert ks_uniform(scaled) < KS_CRITICAL_001 / math.sqrt(len(scaled))
    assert chi_square_uniform(scaled, 20) < CHI2_19_CRITICAL_001


def test_ks_check_rejects_a_non_uniform_law() -> None:
    """sanity check of the test itself: the KS bound rejects a clearly skewed law"""
    rng = random.Random(1)
    skewed = [rng.random() ** 1.2 for _ in range(20_000)]
    assert ks_uniform(skewed) > KS_CRITICAL_001 / math.sqrt(len(skewed))
    assert chi_square_uniform(skewed, 20) > CHI2_19_CRITICAL_001
