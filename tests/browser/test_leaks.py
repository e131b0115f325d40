"""Proxy and timer hygiene over many reconnects, measured the way Pyodide's own suite does (issue 3)."""

from __future__ import annotations

import pytest

from devtools.browser import PyPage
from devtools.faults import ThreadedFaultServer
from tests.conftest import T

pytestmark = pytest.mark.browser

CYCLES = 200

LIVE_PROXIES = "() => window.pyodide._module.pyproxy_alloc_map.size"


def test_no_proxy_or_timer_left_after_reconnect_cycles(py: PyPage, server: ThreadedFaultServer) -> None:
    """200 server-forced reconnect cycles then destroy(): live PyProxies back to baseline, no timer fires."""
    assert py.js("() => typeof window.pyodide._module.enable_pyproxy_allocation_tracing") == "function"
    py.js("() => window.pyodide._module.enable_pyproxy_allocation_tracing()")
    # Warm up the code paths once (imports, interned objects) before taking the baseline.
    py.run_json(
        f"""
import asyncio, heartsock, hstest
from heartsock import State
warm = heartsock.Socket({server.url("/echo")!r})
await hstest.wait_for(lambda: warm.state is State.OPEN, 5 * hstest.T, "warm-up OPEN")
warm.send("x"); warm.send(b"y")
warm.destroy()
await asyncio.sleep(0.05)
1
"""
    )
    baseline = py.js(LIVE_PROXIES)
    result = py.run_json(
        f"""
opens = []
sock = heartsock.Socket({server.url("/close/1012")!r}, reconnect_count=-1, backoff="fixed",
                        reconnect_time=0.001, heart_time=0.05, min_uptime=0, open_cb=lambda e: opens.append(1))
await hstest.wait_for(lambda: len(opens) >= {CYCLES}, 60 * hstest.T, "{CYCLES} reconnect cycles")
during = sock.stats()
sock.destroy()
opened_at_destroy = len(opens)
await asyncio.sleep({0.3 * T})
after = sock.stats()
row = [opened_at_destroy, len(opens), during.live_sockets, during.connections, after.live_sockets]
row + [after.live_proxies, sock.state.name]
"""
    )
    opens, opens_later, during_sockets, connections, sockets_left, proxies_left, state = result
    assert opens >= CYCLES and during_sockets <= 1 and connections == opens
    # heartsock's own count: every proxy it made (handlers, timer, listeners) was destroyed
    assert opens_later == opens and sockets_left == 0 and proxies_left == 0 and state == "DESTROYED"
    py.run("import gc\ngc.collect()\n''")
    after = py.js(LIVE_PROXIES)
    if after != baseline:
        leaked = py.js(
            "() => Array.from(window.pyodide._module.pyproxy_alloc_map.values()).slice(-5).join('\\n----\\n')"
        )
        pytest.fail(f"live PyProxies went from {baseline} to {after}; newest allocations:\n{leaked}")
    assert len(server.peers("/close")) >= CYCLES


def test_destroy_from_inside_a_callback_releases_everything(py: PyPage, server: ThreadedFaultServer) -> None:
    """destroy() called from message_cb (while its own proxy runs) still releases every proxy afterwards."""
    py.js("() => window.pyodide._module.enable_pyproxy_allocation_tracing()")
    py.run("import asyncio\nawait asyncio.sleep(0.05)\n''")
    baseline = py.js(LIVE_PROXIES)
    result = py.run_json(
        f"""
import asyncio, heartsock, hstest
from heartsock import State
box = []
def on_message(data):
    box[0].destroy()
box.append(heartsock.Socket({server.url("/echo")!r}, message_cb=on_message,
                            open_cb=lambda e: box[0].send("bye")))
await hstest.wait_for(lambda: box[0].state is State.DESTROYED, 5 * hstest.T, "destroyed from the callback")
await asyncio.sleep(0.05)
box[0].state.name
"""
    )
    assert result == "DESTROYED"
    py.run("import gc\nbox.clear()\ngc.collect()\n''")
    assert py.js(LIVE_PROXIES) == baseline
