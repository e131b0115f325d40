"""Page side of tests/browser/test_batching.py: the page's batcher (heartsock._page.PageInlet).

The server's ``/backlog/<n>`` route answers ``go:<tag>`` with ``n`` messages
``"<tag>:<i>"``, every third one binary (the same text, encoded). The page blocks its main
thread right after asking, so the messages pile up in the browser and reach heartsock as
a backlog.
"""

from __future__ import annotations

import asyncio
from typing import Any

import hstest
import js

import heartsock
from heartsock import Data, State, _browser, _page

_block: Any = None


def block(seconds: float) -> None:
    """Keep the main thread busy for ``seconds`` (in JavaScript): incoming messages queue up."""
    global _block
    if _block is None:
        _block = js.Function.new("ms", "const end = performance.now() + ms; while (performance.now() < end) {}")
    _block(seconds * 1000)


def expected(tag: str, n: int) -> list[Data]:
    """What ``/backlog/<n>`` sends for ``go:<tag>``."""
    return [f"{tag}:{i}".encode() if i % 3 == 0 else f"{tag}:{i}" for i in range(n)]


def same(got: list[Data], want: list[Data]) -> bool:
    """Equal, message for message, type included (bytes stay bytes)."""
    return len(got) == len(want) and all(type(a) is type(b) and a == b for a, b in zip(got, want, strict=True))


async def backlog(url: str, n: int) -> dict[str, Any]:
    """Two sockets get an ``n``-message backlog each; every way of receiving sees it exactly, in order.

    ``a``: message_cb, a listener and ``async for``; ``b``: ``recv()``.
    """
    got_cb: list[Data] = []
    got_listener: list[Data] = []
    a = hstest.track(heartsock.Socket(url, message_cb=got_cb.append, max_recv_queue=2 * n, heart_time=60))
    a.on("message", got_listener.append)
    b = hstest.track(heartsock.Socket(url, max_recv_queue=2 * n, heart_time=60))
    await a.wait_open(5 * hstest.T)
    await b.wait_open(5 * hstest.T)

    async def iterate() -> list[Data]:
        out: list[Data] = []
        async for data in a:
            out.append(data)
            if len(out) == n:
                break
        return out

    async def receive() -> list[Data]:
        return [await b.recv() for _ in range(n)]

    consumers = [asyncio.ensure_future(iterate()), asyncio.ensure_future(receive())]
    await asyncio.sleep(0)  # both consumers are waiting
    batches = _page.INLET.batches
    a.send("go:a")
    b.send("go:b")
    block(0.5 * hstest.T)
    got_iter, got_recv = await asyncio.wait_for(asyncio.gather(*consumers), 20 * hstest.T)
    await asyncio.sleep(0.05)
    want_a, want_b = expected("a", n), expected("b", n)
    return {
        "message_cb": same(got_cb, want_a),
        "listener": same(got_listener, want_a),
        "async_for": same(got_iter, want_a),
        "recv": same(got_recv, want_b),
        "counts": [len(got_cb), len(got_listener), len(got_iter), len(got_recv)],
        "batches": _page.INLET.batches - batches,
        "messages_in": [a.stats().messages_in, b.stats().messages_in],
    }


async def destroy_mid_batch(url: str, n: int, at: int) -> dict[str, Any]:
    """message_cb destroys the socket at message ``at`` of an ``n``-message backlog."""
    got: list[Data] = []
    heard: list[Data] = []
    box: list[heartsock.Socket] = []

    def on_message(data: Data) -> None:
        got.append(data)
        if len(got) == at:
            box[0].destroy()

    sock = heartsock.Socket(url, message_cb=on_message, heart_time=60)
    box.append(sock)
    sock.on("message", heard.append)
    await sock.wait_open(5 * hstest.T)
    batches = _page.INLET.batches
    sock.send("go:d")
    block(0.5 * hstest.T)
    await hstest.wait_for(lambda: sock.state is State.DESTROYED, 10 * hstest.T, "destroyed from message_cb")
    await asyncio.sleep(0.3 * hstest.T)  # anything still queued would have arrived by now
    want = expected("d", n)
    return {
        "got": same(got, want[:at]),
        "heard": same(heard, want[: at - 1]),  # the destroying message's listeners were cut
        "count": len(got),
        "batches": _page.INLET.batches - batches,
        "live_proxies": sock.stats().live_proxies,
        "heartsock_proxies": _browser._live_proxies,
    }


async def create_mid_batch(url: str, n: int, at: int) -> dict[str, Any]:
    """message_cb calls create() at message ``at`` of the first connection's backlog; the second's arrives whole."""
    got: list[Data] = []
    opens: list[int] = []
    box: list[heartsock.Socket] = []

    def on_open(event: Any) -> None:
        opens.append(event.socket_id)
        box[0].send(f"go:c{len(opens)}")
        block(0.3 * hstest.T)

    def on_message(data: Data) -> None:
        got.append(data)
        if len(got) == at:
            box[0].create()

    sock = hstest.track(heartsock.Socket(url, message_cb=on_message, open_cb=on_open, heart_time=60))
    box.append(sock)
    await hstest.wait_for(lambda: len(got) >= at + n, 20 * hstest.T, "the second connection's backlog")
    await asyncio.sleep(0.3 * hstest.T)
    want = expected("c1", n)[:at] + expected("c2", n)
    return {"same": same(got, want), "count": len(got), "opens": len(opens), "state": sock.state.name}


async def idle_message(url: str) -> dict[str, Any]:
    """One message on an otherwise idle socket: delivered by itself, without another behind it."""
    got: list[Data] = []
    sock = hstest.track(heartsock.Socket(url, message_cb=got.append, heart_time=60))
    await sock.wait_open(5 * hstest.T)
    await asyncio.sleep(0.05)
    batches = _page.INLET.batches
    sock.send(b"\x00only")
    waited = await hstest.wait_for(lambda: got, 2 * hstest.T, "the echo")
    await asyncio.sleep(0.2 * hstest.T)
    return {
        "got": [d.hex() if isinstance(d, bytes) else d for d in got],
        "waited": waited,
        "batches": _page.INLET.batches - batches,
    }
