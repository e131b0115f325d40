"""Page side of tests/browser/test_leaks.py: proxy and timer hygiene.

Sockets here are not tracked: each test destroys its own before it counts live proxies.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import hstest

import heartsock
from heartsock import State


async def warm_up(url: str) -> None:
    """Open a socket, send text and bytes, destroy it: the code paths run once before a baseline."""
    warm = heartsock.Socket(url)
    await hstest.wait_for(lambda: warm.state is State.OPEN, 5 * hstest.T, "warm-up OPEN")
    warm.send("x")
    warm.send(b"y")
    warm.destroy()
    await asyncio.sleep(0.05)


async def reconnect_cycles(url: str, cycles: int, settle: float) -> list[Any]:
    """Reconnect at least ``cycles`` times (``url`` closes every connection), destroy(), wait ``settle``."""
    opens: list[int] = []
    sock = heartsock.Socket(
        url,
        reconnect_count=-1,
        backoff="fixed",
        reconnect_time=0.001,
        heart_time=0.05,
        min_uptime=0,
        open_cb=lambda e: opens.append(1),
    )
    await hstest.wait_for(lambda: len(opens) >= cycles, 60 * hstest.T, f"{cycles} reconnect cycles")
    during = sock.stats()
    sock.destroy()
    opened_at_destroy = len(opens)
    await asyncio.sleep(settle)
    after = sock.stats()
    row: list[Any] = [opened_at_destroy, len(opens), during.live_sockets, during.connections, after.live_sockets]
    return row + [after.live_proxies, sock.state.name]


async def settle(seconds: float) -> None:
    """Let pending callbacks run for ``seconds``."""
    await asyncio.sleep(seconds)


box: list[heartsock.Socket] = []


async def destroy_from_callback(url: str) -> str:
    """A socket whose message_cb destroys it (its open_cb sends "bye" to the echo server)."""

    def on_message(data: heartsock.Data) -> None:
        box[0].destroy()

    box.append(heartsock.Socket(url, message_cb=on_message, open_cb=lambda e: box[0].send("bye")))
    await hstest.wait_for(lambda: box[0].state is State.DESTROYED, 5 * hstest.T, "destroyed from the callback")
    await asyncio.sleep(0.05)
    return box[0].state.name


def release() -> None:
    """Drop the socket :func:`destroy_from_callback` made and collect garbage."""
    box.clear()
    gc.collect()


async def batched_pushes(urls: list[str]) -> dict[str, Any]:
    """One socket per URL (each server pushes a burst, then ``done``), all received in batches, then destroyed."""
    from heartsock import _browser, _page

    counts = [0] * len(urls)
    done = [False] * len(urls)

    def counter(i: int) -> Any:
        def on_message(data: heartsock.Data) -> None:
            if data == "done":
                done[i] = True
            else:
                counts[i] += 1

        return on_message

    socks = [heartsock.Socket(url, message_cb=counter(i), heart_time=60) for i, url in enumerate(urls)]
    await hstest.wait_for(lambda: all(done), 20 * hstest.T, "every burst")
    during = _browser._live_proxies
    for sock in socks:
        sock.destroy()
    await asyncio.sleep(0.05)
    return {
        "counts": counts,
        "proxies_during": during,
        "proxies_after": _browser._live_proxies,
        "inlet_released": _page.INLET._api is None and _page.INLET.routes == {},
    }
