"""The core's calling protocol, pinned on a bare Machine: actions apart from events, nothing rewritten."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from heartsock import State
from heartsock._core import HANDSHAKE_FAILED
from heartsock._outputs import Abandon, GaveUp, Open, Opened, Retrying, Send, SocketEnded, StateChanged
from heartsock._transitions import TRANSITIONS, allowed

from .helpers import drain, machine

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\s*([A-Z]+)\s+--(.+?)-->\s+([A-Z]+)\s*$")


def diagram_rows(text: str) -> set[tuple[str, str, str]]:
    """The ``OLD --trigger--> NEW`` rows of a state diagram."""
    return {(m[1], m[2], m[3]) for line in text.splitlines() if (m := ROW.match(line))}


def table_rows() -> set[tuple[str, str, str]]:
    return {(old.name, trigger, new.name) for old, trigger, new in TRANSITIONS}


def test_readme_state_diagram_is_the_transition_table() -> None:
    """the README's state diagram lists exactly the transitions the core allows"""
    assert diagram_rows((ROOT / "README.md").read_text()) == table_rows()


def test_state_docstring_diagram_is_the_transition_table() -> None:
    """heartsock.state's docstring diagram lists exactly the transitions the core allows"""
    import heartsock.state

    assert diagram_rows(heartsock.state.__doc__ or "") == table_rows()


def test_a_transition_outside_the_table_raises() -> None:
    """the core refuses a state change the table does not allow (a heartsock bug would be loud)"""
    assert not allowed(State.DESTROYED, "create()", State.CONNECTING)
    m = machine()
    with pytest.raises(AssertionError, match="no transition CONNECTING --retry--> OPEN"):
        m._set_state(State.OPEN, "retry")


def test_actions_come_apart_from_events() -> None:
    """opening flushes the queue as actions; the state change and the open are events"""
    m = machine()
    m.create(0.0)
    assert m.take_actions() == [Open(1)]
    m.send("a", 0.1)
    m.send("b", 0.1)
    m.socket_opened(1, 0.2)
    assert m.take_actions() == [Send(1, "a"), Send(1, "b")]
    assert m.take_actions() == []
    events = drain(m)
    assert [type(e) for e in events] == [StateChanged, Opened]


def test_an_input_made_while_events_wait_only_appends() -> None:
    """create() called while earlier events wait (from a callback) queues after them; nothing is rewritten"""
    m = machine()
    m.create(0.0)
    m.take_actions()
    m.socket_opened(1, 0.2)
    m.take_actions()
    first = m.pop_event()  # StateChanged(CONNECTING, OPEN): its callback calls create()
    assert first == StateChanged(State.CONNECTING, State.OPEN)
    m.create(0.3)
    assert m.take_actions() == [Abandon(1, 1000, "replaced by create()"), Open(2)]
    rest = drain(m)
    assert isinstance(rest[0], Opened) and rest[0].event.socket_id == 1  # still told, in order
    assert isinstance(rest[1], SocketEnded) and rest[1].event.socket_id == 1
    assert rest[2] == StateChanged(State.OPEN, State.CONNECTING)


def test_destroy_drops_undelivered_events_but_tells_its_own() -> None:
    """events not yet delivered when destroy() runs are dropped; its close and state change remain"""
    m = machine()
    m.create(0.0)
    m.take_actions()
    m.socket_opened(1, 0.0)
    m.socket_message(1, "unread", 0.1)
    m.send("queued?", 0.1)  # open: a Send action, performed before any callback
    assert m.destroy(0.2) == []
    assert m.take_actions() == [Send(1, "queued?"), Abandon(1, 1000, "destroyed")]
    events = drain(m)
    assert [type(e) for e in events] == [SocketEnded, StateChanged]
    assert events[1] == StateChanged(State.OPEN, State.DESTROYED)


def test_a_message_is_its_own_event() -> None:
    """a message for the user is queued as the str/bytes itself; a heartbeat reply matched by pong_msg is not"""
    m = machine(pong_msg="pong")
    m.create(0.0)
    m.socket_opened(1, 0.0)
    drain(m)
    m.socket_message(1, "hi", 0.1)
    m.socket_message(1, b"\x00", 0.1)
    m.socket_message(1, "pong", 0.1)
    assert drain(m) == ["hi", b"\x00"]


def test_stale_socket_inputs_change_nothing() -> None:
    """inputs for an id that is not the current socket's queue nothing"""
    m = machine()
    m.create(0.0)
    m.socket_opened(1, 0.0)
    m.create(1.0)
    drain(m)
    m.socket_opened(1, 1.1)
    m.socket_message(1, "late", 1.1)
    m.socket_error(1, 1.1)
    m.socket_closed(1, 1006, "", False, 1.1)
    assert drain(m) == [] and m.state is State.CONNECTING and m.socket_id == 2


def test_a_handshake_that_fails_says_so_and_giving_up_explains_it() -> None:
    """a socket closed before it opened carries the handshake explanation, and so does closed_reason"""
    m = machine(reconnect_count=0)
    m.create(0.0)
    drain(m)
    m.socket_error(1, 0.1)
    m.socket_closed(1, 1006, "", False, 0.1)
    events = drain(m)
    ended = [e for e in events if isinstance(e, SocketEnded)][0]
    assert ended.event.reason == HANDSHAKE_FAILED
    (gave_up,) = [e for e in events if isinstance(e, GaveUp)]
    assert gave_up.why == f"reconnect_count=0 retries spent; the last attempt never opened: {HANDSHAKE_FAILED}"


def test_next_deadline_follows_the_state() -> None:
    """the core's one deadline: connect timeout, then heartbeat, then retry; none when closed"""
    m = machine(connect_timeout=3, heart_time=5, backoff="fixed", reconnect_time=2, reconnect_count=1)
    m.create(0.0)
    assert m.next_deadline() == 3.0
    m.socket_opened(1, 1.0)
    assert m.next_deadline() == 6.0
    m.socket_closed(1, 1006, "", False, 2.0)
    assert m.next_deadline() == 4.0 and m.state is State.RECONNECTING
    drain(m)
    m.handle_timer(4.0)
    assert m.take_actions() == [Open(2)]
    m.socket_closed(2, 1006, "", False, 4.5)
    assert m.state is State.CLOSED and m.next_deadline() is None
    assert not [e for e in drain(m) if isinstance(e, Retrying)]
