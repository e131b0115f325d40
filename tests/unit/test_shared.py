"""Shared sockets (``shared=``) on the pure layers: tabs simulated in one process with a fake bus.

The browser's bus (BroadcastChannel + Web Locks) is replaced by :class:`Hub`, which
delivers posts to every other tab of the same name and grants the lock first come, first
served — both only when the test pumps it, as the browser does between tasks. The real
thing runs in tests/browser/test_shared.py.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import pytest

import heartsock
from heartsock import ConfigError, ConfigTypeError, QueueFull, State
from heartsock.testing import FakeRuntime
from heartsock.wire import SUBPROTOCOL, data_frame, parse_frame, welcome_frame


class Hub:
    """Every tab's BroadcastChannel and Web Lock, in one process."""

    def __init__(self) -> None:
        self.posts: deque[tuple[Bus, list[Any]]] = deque()
        self.buses: list[Bus] = []
        self.queue: list[Bus] = []  # the lock's queue; the first one holds it once granted
        self.holder: Bus | None = None

    def pump(self) -> None:
        """Deliver every post, and grant the lock when it is free, until nothing is left."""
        while True:
            if self.posts:
                sender, message = self.posts.popleft()
                for bus in list(self.buses):
                    if bus is not sender and bus.open and bus.name == sender.name:
                        bus.sink.on_bus(list(message))
            elif self.holder is None and self.queue:
                self.holder = self.queue.pop(0)
                self.holder.sink.on_leader()
            else:
                return


class Bus:
    def __init__(self, hub: Hub, name: str, sink: Any) -> None:
        self.hub, self.name, self.sink, self.open = hub, name, sink, True
        hub.buses.append(self)
        hub.queue.append(self)

    def post(self, message: Sequence[Any]) -> None:
        assert self.open
        for item in message:
            assert item is None or isinstance(item, (str, int, float, bytes)), item
        self.hub.posts.append((self, list(message)))

    def close(self) -> None:
        """Leave (or, for a crash, the browser does it): the lock goes to the next tab."""
        self.open = False
        if self.hub.holder is self:
            self.hub.holder = None
        elif self in self.hub.queue:
            self.hub.queue.remove(self)


class Tab(FakeRuntime):
    """One tab: a fake runtime whose ``shared_bus`` joins the hub."""

    def __init__(self, hub: Hub) -> None:
        super().__init__()
        self.hub = hub
        self.bus: Bus | None = None

    def shared_bus(self, name: str, sink: Any) -> Bus:
        self.bus = Bus(self.hub, name, sink)
        return self.bus


def tabs(hub: Hub, n: int, **options: Any) -> tuple[list[Tab], list[heartsock.Socket], list[list[Any]]]:
    rts = [Tab(hub) for _ in range(n)]
    got: list[list[Any]] = [[] for _ in range(n)]
    socks = [
        heartsock.Socket("ws://test/", runtime=rt, shared="feed", message_cb=g.append, **options)
        for rt, g in zip(rts, got, strict=True)
    ]
    return rts, socks, got


def open_plain(hub: Hub, n: int) -> tuple[list[Tab], list[heartsock.Socket], list[list[Any]]]:
    rts, socks, got = tabs(hub, n)
    hub.pump()
    rts[0].net.opened(rts[0].net.last_id)
    hub.pump()
    return rts, socks, got


def test_one_socket_for_three_tabs_every_message_to_every_tab_once() -> None:
    hub = Hub()
    rts, socks, got = open_plain(hub, 3)
    assert [s.sharing for s in socks] == ["leader", "follower", "follower"]
    assert [s.is_leader for s in socks] == [True, False, False]
    assert [len(rt.net.sockets) for rt in rts] == [1, 0, 0]  # one WebSocket, in the leader
    assert [s.state for s in socks] == [State.OPEN] * 3 and [s.tabs for s in socks] == [3, 3, 3]
    net = rts[0].net
    for i in range(5):
        net.message(net.last_id, f"n{i}")
    net.message(net.last_id, b"\x00\xff")
    hub.pump()
    assert got == [[f"n{i}" for i in range(5)] + [b"\x00\xff"]] * 3


def test_sends_from_every_tab_go_out_once_in_each_tabs_order() -> None:
    hub = Hub()
    rts, socks, _ = open_plain(hub, 3)
    for i in range(4):
        for t, sock in enumerate(socks):
            assert sock.send(f"t{t}-{i}") is True
    hub.pump()
    sent = rts[0].net.sent(rts[0].net.last_id)
    assert sorted(sent) == sorted(f"t{t}-{i}" for t in range(3) for i in range(4))
    for t in range(3):
        assert [m for m in sent if str(m).startswith(f"t{t}-")] == [f"t{t}-{i}" for i in range(4)]


def test_follower_state_and_events_follow_the_leader() -> None:
    hub = Hub()
    rts, socks, _ = tabs(hub, 2, reconnect_time=1.0, backoff="fixed")
    states: list[tuple[str, str]] = []
    closes: list[int | None] = []
    socks[1].on("state", lambda old, new: states.append((old.name, new.name)))
    socks[1].on("close", lambda e: closes.append(e.code))
    hub.pump()
    net = rts[0].net
    net.opened(net.last_id)
    hub.pump()
    net.closed_by_peer(net.last_id, 1011, "restart")
    hub.pump()
    assert socks[1].state is State.RECONNECTING and closes == [1011]
    assert socks[1].retry_in == pytest.approx(1.0) and socks[1].last_close is not None
    rts[0].advance(1.0)
    net.opened(net.last_id)
    hub.pump()
    assert states == [
        ("CONNECTING", "OPEN"),
        ("OPEN", "RECONNECTING"),
        ("RECONNECTING", "CONNECTING"),
        ("CONNECTING", "OPEN"),
    ]
    assert socks[1].stats().connections == 2 and socks[1].ready_state == 1


def test_a_follower_queues_within_max_queue_while_no_leader_is_known() -> None:
    hub = Hub()
    rts, socks, _ = tabs(hub, 1, max_queue=2)
    sock = socks[0]
    assert sock.sharing == "follower" and sock.state is State.CONNECTING  # the lock is not granted yet
    assert sock.send("a") is False and sock.send("b") is False and sock.queued == 2
    with pytest.raises(QueueFull):
        sock.send("c")
    hub.pump()
    assert sock.is_leader
    net = rts[0].net
    net.opened(net.last_id)
    assert net.sent(net.last_id) == ["a", "b"]


def test_a_send_refused_by_the_leaders_full_queue_is_an_error_in_the_followers_tab() -> None:
    hub = Hub()
    rts, socks, _ = tabs(hub, 2, max_queue=1)
    errors: list[Any] = []
    socks[1].on("error", lambda e: errors.append(e.error))
    hub.pump()  # the leader connects, not open yet: its queue holds one message
    assert socks[0].send("mine") is False
    assert socks[1].send("one") is False
    with pytest.raises(QueueFull):  # the follower's own bound while the leader is not open
        socks[1].send("two")
    hub.pump()
    assert len(errors) == 1 and isinstance(errors[0], QueueFull) and socks[1]._shared is not None
    rts[0].net.opened(rts[0].net.last_id)
    assert rts[0].net.sent(rts[0].net.last_id) == ["mine"]
    assert socks[1].send("three") is False  # the refused one no longer counts against the bound
    hub.pump()
    assert rts[0].net.sent(rts[0].net.last_id) == ["mine", "three"]


def test_leader_crash_with_sessions_hands_over_and_loses_nothing() -> None:
    hub = Hub()
    rts, socks, got = tabs(hub, 3, resume=True)
    hub.pump()
    net = rts[0].net
    sid = net.last_id
    net.opened(sid, SUBPROTOCOL)
    assert net.sent(sid) == ["h0|"]
    net.message(sid, welcome_frame("S" * 24, 0, False, 0))
    hub.pump()
    assert all(s.state is State.OPEN for s in socks)
    for seq in (1, 2, 3):
        net.message(sid, data_frame(seq, f"d{seq}"))
    socks[1].send("f1")
    socks[2].send(b"f2")
    socks[0].send("l1")
    hub.pump()
    frames = [parse_frame(f) for f in net.sent(sid)[1:]]
    assert [(kind, n, bytes(p) if isinstance(p, bytes) else p) for kind, n, p in frames if kind == "m"] == [
        ("m", 1, "l1"),
        ("m", 2, "f1"),
        ("m", 3, b"f2"),
    ]
    # The leader tab crashes: the server has acked nothing, delivered d1..d3.
    assert rts[0].bus is not None
    rts[0].bus.close()
    socks.pop(0)
    got.pop(0)
    rts.pop(0)
    socks[1].send("f3")  # posted to the dead leader: kept until a leader takes it
    hub.pump()
    assert socks[0].is_leader and socks[1].sharing == "follower"
    new = rts[0].net
    nsid = new.last_id
    new.opened(nsid, SUBPROTOCOL)
    assert new.sent(nsid) == ["h3|" + "S" * 24]  # resumes the session after d3
    new.message(nsid, welcome_frame("S" * 24, 1, True, 0))  # the server had l1 only
    resent = [parse_frame(f) for f in new.sent(nsid)[1:]]
    assert [(n, p) for _, n, p in resent] == [(2, "f1"), (3, b"f2"), (4, "f3")]
    new.message(nsid, data_frame(4, "d4"))
    hub.pump()
    assert got == [["d1", "d2", "d3", "d4"]] * 2
    assert [s.state for s in socks] == [State.OPEN, State.OPEN]


def test_the_leader_destroying_its_socket_hands_over_without_ending_the_session() -> None:
    hub = Hub()
    rts, socks, _ = tabs(hub, 2, resume=True)
    hub.pump()
    net = rts[0].net
    net.opened(net.last_id, SUBPROTOCOL)
    net.message(net.last_id, welcome_frame("S" * 24, 0, False, 0))
    hub.pump()
    assert socks[0].destroy() == []
    assert "x" not in net.sent(net.last_id)  # no goodbye: the session lives on
    hub.pump()
    assert socks[1].is_leader
    rts[1].net.opened(rts[1].net.last_id, SUBPROTOCOL)
    assert rts[1].net.sent(rts[1].net.last_id) == ["h0|" + "S" * 24]


def test_a_lone_leader_destroying_ends_the_session() -> None:
    hub = Hub()
    rts, socks, _ = tabs(hub, 1, resume=True)
    hub.pump()
    net = rts[0].net
    net.opened(net.last_id, SUBPROTOCOL)
    net.message(net.last_id, welcome_frame("S" * 24, 0, False, 0))
    socks[0].destroy()
    assert net.sent(net.last_id)[-1] == "x"


def test_a_runtime_without_a_bus_falls_back_to_a_private_socket() -> None:
    rt = FakeRuntime()
    sock = heartsock.Socket("ws://test/", runtime=rt, shared="feed")
    assert sock.sharing == "private" and sock.is_leader and sock.tabs == 1
    assert sock.sharing_reason is not None and "FakeRuntime" in sock.sharing_reason
    assert rt.net.live == 1
    plain = heartsock.Socket("ws://test/", runtime=FakeRuntime())
    assert plain.sharing == "off" and plain.sharing_reason is None


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        ("", ConfigError, "non-empty"),
        ("  ", ConfigError, "non-empty"),
        ("x" * 201, ConfigError, "at most 200"),
        ("a\nb", ConfigError, "printable"),
        (5, ConfigTypeError, "got int"),
        (b"feed", ConfigTypeError, "got bytes"),
    ],
)
def test_bad_shared_names_are_refused(value: object, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        heartsock.Socket("ws://test/", runtime=FakeRuntime(), shared=value)


def test_a_shared_sockets_key_must_cross_tabs() -> None:
    hub = Hub()
    _, socks, _ = tabs(hub, 1)
    with pytest.raises(ConfigTypeError, match="str or a number"):
        socks[0].send("x", key=("a", 1))


def test_malformed_bus_messages_are_ignored() -> None:
    hub = Hub()
    rts, socks, got = open_plain(hub, 2)
    link = socks[1]._shared
    assert link is not None
    for bad in ([], ["m"], ["e", link.leader, "state", "{", "{}"], ["h", "x", "not json", None], ["t", 1]):
        link.on_bus(bad)
    rts[0].net.message(rts[0].net.last_id, "fine")
    hub.pump()
    assert got[1] == ["fine"] and socks[1].state is State.OPEN


def test_a_followers_queued_counts_its_sends_until_the_server_acknowledges_them() -> None:
    hub = Hub()
    rts, socks, _ = tabs(hub, 3, resume=True)
    hub.pump()
    net = rts[0].net
    sid = net.last_id
    net.opened(sid, SUBPROTOCOL)
    net.message(sid, welcome_frame("S" * 24, 0, False, 0))
    hub.pump()
    socks[0].send("l1")
    socks[1].send("f1")
    socks[1].send("f2")
    assert socks[1].queued == 2  # posted, not yet taken
    hub.pump()
    assert socks[1].queued == 2  # taken and numbered 2 and 3, not acknowledged
    net.message(sid, "a2")
    hub.pump()
    assert socks[1].queued == 1 and socks[2].queued == 0
    net.message(sid, "a3")
    hub.pump()
    assert socks[1].queued == 0


def test_the_tab_count_follows_joins_and_leaves() -> None:
    hub = Hub()
    _, socks, _ = open_plain(hub, 3)
    assert [s.tabs for s in socks] == [3, 3, 3]
    socks[2].destroy()
    hub.pump()
    assert [s.tabs for s in socks[:2]] == [2, 2]


def test_a_followers_create_and_onreconnect_are_done_by_the_leader() -> None:
    hub = Hub()
    rts, socks, _ = open_plain(hub, 2)
    net = rts[0].net
    first = net.last_id
    socks[1].create()
    hub.pump()
    assert net.last_id == first + 1 and socks[0].state is State.CONNECTING
    assert socks[1].state is State.CONNECTING and rts[1].net.live == 0
    socks[1].onreconnect()
    hub.pump()
    assert socks[0].state is State.RECONNECTING and socks[1].state is State.RECONNECTING


def test_a_leader_alone_posts_nothing_per_message_and_a_tab_joining_later_gets_what_follows() -> None:
    hub = Hub()
    rts, socks, got = open_plain(hub, 1)
    net = rts[0].net
    net.message(net.last_id, "early")
    socks[0].send("mine")
    assert not hub.posts  # no other tab: nothing crosses the channel
    late = Tab(hub)
    late_got: list[Any] = []
    late_sock = heartsock.Socket("ws://test/", runtime=late, shared="feed", message_cb=late_got.append)
    hub.pump()
    assert late_sock.state is State.OPEN and late_sock.tabs == 2
    net.message(net.last_id, "later")
    hub.pump()
    assert got[0] == ["early", "later"] and late_got == ["later"]


def test_without_sessions_a_hand_over_keeps_untaken_sends_and_loses_the_old_leaders_queue() -> None:
    """what the README says can be lost without sessions, and what is not"""
    hub = Hub()
    rts, socks, _ = tabs(hub, 3)
    hub.pump()  # tab 0 leads, its socket still connecting
    socks[1].send("queued at the leader")  # taken into the leader's offline queue
    hub.pump()
    assert socks[1].queued == 0 and socks[0].queued == 1
    assert rts[0].bus is not None
    rts[0].bus.close()  # the leader tab crashes: its queue dies with it
    socks[2].send("posted to the dead leader")  # never taken: kept, posted again to the next leader
    hub.pump()
    assert socks[1].is_leader and socks[2].queued == 0 and socks[1].queued == 1  # the new leader took it
    net = rts[1].net
    net.opened(net.last_id)
    hub.pump()
    assert net.sent(net.last_id) == ["posted to the dead leader"]  # and "queued at the leader" is lost


def test_a_follower_page_going_away_is_no_longer_counted_and_counted_again_when_it_returns() -> None:
    hub = Hub()
    _, socks, _ = open_plain(hub, 3)
    link = socks[2]._shared
    assert link is not None
    link.on_hidden(True)  # pagehide: the tab closes without destroy()
    hub.pump()
    assert [s.tabs for s in socks[:2]] == [2, 2]
    link.on_hidden(False)  # pageshow from the back/forward cache
    hub.pump()
    assert [s.tabs for s in socks] == [3, 3, 3]
