"""The asyncio API and listeners in the browser, across real server-forced reconnects (issue 4)."""

from __future__ import annotations

import pytest

from devtools.browser import PyPage
from devtools.faults import ThreadedFaultServer
from tests.conftest import T

pytestmark = pytest.mark.browser

# The page side of each test is a function of tests/browser/pages/scenarios/aio.py.


def test_connect_recv_and_async_for_across_a_reconnect(py: PyPage, server: ThreadedFaultServer) -> None:
    """await connect(); recv() and async for keep receiving across a server-forced reconnect."""
    py.call("aio.connect_and_echo", server.url("/echo"), 0.05 * T)
    server.call(server.server.drop_all)
    result = py.call("aio.iterate_after_drop")
    assert result == ["one", ["two", "three"], "DESTROYED"]
    assert len(server.peers("/echo")) == 2


def test_async_with_destroys_on_exit_and_on_error(py: PyPage, server: ThreadedFaultServer) -> None:
    """async with connect(...) destroys the socket on exit, also when the block raises."""
    result = py.call("aio.async_with", server.url("/echo"))
    assert result == ["x", "DESTROYED", "DESTROYED"]
    assert [p.close_code for p in server.closed_peers("/echo")] == [1000, 1000]


def test_connect_raises_connection_failed_with_last_close(py: PyPage, server: ThreadedFaultServer) -> None:
    """connect() to a server refusing every handshake raises ConnectionFailed with the last close's code."""
    server.call(server.server.refuse_next, 5)
    result = py.call("aio.connect_refused", server.url("/echo"))
    code, reason, is_connection_error, message = result
    assert (code, is_connection_error) == (1006, True)
    # the browser hides the HTTP status of a refused handshake: heartsock says what it knows
    assert reason.startswith("the handshake failed") and "browser console" in reason
    assert "retries spent; the last attempt never opened: the handshake failed" in message
    assert len(server.call(lambda: list(server.server.handshakes))) == 3


def test_listeners_and_callbacks_both_see_every_message(py: PyPage, server: ThreadedFaultServer) -> None:
    """message_cb, two listeners (one async, one via decorator) and recv() all get every message, in order."""
    result = py.call("aio.every_receiver", server.url("/echo"))
    via_cb, via_recv, order, firsts, seconds, removed, states = result
    assert via_cb == ["m0", "m1", "m2", "m3"] and via_recv == ["m0", "m1", "m2"]
    assert order[:2] == ["cb", "first"]  # the option's callback first, then listeners in order
    assert firsts == 3 and seconds == 4 and removed == [True, False]
    assert states == ["OPEN"]


def test_send_json_and_recv_json(py: PyPage, server: ThreadedFaultServer) -> None:
    """send_json/recv_json round-trip; invalid JSON raises ValueError quoting it, and the socket stays fine."""
    result = py.call("aio.json_round_trip", server.url("/echo"))
    obj, err, after, state = result
    assert obj == {"price": 1.5, "sym": "ACME", "tags": ["a", "ü"]}
    assert err[0] == "DecodeError" and "not json" in err[1] and "509 characters" in err[1] and len(err[1]) < 400
    assert after == [1, 2] and state == "OPEN"


def test_cancelling_recv_and_wait_open_leaves_socket_healthy(py: PyPage, server: ThreadedFaultServer) -> None:
    """cancelling tasks blocked in recv() and wait_open() loses no message and keeps the socket working."""
    server.call(server.server.hang_next, 1)
    result = py.call("aio.cancel_waiters", server.url("/echo"), 0.3 * T)
    assert result == [True, True, "still here", "OPEN"]


def test_drain_waits_for_the_queue_to_reach_the_server(py: PyPage, server: ThreadedFaultServer) -> None:
    """drain() returns once queued messages were flushed after the reconnect and written out."""
    server.call(server.server.refuse_next, 2)
    py.call("aio.queue_then_drain", server.url("/sink"), 0.05 * T)
    import time

    time.sleep(0.2 * T)
    assert len(server.peers("/sink")[0].messages) == 100
