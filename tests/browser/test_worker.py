"""heartsock in a Web Worker, where there is no `window` (the reference crashed there)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser

from devtools.browser import call_source, install_source
from devtools.faults import ThreadedFaultServer
from devtools.static import StaticServer
from tests.browser.conftest import SCENARIOS

pytestmark = pytest.mark.browser

RUN_IN_WORKER = """async (code) => {
  const worker = new Worker("/testpages/worker.mjs", {type: "module"});
  const reply = await new Promise((resolve) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => resolve([1, "worker error: " + e.message]);
    worker.postMessage(code);
  });
  worker.terminate();
  return reply;
}"""


def test_socket_works_in_a_web_worker(
    browser: Browser, static_server: StaticServer, server: ThreadedFaultServer
) -> None:
    """in a module worker (no window, no document) a Socket opens, echoes, heartbeats and is destroyed."""
    page = browser.new_page()
    try:
        page.goto(f"{static_server.url}/testpages/blank.html")
        # the worker runs the code it is sent: copy the scenarios in, then call worker.py's function
        code = install_source(SCENARIOS) + call_source("scenarios.worker", "echo_and_heartbeat", [server.url("/echo")])
        status, value = page.evaluate(RUN_IN_WORKER, code)
    finally:
        page.close()
    assert status == 0, value
    assert json.loads(value) == ["from a worker", False, False, True, "DESTROYED"]
    assert len(server.peers("/echo")[0].pings) >= 1
