"""Page side of tests/browser/test_redis_sessions.py: one session served by several server processes."""

from __future__ import annotations

import asyncio
from typing import Any

import hstest

import heartsock


async def exchange_alternating(urls: list[str], count: int, spacing: float) -> dict[str, Any]:
    """A ``resume=True`` socket whose URL provider takes the next of ``urls`` on every attempt.

    Sends ``count`` numbered messages, collects the server's, drains, destroys. Returns what
    arrived (in arrival order), the URL of every connection that opened, and the resets.
    """
    got: list[str] = []
    resets: list[str] = []
    opened: list[str] = []
    attempts = [0]

    def next_url() -> str:
        attempts[0] += 1
        return urls[attempts[0] % len(urls)]

    sock: heartsock.Socket = hstest.track(
        heartsock.Socket(
            next_url,
            resume=True,
            reconnect_count=-1,
            backoff="fixed",
            reconnect_time=0.02,
            min_uptime=0.0,
            message_cb=got.append,
            open_cb=lambda event: opened.append(sock.url),
            reset_cb=lambda reset: resets.append(repr(reset)),
        )
    )
    for i in range(count):
        sock.send(f"c{i}")
        await asyncio.sleep(spacing)
    await hstest.wait_for(lambda: len(got) >= count, 60 * hstest.T, f"{count} messages from the servers")
    await asyncio.wait_for(sock.drain(), 30 * hstest.T)  # the servers acknowledged every message
    queued = sock.stats().queued
    sock.destroy()
    return {"got": got, "opened": opened, "resets": resets, "queued": queued}
