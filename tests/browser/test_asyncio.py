"""The asyncio API and listeners in the browser, across real server-forced reconnects (issue 4)."""

from __future__ import annotations

import pytest

from devtools.browser import PyPage
from devtools.faults import ThreadedFaultServer
from tests.conftest import T

pytestmark = pytest.mark.browser


def test_connect_recv_and_async_for_across_a_reconnect(py: PyPage, server: ThreadedFaultServer) -> None:
    """await connect(); recv() and async for keep receiving across a server-forced reconnect."""
    py.run_json(
        f"""
import asyncio, heartsock, hstest
from heartsock import State
sock = hstest.track(await heartsock.connect({server.url("/echo")!r}, reconnect_time={0.05 * T}))
sock.send("one")
first = await asyncio.wait_for(sock.recv(), 5 * hstest.T)
1
"""
    )
    server.call(server.server.drop_all)
    result = py.run_json(
        """
sock.send("two")   # queued while reconnecting, or sent at once if already back
sock.send("three")
got = []
async def consume():
    async for data in sock:
        got.append(data)
        if len(got) == 2:
            sock.destroy()
await asyncio.wait_for(consume(), 5 * hstest.T)   # ends quietly after destroy()
[first, got, sock.state.name]
"""
    )
    assert result == ["one", ["two", "three"], "DESTROYED"]
    assert len(server.peers("/echo")) == 2


def test_async_with_destroys_on_exit_and_on_error(py: PyPage, server: ThreadedFaultServer) -> None:
    """async with connect(...) destroys the socket on exit, also when the block raises."""
    result = py.run_json(
        f"""
import heartsock
async with heartsock.connect({server.url("/echo")!r}) as a:
    a.send("x")
    echoed = await a.recv()
states = [echoed, a.state.name]
try:
    async with heartsock.connect({server.url("/echo")!r}) as b:
        raise KeyError("boom")
except KeyError:
    states.append(b.state.name)
states
"""
    )
    assert result == ["x", "DESTROYED", "DESTROYED"]
    assert [p.close_code for p in server.closed_peers("/echo")] == [1000, 1000]


def test_connect_raises_connection_failed_with_last_close(py: PyPage, server: ThreadedFaultServer) -> None:
    """connect() to a server refusing every handshake raises ConnectionFailed with the last close's code."""
    server.call(server.server.refuse_next, 5)
    result = py.run_json(
        f"""
import heartsock
try:
    await heartsock.connect({server.url("/echo")!r}, reconnect_count=2, reconnect_time=0.01)
    out = "connected?"
except heartsock.ConnectionFailed as exc:
    out = [exc.code, exc.reason, isinstance(exc, ConnectionError), str(exc)]
out
"""
    )
    code, reason, is_connection_error, message = result
    assert (code, is_connection_error) == (1006, True)
    # the browser hides the HTTP status of a refused handshake: heartsock says what it knows
    assert reason.startswith("the handshake failed") and "browser console" in reason
    assert "retries spent; the last attempt never opened: the handshake failed" in message
    assert len(server.call(lambda: list(server.server.handshakes))) == 3


def test_listeners_and_callbacks_both_see_every_message(py: PyPage, server: ThreadedFaultServer) -> None:
    """message_cb, two listeners (one async, one via decorator) and recv() all get every message, in order."""
    result = py.run_json(
        f"""
import asyncio, heartsock, hstest
from heartsock import State
order, via_cb, via_recv = [], [], []
def on_message(d):
    via_cb.append(d)
    order.append("cb")
sock = hstest.track(heartsock.Socket({server.url("/echo")!r}, message_cb=on_message))
@sock.on("message")
def first(data):
    order.append("first")
async def second(data):
    order.append("second-async")
sock.on("message", second)
states = []
sock.on("state", lambda old, new: states.append(new.name))
await sock.wait_open(5 * hstest.T)
for i in range(3):
    sock.send(f"m{{i}}")
for i in range(3):
    via_recv.append(await asyncio.wait_for(sock.recv(), 5 * hstest.T))
await asyncio.sleep(0.05)
removed = [sock.off("message", first), sock.off("message", first)]
sock.send("m3")
await asyncio.wait_for(sock.recv(), 5 * hstest.T)
await asyncio.sleep(0.05)
[via_cb, via_recv, order[:3], order.count("first"), order.count("second-async"), removed, states]
"""
    )
    via_cb, via_recv, order, firsts, seconds, removed, states = result
    assert via_cb == ["m0", "m1", "m2", "m3"] and via_recv == ["m0", "m1", "m2"]
    assert order[:2] == ["cb", "first"]  # the option's callback first, then listeners in order
    assert firsts == 3 and seconds == 4 and removed == [True, False]
    assert states == ["OPEN"]


def test_send_json_and_recv_json(py: PyPage, server: ThreadedFaultServer) -> None:
    """send_json/recv_json round-trip; invalid JSON raises ValueError quoting it, and the socket stays fine."""
    result = py.run_json(
        f"""
import heartsock, hstest
sock = hstest.track(await heartsock.connect({server.url("/echo")!r}))
sock.send_json({{"price": 1.5, "sym": "ACME", "tags": ["a", "ü"]}})
obj = await sock.recv_json()
sock.send("not json " + "x" * 500)
try:
    await sock.recv_json()
    err = None
except ValueError as exc:
    err = [type(exc).__name__, str(exc)]
sock.send_json([1, 2])
[obj, err, await sock.recv_json(), sock.state.name]
"""
    )
    obj, err, after, state = result
    assert obj == {"price": 1.5, "sym": "ACME", "tags": ["a", "ü"]}
    assert err[0] == "DecodeError" and "not json" in err[1] and "509 characters" in err[1] and len(err[1]) < 400
    assert after == [1, 2] and state == "OPEN"


def test_cancelling_recv_and_wait_open_leaves_socket_healthy(py: PyPage, server: ThreadedFaultServer) -> None:
    """cancelling tasks blocked in recv() and wait_open() loses no message and keeps the socket working."""
    server.call(server.server.hang_next, 1)
    result = py.run_json(
        f"""
import asyncio, heartsock, hstest
from heartsock import State
sock = hstest.track(heartsock.Socket({server.url("/echo")!r}, connect_timeout={0.3 * T}, reconnect_time=0.01))
waiter = asyncio.ensure_future(sock.wait_open())
await asyncio.sleep(0.05)
waiter.cancel()
await sock.wait_open(5 * hstest.T)
reader = asyncio.ensure_future(sock.recv())
await asyncio.sleep(0.02)
reader.cancel()
try:
    await reader
except asyncio.CancelledError:
    pass
sock.send("still here")
[waiter.cancelled(), reader.cancelled(), await asyncio.wait_for(sock.recv(), 5 * hstest.T), sock.state.name]
"""
    )
    assert result == [True, True, "still here", "OPEN"]


def test_drain_waits_for_the_queue_to_reach_the_server(py: PyPage, server: ThreadedFaultServer) -> None:
    """drain() returns once queued messages were flushed after the reconnect and written out."""
    server.call(server.server.refuse_next, 2)
    py.run_json(
        f"""
import heartsock, hstest
sock = hstest.track(heartsock.Socket({server.url("/sink")!r}, reconnect_time={0.05 * T}, backoff="fixed"))
flags = [sock.send("x" * 1000) for _ in range(100)]
await sock.drain()
[all(f is False for f in flags), sock.queued, sock.buffered_amount]
"""
    )
    import time

    time.sleep(0.2 * T)
    assert len(server.peers("/sink")[0].messages) == 100
