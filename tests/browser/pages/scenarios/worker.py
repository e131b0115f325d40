"""Page side of tests/browser/test_worker.py: runs in a module Web Worker (no hstest there)."""

from __future__ import annotations

import asyncio

import js

import heartsock


async def echo_and_heartbeat(url: str) -> tuple[heartsock.Data, bool, bool, bool, str]:
    """Connect, echo one message, let heartbeats run; whether ``window``/``document`` exist."""
    async with heartsock.connect(url, heart_time=0.1, pong_msg="pong") as sock:
        sock.send("from a worker")
        echo = await asyncio.wait_for(sock.recv(), 5)
        await asyncio.sleep(0.25)
        latency = sock.latency
    return echo, hasattr(js, "window"), hasattr(js, "document"), latency is not None, sock.state.name
