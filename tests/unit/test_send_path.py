"""Socket.send's direct path (Driver.send_now) against the ordinary one through the core's actions.

Each scenario runs twice on a FakeRuntime — once as shipped, once with the direct path
switched off — and what the transport was asked to do, the callbacks and the stats must be
the same: the direct path is only an optimisation.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import heartsock
from heartsock._driver import Driver
from heartsock.testing import FakeRuntime

URL = "ws://127.0.0.1:9/ws"
#: What the transport sends in ``scenario``, across its three connections, in order.
EXPECTED: list[Any] = [
    "queued before open",
    "from open_cb",
    "m0",
    "m1",
    "m2",
    b"\x00binary",
    "ping",
    "while a ping is out",
    "ping",
    "overdue",  # on the second connection: the first was declared dead by this send()
    "from open_cb",
    "after the reconnect",
    "while reconnecting",
    "from open_cb",
    "last",
]


def scenario(direct: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[Any], dict[str, Any]]:
    if not direct:
        monkeypatch.setattr(Driver, "send_now", lambda self, data: False)
    rt = FakeRuntime()
    seen: list[Any] = []
    sock = heartsock.Socket(
        URL,
        runtime=rt,
        heart_time=1.0,
        pong_timeout=1.0,
        reconnect_time=0.5,
        backoff="fixed",
        message_cb=seen.append,
        open_cb=lambda e: (seen.append("open"), sock.send("from open_cb")),
        close_cb=lambda e: seen.append(("close", e.code)),
    )
    net = sock._driver.transport
    sock.send("queued before open")
    net.opened(net.last_id)  # type: ignore[attr-defined]
    for i in range(3):
        sock.send(f"m{i}")
    sock.send(b"\x00binary")
    rt.advance(1.0)  # the heartbeat's ping goes out
    sock.send("while a ping is out")
    net.message(net.last_id, "pong")  # type: ignore[attr-defined]
    rt.advance(1.0)  # the next ping goes out, and is never answered
    rt.jump(5.0)  # a throttled tab: the reply is overdue when send() runs, before the timer
    sock.send("overdue")  # the peer is declared dead (4000); the message waits for the next connection
    rt.advance(1.0)
    net.opened(net.last_id)  # type: ignore[attr-defined]
    sock.send("after the reconnect")
    net.closed_by_peer(net.last_id, 1006)  # type: ignore[attr-defined]
    sock.send("while reconnecting")
    rt.advance(1.0)
    net.opened(net.last_id)  # type: ignore[attr-defined]
    sock.send("last")
    stats = sock.stats()
    sock.destroy()
    monkeypatch.undo()
    return list(net.log), seen, dataclasses.asdict(stats)


def test_the_direct_send_path_does_what_the_core_path_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """transport calls, callbacks and stats are identical with and without the direct path"""
    direct = scenario(True, monkeypatch)
    ordinary = scenario(False, monkeypatch)
    assert direct == ordinary
    sent = [entry[2] for entry in direct[0] if entry[0] == "send"]
    assert sent == EXPECTED
    assert ("close", 4000) in direct[1]


def test_send_from_a_callback_waits_for_the_actions_in_front_of_it() -> None:
    """open_cb's send() goes out after the queue flush that precedes open_cb, not before it"""
    rt = FakeRuntime()
    sock = heartsock.Socket(URL, runtime=rt, open_cb=lambda e: sock.send("from open_cb"))
    net = sock._driver.transport
    for i in range(3):
        sock.send(f"q{i}")
    net.opened(net.last_id)  # type: ignore[attr-defined]
    sock.send("after")
    assert net.sent(net.last_id) == ["q0", "q1", "q2", "from open_cb", "after"]  # type: ignore[attr-defined]
    sock.destroy()


def test_send_from_a_callback_in_the_middle_of_the_flush_keeps_its_place() -> None:
    """a send() from error_cb while the queue is being flushed goes out after the rest of the flush

    The first queued message fails in the transport; the error callback runs while the other
    two are still being handed over, and its own send() must not overtake them.
    """
    rt = FakeRuntime()
    sock = heartsock.Socket(URL, runtime=rt, error_cb=lambda e: sock.send("from error_cb"))
    net = sock._driver.transport
    send = net.send
    failures = [1]

    def failing_once(socket_id: int, data: Any) -> None:
        if failures[0]:
            failures[0] = 0
            raise RuntimeError("the browser refused it")
        send(socket_id, data)

    net.send = failing_once  # type: ignore[method-assign]
    for i in range(3):
        sock.send(f"q{i}")
    net.opened(net.last_id)  # type: ignore[attr-defined]
    assert net.sent(net.last_id) == ["q1", "q2", "from error_cb"]  # type: ignore[attr-defined]
    sock.destroy()
