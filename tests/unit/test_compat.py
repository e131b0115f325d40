"""The MicroPython stand-ins (heartsock._mpy_stdlib) behave like what they stand in for, under CPython."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections import deque
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import heartsock
from heartsock import _mpy_stdlib

# Modules a MicroPython page imports (the server side needs `websockets` and never runs there).
_SERVER_SIDE = {"server", "_server_connection", "_asgi", "_cpython", "redis_store", "testing"}


def _client_modules() -> list[Any]:
    names = [m.name for m in pkgutil.iter_modules(heartsock.__path__) if m.name not in _SERVER_SIDE]
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(f"heartsock.{name}"))
        except ImportError:  # a server-side store's optional dependency
            continue
    return modules


def test_every_client_dataclass_lists_its_fields_in_match_args() -> None:
    """each dataclass a MicroPython page uses declares __match_args__ = its fields, in order."""
    seen = 0
    for module in _client_modules():
        for obj in vars(module).values():
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == module.__name__:
                fields = tuple(f.name for f in dataclasses.fields(obj))
                assert obj.__dict__.get("__match_args__") == fields, f"{obj.__qualname__}: {fields}"
                seen += 1
    assert seen >= 16


def test_the_stand_in_dataclass_builds_frozen_records_from_match_args() -> None:
    """fields by position or keyword, defaults, equality, hashing, repr, and refusal to assign."""

    class Point:
        __match_args__ = ("x", "y", "label")
        label = "p"

    P: Any = _mpy_stdlib._dataclass(frozen=True)(Point)
    a = P(1, y=2)
    assert (a.x, a.y, a.label) == (1, 2, "p")
    assert a == P(1, 2, "p") and hash(a) == hash(P(1, 2, "p")) and a != P(1, 3)
    assert repr(a) == "Point(x=1, y=2, label='p')"
    with pytest.raises(AttributeError, match="'x'"):
        a.x = 5
    with pytest.raises(TypeError, match="missing required argument: 'y'"):
        P(1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        P(1, 2, z=3)
    assert _mpy_stdlib._replace(a, y=9) == P(1, 9)


def test_the_stand_in_enum_makes_members_and_looks_them_up_by_value() -> None:
    """unique() turns upper-case attributes into members with name and value; Kind(value) finds one."""

    class Kind(_mpy_stdlib._Enum):
        ONE = "one"
        TWO = "two"

    K: Any = _mpy_stdlib._unique(Kind)
    assert isinstance(K.ONE, K) and K.ONE.name == "ONE" and K.ONE.value == "one"
    assert K("two") is K.TWO and str(K.ONE) == "Kind.ONE"
    with pytest.raises(ValueError, match="'three' is not a valid Kind"):
        K("three")


@given(st.lists(st.one_of(st.integers(), st.just("pop"), st.just("clear")), max_size=300))
def test_fifo_behaves_like_deque(ops: list[int | str]) -> None:
    """append/popleft/clear/len/bool/iteration/indexing match collections.deque's."""
    fifo, real = _mpy_stdlib.Fifo(), deque[int]()
    for op in ops:
        if op == "pop":
            if real:
                assert fifo.popleft() == real.popleft()
            else:
                with pytest.raises(IndexError):
                    fifo.popleft()
        elif op == "clear":
            fifo.clear()
            real.clear()
        else:
            assert isinstance(op, int)
            fifo.append(op)
            real.append(op)
        assert len(fifo) == len(real) and bool(fifo) == bool(real) and list(fifo) == list(real)
        if real:
            assert fifo[0] == real[0] and fifo[-1] == real[-1]


def test_runtime_names_the_host_and_a_sockets_runtime() -> None:
    """heartsock.runtime() is "cpython" here; runtime(sock) names the runtime that socket was given."""
    from heartsock.testing import FakeRuntime

    assert heartsock.runtime() == "cpython"
    sock = heartsock.Socket("ws://127.0.0.1:1/x", runtime=FakeRuntime())
    try:
        assert heartsock.runtime(sock) == "fake"
    finally:
        sock.destroy()
