"""Property-based tests: random interleavings never break heartsock's invariants (issue 3 item 9).

A hypothesis-generated script mixes user calls (send, create, destroy, onreconnect),
network events for the current socket and for stale ids, errors, timer firings (on
time and late), and online/offline/visibility hints. After every step we check:

* never two live sockets, and the socket's state agrees with the transport's;
* no accepted message is lost, duplicated or reordered: the user messages written to
  the sockets, in global order, are a prefix of the accepted ones, the rest is queued
  (``queued``), and after ``destroy()`` written + returned == accepted;
* nothing opens and no ``open_cb`` runs after ``destroy()``, and no timer stays armed;
* the socket is never stuck: connecting, open, or waiting online always has a timer;
* nothing is logged at ERROR (a write to a non-open socket would be).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartsock import QueueFull, Socket, SocketClosed, State
from heartsock.testing import FakeRuntime

from .helpers import URL, writes

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- the script language ------------------------------------------------------------------

Op = tuple[Any, ...]

_pick = st.integers(min_value=0, max_value=1000)  # chooses among stale ids
ops: st.SearchStrategy[Op] = st.one_of(
    st.just(("send",)),
    st.just(("send",)),
    st.just(("send",)),
    st.just(("create",)),
    st.just(("destroy",)),
    st.just(("onreconnect",)),
    st.tuples(st.just("opened"), st.booleans(), _pick),
    st.tuples(st.just("opened"), st.just(True), _pick),
    st.tuples(st.just("message"), st.booleans(), _pick, st.sampled_from(["data", "pong", b"bin"])),
    st.tuples(st.just("closed"), st.booleans(), _pick, st.sampled_from([1000, 1006, 1008, 1011, 1012, 4000])),
    st.tuples(st.just("error"), st.booleans(), _pick),
    st.tuples(st.just("advance"), st.floats(min_value=0, max_value=6, allow_nan=False)),
    st.tuples(st.just("late"), st.floats(min_value=0, max_value=40, allow_nan=False)),
    st.just(("offline",)),
    st.just(("online",)),
    st.just(("visible",)),
)

configs = st.fixed_dictionaries(
    {
        "reconnect_count": st.sampled_from([-1, 0, 1, 3]),
        "max_queue": st.sampled_from([0, 2, 1000]),
        "pong_msg": st.sampled_from([None, "pong"]),
        "is_reconnect": st.booleans(),
        "backoff": st.sampled_from(["exponential", "fixed"]),
        "min_uptime": st.sampled_from([0.0, 2.0]),
    }
)


class ErrorLog(logging.Handler):
    """Collects ERROR records of the 'heartsock' logger for the duration of a run."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class World:
    """One socket on a FakeRuntime, plus the bookkeeping the invariants need."""

    rt: FakeRuntime
    sock: Socket = field(init=False)
    accepted: list[Any] = field(default_factory=list)  # messages send() took (True or False)
    unsent: list[Any] | None = None  # what destroy() returned, once called
    log_mark: int | None = None  # len(rt.net.log) when destroy() returned
    opens_seen: int = 0  # open_cb calls
    opens_mark: int | None = None
    online: bool = True
    counter: int = 0
    in_callback: int = 0  # > 0 while a callback of ours runs
    destroying: bool = False

    def _react(self, reactions: Callable[[World, str], None] | None, event: str) -> None:
        if reactions is None:
            return
        self.in_callback += 1
        try:
            reactions(self, event)
        finally:
            self.in_callback -= 1

    def start(self, reactions: Callable[[World, str], None] | None = None, **config: Any) -> None:

        def open_cb(event: Any) -> None:
            self.opens_seen += 1
            self._react(reactions, "open")

        def close_cb(event: Any) -> None:
            self._react(reactions, "close")

        def message_cb(data: Any) -> None:
            self._react(reactions, "message")

        self.sock = Socket(
            URL,
            runtime=self.rt,
            heart_time=1.0,
            pong_timeout=1.0,
            connect_timeout=2.0,
            reconnect_time=0.5,
            reconnect_max_time=4.0,
            open_cb=open_cb,
            close_cb=close_cb,
            message_cb=message_cb,
            **config,
        )

    # -- user calls --
    def send(self) -> None:
        msg = f"m{self.counter}"
        self.counter += 1
        try:
            written = self.sock.send(msg)
        except QueueFull:
            assert self.sock.state is not State.OPEN
            assert self.sock.queued >= self.sock.options.max_queue
            return
        except SocketClosed:
            assert self.sock.state in (State.CLOSED, State.DESTROYED)
            return
        self.accepted.append(msg)
        if written is True and not self.in_callback:
            # Outside callbacks a True send is written at once; inside one it is written
            # (in order) when the callback returns — the final invariants check that.
            assert writes(self.rt)[-1][1] == msg

    def create(self) -> None:
        try:
            self.sock.create()
        except SocketClosed:
            assert self.sock.state is State.DESTROYED

    def onreconnect(self) -> None:
        try:
            self.sock.onreconnect()
        except SocketClosed:
            assert self.sock.state is State.DESTROYED

    def destroy(self) -> None:
        first = self.unsent is None and not self.destroying
        self.destroying = True  # a callback may call destroy() again while this one runs
        unsent = self.sock.destroy()
        if first:
            self.unsent = unsent
            self.log_mark = len(self.rt.net.log)
            self.opens_mark = self.opens_seen
        else:
            assert unsent == []

    # -- the network --
    def _target(self, current: bool, pick: int) -> tuple[int | None, bool]:
        """The socket an event is for: the live one, or a stale (non-live) id; and whether it is live."""
        live = self.rt.net.live_ids()
        if current:
            return (live[0] if live else None), True
        stale = [sid for sid in self.rt.net.sockets if sid not in live]
        return (stale[pick % len(stale)] if stale else None), False

    def network(self, op: Op) -> None:
        kind, current, pick = op[0], op[1], op[2]
        sid, live = self._target(current, pick)
        if sid is None:
            return
        net, state = self.rt.net, self.rt.net.sockets[sid].ready_state
        if kind == "opened":
            if live and state == 0:
                net.opened(sid)
            elif not live:
                self.rt.net.sink.on_open(sid)  # a late event that still reached Python
        elif kind == "message":
            if live and state == 1:
                net.message(sid, op[3])
            elif not live:
                self.rt.net.sink.on_message(sid, op[3])
        elif kind == "closed":
            if live:
                net.closed_by_peer(sid, op[3])
            else:
                self.rt.net.sink.on_close(sid, op[3], "late", False)
        elif kind == "error":
            if live:
                net.error(sid)
            else:
                self.rt.net.sink.on_error(sid)

    def step(self, op: Op) -> None:
        kind = op[0]
        if kind in ("send", "create", "destroy", "onreconnect"):
            getattr(self, kind)()
        elif kind in ("opened", "message", "closed", "error"):
            self.network(op)
        elif kind == "advance":
            self.rt.advance(op[1])
        elif kind == "late":
            self.rt.jump(op[1])
            self.rt.fire_late()
        elif kind in ("online", "offline"):
            self.online = kind == "online"
            self.rt.set_online(self.online)
        elif kind == "visible":
            self.rt.became_visible()

    # -- invariants --
    def written(self) -> list[Any]:
        return [data for _, data in writes(self.rt) if isinstance(data, str) and data.startswith("m")]

    def check(self) -> None:
        rt, sock = self.rt, self.sock
        live = rt.net.live_ids()
        assert len(live) <= 1, f"two live sockets: {live}"
        state = sock.state
        if state is State.OPEN:
            assert len(live) == 1 and rt.net.sockets[live[0]].ready_state == 1, (state, live)
        elif state is State.CONNECTING:
            assert len(live) == 1 and rt.net.sockets[live[0]].ready_state == 0, (state, live)
        else:
            assert live == [], (state, live)

        written = self.written()
        assert written == self.accepted[: len(written)], "a message was lost, duplicated or reordered"
        if self.unsent is None:
            assert sock.queued == len(self.accepted) - len(written)
        else:
            assert written + self.unsent == self.accepted
            assert state is State.DESTROYED
            assert [e for e in rt.net.log[self.log_mark :] if e[0] == "open"] == [], "Open after destroy()"
            assert self.opens_seen == self.opens_mark, "open_cb after destroy()"
            assert rt.armed == [], "a timer is armed after destroy()"

        if state in (State.CONNECTING, State.OPEN) or (state is State.RECONNECTING and self.online):
            assert rt.armed, f"stuck in {state} with no timer armed"


def run_script(
    config: dict[str, Any],
    seed: int,
    script: list[Op],
    reactions: Callable[[World, str], None] | None = None,
    before_step: Callable[[], None] = lambda: None,
) -> None:
    """Play ``script`` against a fresh socket, checking every invariant after each step, then destroy.

    ``reactions(world, event)`` runs inside open_cb/close_cb/message_cb (``event`` is
    "open", "close" or "message"); ``before_step`` runs before each scripted step.
    """
    errors = ErrorLog()
    logger = logging.getLogger("heartsock")
    logger.addHandler(errors)
    try:
        world = World(FakeRuntime(rand=random.Random(seed).random))
        world.start(reactions, **config)
        world.check()
        for op in script:
            before_step()
            world.step(op)
            world.check()
        before_step()
        world.destroy()
        world.check()
        world.rt.advance(1000)
        world.check()
    finally:
        logger.removeHandler(errors)
    assert [r.getMessage() for r in errors.records] == []


@SETTINGS
@given(config=configs, seed=st.integers(0, 2**32 - 1), script=st.lists(ops, max_size=60))
def test_random_interleavings_keep_every_invariant(config: dict[str, Any], seed: int, script: list[Op]) -> None:
    """random user calls, network events, timers and hints never break the invariants"""
    run_script(config, seed, script)


# ---- user calls made from inside callbacks -----------------------------------------------

reaction_tables = st.fixed_dictionaries(
    {
        "open": st.sampled_from(["none", "send", "create", "onreconnect", "destroy"]),
        "close": st.sampled_from(["none", "send", "create", "destroy"]),
        "message": st.sampled_from(["none", "send", "create", "onreconnect", "destroy"]),
    }
)

#: How many user calls callbacks may make per scripted step. A close_cb that calls
#: create() can feed itself (each create() ends a socket, whose close_cb creates again);
#: that recursion is tested on its own in test_lifecycle.py, so here it is cut short.
REACTIONS_PER_STEP = 4


@SETTINGS
@given(
    config=configs,
    seed=st.integers(0, 2**32 - 1),
    script=st.lists(ops, max_size=40),
    table=reaction_tables,
)
def test_reentrant_user_calls_keep_every_invariant(
    config: dict[str, Any], seed: int, script: list[Op], table: dict[str, str]
) -> None:
    """send/create/onreconnect/destroy called from open_cb, close_cb and message_cb keep the invariants"""
    budget = {"left": REACTIONS_PER_STEP}

    def react(world: World, event: str) -> None:
        action = table[event]
        if action == "none" or budget["left"] <= 0:
            return
        budget["left"] -= 1
        getattr(world, action)()

    def refill() -> None:
        budget["left"] = REACTIONS_PER_STEP

    run_script(config, seed, script, react, before_step=refill)
