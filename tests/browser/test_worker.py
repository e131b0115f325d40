"""heartsock in a Web Worker, where there is no `window` (the reference crashed there)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser

from devtools.faults import ThreadedFaultServer
from devtools.static import StaticServer

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
        status, value = page.evaluate(
            RUN_IN_WORKER,
            f"""
import asyncio, js, json, heartsock
async with heartsock.connect({server.url("/echo")!r}, heart_time=0.1, pong_msg="pong") as sock:
    sock.send("from a worker")
    echo = await asyncio.wait_for(sock.recv(), 5)
    await asyncio.sleep(0.25)
    latency = sock.latency
json.dumps([echo, hasattr(js, "window"), hasattr(js, "document"), latency is not None, sock.state.name])
""",
        )
    finally:
        page.close()
    assert status == 0, value
    assert json.loads(value) == ["from a worker", False, False, True, "DESTROYED"]
    assert len(server.peers("/echo")[0].pings) >= 1
