"""The fault server's records are bounded (issue 15): many peers, handshakes, messages and
heartbeats leave each record at its cap, holding the newest entries, and a peer leaves the
live set when it closes.

A real devtools.faults server on loopback, with real websockets clients; the caps are
lowered for the test (they are read when a record is created) so that a few dozen
connections reach them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

from devtools import faults
from devtools.faults import ThreadedFaultServer

PEERS, HANDSHAKES, RECEIVED, PINGS = 5, 7, 10, 4


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedFaultServer]:
    monkeypatch.setattr(faults, "MAX_PEERS", PEERS)
    monkeypatch.setattr(faults, "MAX_HANDSHAKES", HANDSHAKES)
    monkeypatch.setattr(faults, "MAX_RECEIVED", RECEIVED)
    monkeypatch.setattr(faults, "MAX_PINGS", PINGS)
    server = ThreadedFaultServer()
    yield server
    server.close()


def test_many_peers_messages_and_heartbeats_leave_every_record_at_its_cap(server: ThreadedFaultServer) -> None:
    """12 connections of 30 messages and 10 heartbeats each: the newest PEERS peers, HANDSHAKES
    handshakes, RECEIVED messages and PINGS heartbeat times are kept, nothing more."""
    for c in range(12):
        with connect(server.url(f"/sink/{c}")) as ws:
            for i in range(30):
                ws.send(f"c{c}m{i}")
            for _ in range(10):
                ws.send("ping")
                assert ws.recv(5) == "pong"
    peers = server.closed_peers("/sink")
    assert [p.path for p in peers] == [f"/sink/{c}" for c in range(12 - PEERS, 12)]
    assert len(server.call(lambda: list(server.server.handshakes))) == HANDSHAKES
    for peer in peers:
        assert len(peer.received) == RECEIVED and peer.received.count("ping") <= 10
        assert len(peer.pings) == PINGS and peer.pings == sorted(peer.pings)
    assert [p.id for p in peers] == list(range(8, 13))  # ids stay unique when old peers are forgotten
    assert server.call(server.server.live) == []


def test_messages_keep_the_newest_in_order(server: ThreadedFaultServer) -> None:
    """A peer that received 3 × RECEIVED messages remembers the last RECEIVED of them, in order."""
    with connect(server.url("/echo")) as ws:
        for i in range(3 * RECEIVED):
            ws.send(f"m{i}")
            assert ws.recv(5) == f"m{i}"
    (peer,) = server.closed_peers("/echo")
    assert peer.messages == [f"m{i}" for i in range(2 * RECEIVED, 3 * RECEIVED)]


def test_a_live_peer_is_never_forgotten_and_a_closed_one_leaves_the_live_set(server: ThreadedFaultServer) -> None:
    """A connection outlived by more than PEERS others drops out of the history, not out of
    live() (drop_all still reaches it); once closed it is gone from live()."""
    with connect(server.url("/echo/held")) as held:
        for c in range(2 * PEERS):
            with connect(server.url(f"/echo/short/{c}")) as ws:
                ws.send("x")
                assert ws.recv(5) == "x"
        server.closed_peers("/echo/short")  # the short ones have closed, as the server saw it
        assert [p.path for p in server.peers("/echo/held")] == []  # out of the history…
        assert [p.path for p in server.call(server.server.live)] == ["/echo/held"]  # …still live
        held.send("still here")
        assert held.recv(5) == "still here"
    assert server.call(_live_after_close, server) == []


async def _live_after_close(server: ThreadedFaultServer) -> list[faults.Peer]:
    """live() once the server has seen the last connection close (within 5 s)."""
    async with asyncio.timeout(5):
        while server.server.live():
            await asyncio.sleep(0.005)
    return server.server.live()
