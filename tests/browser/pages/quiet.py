"""Page-side scenarios for tests/browser/test_quiet.py (runs in PyScript, main thread).

Each scenario ends in a state where heartsock has something to say (a final close
code, giving up, a full receive buffer, a user callback that raised) and reports what
reached ``sys.stderr`` meanwhile. ``sys.stderr`` is wrapped, not replaced: writes still
reach PyScript, whose error display draws them.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from pyscript import document  # type: ignore[import-not-found]

import heartsock
from heartsock import State


class Tee:
    """Records what is written to the stream it wraps, and passes it on."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.written: list[str] = []

    def write(self, text: str) -> int:
        self.written.append(text)
        return int(self.stream.write(text))

    def flush(self) -> None:
        self.stream.flush()


async def until(predicate: Any, seconds: float = 10.0) -> None:
    """Wait until ``predicate()`` is true, or raise ``TimeoutError``."""
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.01)


async def final_close(url: str) -> dict[str, Any]:
    sock = heartsock.Socket(url + "/close/1008", reconnect_time=0.01)
    await until(lambda: sock.state is State.CLOSED)
    return {"closed_reason": sock.closed_reason}


async def give_up(url: str) -> dict[str, Any]:
    sock = heartsock.Socket(url + "/close/1011", reconnect_count=2, reconnect_time=0.01, min_uptime=60)
    await until(lambda: sock.state is State.CLOSED)
    return {"closed_reason": sock.closed_reason}


async def overflow(url: str) -> dict[str, Any]:
    errors: list[str] = []
    sock = heartsock.Socket(url + "/push/40/10", max_recv_queue=5, error_cb=lambda e: errors.append(e.reason))
    recv = asyncio.ensure_future(sock.recv())  # turns the receive buffer on
    await until(lambda: sock.recv_dropped > 0 and sock.stats().messages_in >= 41)
    recv.cancel()
    sock.destroy()
    return {"dropped": sock.recv_dropped, "errors": errors}


async def raising_callback(url: str) -> dict[str, Any]:
    got: list[str] = []

    def on_message(data: str) -> None:
        got.append(data)
        if data == "first":
            raise RuntimeError("a bug in the app's message_cb")

    sock = heartsock.Socket(url + "/echo", message_cb=on_message)
    await sock.wait_open(10)
    sock.send("first")
    await until(lambda: got == ["first"])
    sock.send("second")
    await until(lambda: len(got) == 2)
    sock.destroy()
    return {"got": got}


SCENARIOS = {"final_close": final_close, "give_up": give_up, "overflow": overflow, "raising_callback": raising_callback}


async def main() -> None:
    name, url = document.location.hash[1:].split("|", 1)
    tee = Tee(sys.stderr)
    sys.stderr = tee
    try:
        report = await SCENARIOS[name](url)
        await asyncio.sleep(0.2)  # anything late (a log record, a task's failure) shows up by now
    finally:
        sys.stderr = tee.stream
    report["stderr"] = "".join(tee.written)
    out = document.createElement("pre")
    out.id = "result"
    out.textContent = json.dumps(report)
    document.body.append(out)


await main()  # noqa: F704 (top-level await: PyScript runs this module as async code)
