"""The client's half of sessions (resume=True), against a scripted peer on FakeRuntime.

``Peer`` plays a heartsock.v1 server with the same rules as heartsock.server's sessions:
numbered frames, cumulative acks, a welcome that says what it has, replay on resume.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from heartsock import SessionReset, State
from heartsock._session import ACK_DELAY, ACK_EVERY
from heartsock.testing import FakeRuntime
from heartsock.wire import SUBPROTOCOL, Data, ack_frame, data_frame, parse_frame, welcome_frame

from .helpers import make_socket


class Peer:
    """A heartsock.v1 server for one client, driven by the test, frame by frame."""

    def __init__(self, rt: FakeRuntime, session: str = "S" * 24) -> None:
        self.rt = rt
        self.session = session
        self.in_ack = 0  # last client seq delivered
        self.received: list[Data] = []
        self.out: list[Data] = []  # the app's messages to the client, index = seq - 1
        self.client_ack = 0
        self.read = 0  # frames of the current socket already looked at
        self.sid = 0

    def accept(self, resumed: bool = True, missing: int = -1, keep: bool = True) -> None:
        """Open the client's current socket, read its hello, welcome it and replay what it lacks."""
        self.sid = self.rt.net.last_id
        self.read = 0
        self.rt.net.opened(self.sid)
        (hello,) = self.frames()
        kind, ack, session = parse_frame(hello)
        assert kind == "h"
        if not keep:
            self.in_ack, self.received, self.out = 0, [], []
        self.client_ack = ack
        self.rt.net.message(self.sid, welcome_frame(self.session, self.in_ack, resumed, missing))
        for seq in range(ack + 1, len(self.out) + 1):
            self.rt.net.message(self.sid, data_frame(seq, self.out[seq - 1]))

    def frames(self) -> list[Data]:
        """Frames the client wrote on the current socket since the last look."""
        sent = self.rt.net.sent(self.sid)
        new, self.read = sent[self.read :], len(sent)
        return [f for f in new if f != "ping"]

    def pump(self) -> None:
        """Read the client's new frames: deliver data in order, note acks."""
        for frame in self.frames():
            kind, n, rest = parse_frame(frame)
            if kind == "m" and n == self.in_ack + 1:
                self.in_ack = n
                self.received.append(rest)
            elif kind == "a":
                self.client_ack = max(self.client_ack, n)

    def send(self, payload: Data) -> None:
        """The server app sends ``payload`` on the live socket."""
        self.out.append(payload)
        self.rt.net.message(self.sid, data_frame(len(self.out), payload))

    def ack(self) -> None:
        self.rt.net.message(self.sid, ack_frame(self.in_ack))


def session_socket(**options: Any) -> tuple[Any, FakeRuntime, Any, Peer]:
    sock, rt, rec = make_socket(resume=True, backoff="fixed", reconnect_time=1, reconnect_count=-1, **options)
    return sock, rt, rec, Peer(rt)


def test_the_socket_offers_the_subprotocol_and_opens_only_after_the_welcome() -> None:
    """resume=True offers heartsock.v1, says hello, and is OPEN only once the server welcomed it"""
    sock, rt, rec, peer = session_socket()
    assert rt.net.sockets[1].protocols == (SUBPROTOCOL,)
    sock.send("early")
    rt.net.opened(1)
    assert sock.state is State.CONNECTING and rt.net.sent(1) == ["h0|"]
    rt.net.message(1, welcome_frame("S" * 24, 0, False, -1))
    assert sock.state is State.OPEN and rec.opens
    assert rt.net.sent(1)[1:] == [data_frame(1, "early")]


def test_unacknowledged_messages_are_resent_after_a_drop() -> None:
    """a message the server never acknowledged is sent again on the next connection"""
    sock, rt, rec, peer = session_socket()
    peer.accept()
    sock.send("a")
    sock.send("b")
    peer.pump()  # the server got both but its ack was lost with the connection
    peer.in_ack, peer.received = 1, ["a"]  # … in fact only "a" arrived
    rt.net.closed_by_peer(1)
    rt.advance(1)
    peer.accept()
    peer.pump()
    assert peer.received == ["a", "b"] and sock.queued == 1  # b awaits its ack
    peer.ack()
    assert sock.queued == 0


def test_replayed_duplicates_are_dropped_and_a_gap_resumes() -> None:
    """a data frame already delivered is dropped; a frame after a gap abandons the socket (4401) to resume"""
    sock, rt, rec, peer = session_socket()
    peer.accept()
    peer.send("x1")
    rt.net.message(1, data_frame(1, "x1"))  # the same frame again
    assert rec.messages == ["x1"]
    rt.net.message(1, data_frame(3, "x3"))  # 2 is missing
    assert rt.net.sockets[1].abandoned == (4401, "session protocol error")
    assert sock.state is State.RECONNECTING and rec.messages == ["x1"]


def test_acks_are_batched_by_count_and_by_delay() -> None:
    """ACK_EVERY messages get one ack at once; fewer get one ack after ACK_DELAY"""
    sock, rt, rec, peer = session_socket(heart_time=100)
    peer.accept()
    for i in range(ACK_EVERY):
        peer.send(f"m{i}")
    assert [f for f in peer.frames() if f.startswith("a")] == [ack_frame(ACK_EVERY)]
    peer.send("one more")
    assert peer.frames() == []
    rt.advance(ACK_DELAY)
    assert peer.frames() == [ack_frame(ACK_EVERY + 1)]


def test_drain_waits_for_the_servers_acknowledgement() -> None:
    """with resume=True, drain() returns only once the server acknowledged every message"""

    async def main() -> list[str]:
        sock, rt, rec, peer = session_socket()
        peer.accept()
        sock.send("a")
        order: list[str] = []
        waiter = asyncio.ensure_future(sock.drain())
        await asyncio.sleep(0)
        order.append("drain pending" if not waiter.done() else "drain done early")
        peer.pump()
        peer.ack()
        await asyncio.wait_for(waiter, 1)
        order.append("drain done")
        sock.destroy()
        return order

    assert asyncio.run(main()) == ["drain pending", "drain done"]


def test_destroy_says_goodbye_before_closing() -> None:
    """destroy() sends the goodbye frame (the server ends the session) before closing with 1000"""
    sock, rt, rec, peer = session_socket()
    peer.accept()
    sock.destroy()
    assert rt.net.sent(1)[-1] == "x" and rt.net.sockets[1].abandoned == (1000, "destroyed")


def test_a_reset_session_is_reported_and_unacknowledged_messages_renumbered() -> None:
    """the server no longer has the session: a SessionReset, and unacked messages go out again as 1, 2, …"""
    sock, rt, rec, peer = session_socket()
    resets: list[SessionReset] = []
    sock.on("reset", resets.append)
    peer.accept(resumed=False)
    sock.send("lost?")
    rt.net.closed_by_peer(1)
    rt.advance(1)
    peer.session = "T" * 24
    peer.accept(resumed=False, missing=3, keep=False)
    peer.pump()
    assert [(r.resent, r.missing, r.old_session, r.new_session) for r in resets] == [(1, 3, "S" * 8, "T" * 8)]
    assert peer.received == ["lost?"]


def test_a_server_that_did_not_accept_the_subprotocol_is_final() -> None:
    """opened without heartsock.v1: abandoned with 4400, CLOSED at once, closed_reason says why"""
    sock, rt, rec, peer = session_socket()
    rt.net.opened(1, protocol="")
    assert sock.state is State.CLOSED and rt.net.sockets[1].abandoned is not None
    assert "does not speak heartsock sessions" in (sock.closed_reason or "")
    rt.advance(100)
    assert len(rt.net.sockets) == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["send", "recv", "drop", "dup", "gap", "ack", "tick"]), max_size=60))
def test_no_loss_duplicate_or_reorder_through_drops_duplicates_and_gaps(ops: list[str]) -> None:
    """random drops, duplicated frames and gaps in flight: each side gets 1..n exactly once, in order"""
    sock, rt, rec, peer = session_socket(heart_time=1000, connect_timeout=1000)
    peer.accept()
    sent = 0
    for op in ops:
        live = sock.state is State.OPEN
        if op == "send":
            sent += 1
            sock.send(f"c{sent}")
        elif op == "recv" and live:
            peer.send(f"s{len(peer.out) + 1}")
        elif op == "dup" and live and peer.out:
            rt.net.message(peer.sid, data_frame(len(peer.out), peer.out[-1]))
        elif op == "gap" and live:
            peer.out.append(f"s{len(peer.out) + 1}")  # numbered, but this frame is lost: the next one gaps
            peer.send(f"s{len(peer.out) + 1}")
        elif op == "drop" and live:
            peer.pump()
            rt.net.closed_by_peer(peer.sid)
        elif op == "ack" and live:
            peer.pump()
            peer.ack()
        elif op == "tick":
            rt.advance(0.5)
        if sock.state is State.RECONNECTING:
            rt.advance(1)
        if sock.state is State.CONNECTING and rt.net.last_id != peer.sid:
            peer.accept()
    while sock.state is not State.OPEN:
        rt.advance(1)
        if sock.state is State.CONNECTING and rt.net.last_id != peer.sid:
            peer.accept()
    peer.pump()
    assert peer.received == [f"c{i}" for i in range(1, sent + 1)]
    assert rec.messages == [f"s{i}" for i in range(1, len(peer.out) + 1)]
