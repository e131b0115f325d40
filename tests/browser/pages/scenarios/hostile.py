"""Page side of tests/browser/test_hostile.py: what a hostile peer sends must not kill the page."""

from __future__ import annotations

import asyncio
from typing import Any

import hstest

import heartsock


async def json_bomb(url: str) -> dict[str, Any]:
    """The server opens with a deeply nested JSON array; recv_json() must refuse it, and the page go on."""
    sock = hstest.track(await heartsock.connect(url, pong_msg="pong"))
    try:
        await asyncio.wait_for(sock.recv_json(), 30 * hstest.T)
        outcome = "decoded?"
    except heartsock.DecodeError as exc:
        outcome = str(exc)[:80]
    sock.send_json({"after": "the bomb"})
    after = await asyncio.wait_for(sock.recv_json(), 10 * hstest.T)
    sock.destroy()
    return {"outcome": outcome, "after": after}
