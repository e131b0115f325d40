"""heartsock.Heart, the reference's timer class, driven by an injected fake timer."""

from __future__ import annotations

import pytest

from heartsock import Heart
from heartsock.testing import FakeRuntime


def make_heart(timeout: float = 5.0) -> tuple[Heart, FakeRuntime]:
    """A Heart whose timers are FakeRuntime timers (``rt.advance`` makes it beat)."""
    rt = FakeRuntime()
    return Heart(timeout, timer=rt.timer), rt


def test_default_timeout_is_five_seconds() -> None:
    """Heart() beats every 5 s by default (the reference's 5000 ms)"""
    assert Heart().timeout == 5.0


def test_start_calls_cb_every_timeout() -> None:
    """start(cb) calls cb once every timeout seconds"""
    heart, rt = make_heart(2.0)
    beats: list[float] = []
    assert heart.start(lambda: beats.append(rt.now)) is heart
    rt.advance(1.99)
    assert beats == []
    rt.advance(8.01)
    assert beats == [2.0, 4.0, 6.0, 8.0, 10.0]


def test_reset_stops_the_heart() -> None:
    """reset() stops the calls, leaves no timer armed and returns the heart"""
    heart, rt = make_heart(1.0)
    beats: list[float] = []
    heart.start(lambda: beats.append(rt.now))
    rt.advance(2.5)
    assert heart.reset() is heart
    rt.advance(10)
    assert beats == [1.0, 2.0]
    assert rt.armed == []


def test_reset_before_start_is_harmless() -> None:
    """reset() on a heart that never started does nothing"""
    heart, rt = make_heart()
    assert heart.reset() is heart
    assert rt.armed == []


def test_start_again_restarts_with_the_new_callback() -> None:
    """start(cb2) replaces a running start(cb1) and restarts the interval"""
    heart, rt = make_heart(2.0)
    got: list[str] = []
    heart.start(lambda: got.append("one"))
    rt.advance(1.5)
    heart.start(lambda: got.append("two"))
    rt.advance(1.0)
    assert got == []
    rt.advance(1.0)
    assert got == ["two"]
    assert len(rt.armed) == 1


def test_reset_then_start_chains() -> None:
    """reset().start(cb) works as in the reference"""
    heart, rt = make_heart(1.0)
    got: list[int] = []
    heart.reset().start(lambda: got.append(1))
    rt.advance(3)
    assert got == [1, 1, 1]


def test_exception_in_cb_is_reported_and_the_heart_keeps_beating(capsys: pytest.CaptureFixture[str]) -> None:
    """an exception raised by cb is reported (sys.excepthook outside a loop) and does not stop the heart"""
    heart, rt = make_heart(1.0)
    calls: list[float] = []

    def cb() -> None:
        calls.append(rt.now)
        raise RuntimeError("beat failed")

    heart.start(cb)
    rt.advance(3)
    assert calls == [1.0, 2.0, 3.0]
    assert capsys.readouterr().err.count("RuntimeError: beat failed") == 3


def test_cb_may_reset_the_heart() -> None:
    """a cb that calls reset() stops the heart after that beat"""
    heart, rt = make_heart(1.0)
    calls: list[float] = []

    def cb() -> None:
        calls.append(rt.now)
        heart.reset()

    heart.start(cb)
    rt.advance(5)
    assert calls == [1.0]
    assert rt.armed == []


@pytest.mark.parametrize("timeout", [0, -1, float("nan")])
def test_bad_timeout_is_a_value_error(timeout: float) -> None:
    """a non-positive or NaN timeout raises ValueError naming timeout"""
    with pytest.raises(ValueError, match="timeout"):
        Heart(timeout)


def test_non_numeric_timeout_is_a_type_error() -> None:
    """a non-numeric timeout raises TypeError"""
    with pytest.raises(TypeError):
        Heart("5")  # type: ignore[arg-type]


def test_start_requires_a_callable() -> None:
    """start() with a non-callable raises TypeError"""
    heart, rt = make_heart()
    with pytest.raises(TypeError):
        heart.start(5)  # type: ignore[arg-type]


def test_heart_on_cpython_beats_on_the_running_event_loop() -> None:
    """without an injected timer, Heart beats on the running asyncio loop (the CPython runtime's timer)"""
    import asyncio

    async def main() -> int:
        beats: list[int] = []
        heart = Heart(0.01).start(lambda: beats.append(1))
        async with asyncio.timeout(10):
            while len(beats) < 3:
                await asyncio.sleep(0.005)
        heart.reset()
        count = len(beats)
        await asyncio.sleep(0.05)
        assert len(beats) == count, "beat after reset()"
        return count

    assert asyncio.run(main()) >= 3
