"""The page's batcher: received messages reach Python in batches, exactly in order (issue 13 item 2).

A real ``websockets`` server sends each backlog; the page blocks its main thread right
after asking, so the messages pile up in the browser and arrive as a backlog.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.browser import PyPage
from devtools.faults import Peer, ThreadedFaultServer
from tests.conftest import T

pytestmark = pytest.mark.browser

# The page side of each test is a function of tests/browser/pages/scenarios/batching.py.

LIVE_PROXIES = "() => window.pyodide._module.pyproxy_alloc_map.size"


async def _backlog(peer: Peer) -> None:
    """``/backlog/<n>``: on ``go:<tag>``, send ``"<tag>:<i>"`` for i < n, every third one binary."""
    n = int(peer.path.strip("/").split("/")[1])
    async for message in peer:
        if isinstance(message, str) and message.startswith("go:"):
            tag = message[3:]
            for i in range(n):
                text = f"{tag}:{i}"
                await peer.send(text.encode() if i % 3 == 0 else text)


@pytest.fixture(scope="module")
def backlog_module_server() -> Iterator[ThreadedFaultServer]:
    server = ThreadedFaultServer(routes={"backlog": _backlog})
    yield server
    server.close()


@pytest.fixture
def backlog_server(backlog_module_server: ThreadedFaultServer) -> ThreadedFaultServer:
    """The fault server with the ``/backlog/<n>`` route, reset: no peers yet."""
    backlog_module_server.reset()
    return backlog_module_server


def test_a_backlog_arrives_in_order_through_every_way_of_receiving(
    py: PyPage, backlog_server: ThreadedFaultServer
) -> None:
    """5,000 interleaved text/binary messages per socket: message_cb, a listener, async for and recv() see them all,
    in order, bytes as bytes, in fewer batches than messages."""
    n = 5000
    result = py.call("batching.backlog", backlog_server.url(f"/backlog/{n}"), n)
    assert result["counts"] == [n, n, n, n]
    assert result["message_cb"] and result["listener"] and result["async_for"] and result["recv"]
    assert result["messages_in"] == [n, n]
    assert 1 <= result["batches"] < 2 * n  # two sockets' messages, at least some batched together


def test_destroy_from_message_cb_mid_batch_delivers_nothing_more(
    py: PyPage, backlog_server: ThreadedFaultServer
) -> None:
    """destroy() from message_cb at the 100th of 2,000 queued messages: no later message reaches a callback
    or listener, and every proxy heartsock made is released."""
    py.js("() => window.pyodide._module.enable_pyproxy_allocation_tracing()")
    py.call("leaks.settle", 0.05)
    baseline = py.js(LIVE_PROXIES)
    result = py.call("batching.destroy_mid_batch", backlog_server.url("/backlog/2000"), 2000, 100)
    assert result["count"] == 100 and result["got"] and result["heard"]
    assert result["batches"] >= 1
    assert result["live_proxies"] == 0 and result["heartsock_proxies"] == 0
    py.run("import gc\ngc.collect()\n''")
    assert py.js(LIVE_PROXIES) == baseline


def test_create_from_message_cb_mid_batch_keeps_order_on_the_new_connection(
    py: PyPage, backlog_server: ThreadedFaultServer
) -> None:
    """create() from message_cb at the 50th message of a 1,000-message backlog: the old connection's rest is
    dropped, the new connection's whole backlog follows in order."""
    result = py.call("batching.create_mid_batch", backlog_server.url("/backlog/1000"), 1000, 50)
    assert result == {"same": True, "count": 1050, "opens": 2, "state": "OPEN"}
    assert len(backlog_server.peers("/backlog")) == 2


def test_a_message_on_an_idle_socket_is_delivered_at_once(py: PyPage, server: ThreadedFaultServer) -> None:
    """a single echo on an idle socket is delivered by itself, in one batch, without waiting for another."""
    result = py.call("batching.idle_message", server.url("/echo"))
    assert result["got"] == [b"\x00only".hex()] and result["batches"] == 1
    assert result["waited"] < 0.5 * T
