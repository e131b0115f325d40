"""Proxy and timer hygiene over many reconnects, measured the way Pyodide's own suite does (issue 3)."""

from __future__ import annotations

import pytest

from devtools.browser import PyPage
from devtools.faults import ThreadedFaultServer
from tests.conftest import T

pytestmark = pytest.mark.browser

CYCLES = 200

LIVE_PROXIES = "() => window.pyodide._module.pyproxy_alloc_map.size"

# The page side of each test is a function of tests/browser/pages/scenarios/leaks.py.


def test_no_proxy_or_timer_left_after_reconnect_cycles(py: PyPage, server: ThreadedFaultServer) -> None:
    """200 server-forced reconnect cycles then destroy(): live PyProxies back to baseline, no timer fires."""
    assert py.js("() => typeof window.pyodide._module.enable_pyproxy_allocation_tracing") == "function"
    py.js("() => window.pyodide._module.enable_pyproxy_allocation_tracing()")
    # Warm up the code paths once (imports, interned objects) before taking the baseline.
    py.call("leaks.warm_up", server.url("/echo"))
    baseline = py.js(LIVE_PROXIES)
    result = py.call("leaks.reconnect_cycles", server.url("/close/1012"), CYCLES, 0.3 * T)
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
    py.call("leaks.settle", 0.05)
    baseline = py.js(LIVE_PROXIES)
    result = py.call("leaks.destroy_from_callback", server.url("/echo"))
    assert result == "DESTROYED"
    py.call("leaks.release")
    assert py.js(LIVE_PROXIES) == baseline


def test_batched_bursts_on_several_sockets_leave_no_proxy(py: PyPage, server: ThreadedFaultServer) -> None:
    """three sockets receiving text and binary bursts through the page's batcher, then destroyed: the batcher's
    proxies are the page's only ones for their events, and live PyProxies return to the baseline."""
    py.js("() => window.pyodide._module.enable_pyproxy_allocation_tracing()")
    py.call("leaks.settle", 0.05)
    baseline = py.js(LIVE_PROXIES)
    urls = [server.url("/push/3000/8"), server.url("/pushbin/3000/8"), server.url("/push/1000/100")]
    result = py.call("leaks.batched_pushes", urls)
    assert result["counts"] == [3000, 3000, 1000]
    # two for the batcher, one for the page's timer, four for the hint listeners: none per socket
    assert result["proxies_during"] == 2 + 1 + 4
    assert result["proxies_after"] == 0 and result["inlet_released"]
    py.run("import gc\ngc.collect()\n''")
    assert py.js(LIVE_PROXIES) == baseline
