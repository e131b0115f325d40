"""The life cycle of a socket as data: every state change the core may make, and why.

Rule: :class:`heartsock._core.Machine` changes state only through this table; a change
that is not in it is a bug in heartsock and raises. The README's state diagram lists the
same rows, and a test checks that the two agree (h11's ``_state.py`` is the model).

Each row is ``(old state, trigger, new state)``:

- ``opened``: the browser opened the current socket;
- ``lost``: the current socket closed, failed to start, timed out connecting or missed its
  heartbeat, and a retry is scheduled (or waits for the browser to be online);
- ``gave up``: the same, but no retry follows (retries spent, a final close code,
  reconnect off);
- ``retry``: the scheduled retry starts a new socket;
- ``create()`` and ``onreconnect()``: the user's calls;
- ``destroy()``: the user's call, from any state but ``DESTROYED``.
"""

from __future__ import annotations

from .state import State

__all__ = ["TRANSITIONS", "allowed"]

_C, _O, _R, _X, _D = State.CONNECTING, State.OPEN, State.RECONNECTING, State.CLOSED, State.DESTROYED

TRANSITIONS: tuple[tuple[State, str, State], ...] = (
    (_C, "opened", _O),
    (_C, "lost", _R),
    (_C, "gave up", _X),
    (_O, "lost", _R),
    (_O, "gave up", _X),
    (_R, "retry", _C),
    (_O, "create()", _C),
    (_R, "create()", _C),
    (_X, "create()", _C),
    (_C, "onreconnect()", _R),
    (_O, "onreconnect()", _R),
    (_X, "onreconnect()", _R),
    (_C, "destroy()", _D),
    (_O, "destroy()", _D),
    (_R, "destroy()", _D),
    (_X, "destroy()", _D),
)
"""Every state change, as ``(old, trigger, new)`` rows."""

_ALLOWED = frozenset((old, trigger, new) for old, trigger, new in TRANSITIONS)


def allowed(old: State, trigger: str, new: State) -> bool:
    """Whether ``trigger`` may move a socket from ``old`` to ``new`` (staying put always may)."""
    return old is new or (old, trigger, new) in _ALLOWED
