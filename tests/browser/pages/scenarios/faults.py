"""Page side of tests/browser/test_faults.py: the resilience engine against injected faults."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import hstest

import heartsock
from heartsock import State

from . import common


async def open_until_pong(url: str, heart: float, pong: float, reconnect_time: float) -> None:
    """Open with a fast heartbeat and pong_msg='pong'; wait for the first pong."""
    sock = (
        await common.start(url, heart_time=heart, pong_timeout=pong, pong_msg="pong", reconnect_time=reconnect_time)
    ).sock
    await hstest.wait_for(lambda: sock.latency is not None, 5 * hstest.T, "first pong")


async def heartbeat_timeout() -> tuple[float, list[Any], str]:
    """Wait for the current socket's first close (the server went silent): seconds waited, closes, state."""
    sock, rec = common.current()
    t0 = time.monotonic()
    await hstest.wait_for(lambda: rec.names("close"), 5 * hstest.T, "heartbeat timeout")
    detected = time.monotonic() - t0
    return detected, rec.names("close"), sock.state.name


async def replaced() -> tuple[list[Any], list[Any]]:
    """Wait until the current socket opened a second time and is OPEN."""
    sock, rec = common.current()
    await hstest.wait_for(lambda: len(rec.names("open")) == 2 and sock.state is State.OPEN, 5 * hstest.T, "replacement")
    return rec.names("open"), rec.names("state")


async def first_latency(url: str, heart: float) -> tuple[float | None, float | None, list[Any]]:
    """latency before the first pong and after it, and what message_cb got."""
    sock, rec = await common.start(url, heart_time=heart, pong_msg="pong")
    before = sock.latency
    await hstest.wait_for(lambda: sock.latency is not None, 5 * hstest.T, "pong")
    return before, sock.latency, rec.names("message")


async def through_a_hung_handshake(
    url: str, connect_timeout: float, reconnect_time: float
) -> tuple[list[Any], list[Any], list[float]]:
    """Open against a server that leaves the first handshake hanging; closes, reconnects, close times."""
    rec = hstest.Recorder()
    sock = hstest.track(
        heartsock.Socket(url, connect_timeout=connect_timeout, reconnect_time=reconnect_time, **rec.callbacks())
    )
    await hstest.wait_for(lambda: sock.state is State.OPEN, 5 * hstest.T, "OPEN after the hang")
    return rec.names("close"), rec.names("reconnect"), [t for t, n, d in rec.events if n == "close"]


async def open_and_send(url: str, first: str, **options: Any) -> None:
    """Open a socket (``options`` as for Socket) and send ``first`` on it."""
    sock = (await common.start(url, **options)).sock
    sock.send(first)


async def send_while_down(count: int, wait: float) -> tuple[list[bool], int, str]:
    """Once the loss is noticed, send ``count`` messages and wait ``wait`` seconds."""
    sock = common.current().sock
    await hstest.wait_for(lambda: sock.state is not State.OPEN, 5 * hstest.T, "loss noticed")
    flags = [sock.send(f"m{i}") for i in range(count)]
    await asyncio.sleep(wait)
    return flags, sock.queued, sock.state.name


async def flush_then_send(last: str) -> None:
    """Wait until the queue is flushed on a new connection, then send ``last`` and drain."""
    sock = common.current().sock
    await hstest.wait_for(lambda: sock.state is State.OPEN and sock.queued == 0, 5 * hstest.T, "flushed")
    sock.send(last)
    await sock.drain()


async def final_close(settle: float) -> tuple[list[Any], list[Any], int | None, list[str], str | None]:
    """After a final close code: wait for CLOSED and ``settle`` more seconds; try to send."""
    sock, rec = common.current()
    await hstest.wait_for(lambda: sock.state is State.CLOSED, 5 * hstest.T, "CLOSED")
    await asyncio.sleep(settle)
    errors = []
    try:
        sock.send("x")
    except heartsock.SocketClosed as exc:
        errors.append(str(exc))
    last = sock.last_close
    return rec.names("close"), rec.names("reconnect"), last.code if last else None, errors, sock.closed_reason


async def reopened() -> tuple[list[Any], int]:
    """After a close that reconnects: wait for the second open; the closes and reconnect count."""
    rec = common.current().rec
    await hstest.wait_for(lambda: len(rec.names("open")) == 2, 5 * hstest.T, "reopen")
    return rec.names("close"), len(rec.names("reconnect"))


async def open_with_should_reconnect(url: str, reconnect_time: float, final_code: int) -> None:
    """Open with ``should_reconnect`` that calls only ``final_code`` final."""
    await common.start(url, reconnect_time=reconnect_time, should_reconnect=lambda e: e.code != final_code)


async def offline_wait(wait: float) -> tuple[str, list[Any], float | None, int]:
    """Wait for RECONNECTING (the page is offline), then ``wait`` seconds: state, reconnects, retry_in, attempt."""
    sock, rec = common.current()
    await hstest.wait_for(lambda: sock.state is State.RECONNECTING, 5 * hstest.T, "RECONNECTING")
    await asyncio.sleep(wait)
    return sock.state.name, rec.names("reconnect"), sock.retry_in, sock.attempt


async def probe_answered() -> None:
    """Wait (2 T at most) until the current socket measured a latency."""
    sock = common.current().sock
    await hstest.wait_for(lambda: sock.latency is not None, 2 * hstest.T, "probe answered")


async def probe_timeout() -> tuple[list[Any], float]:
    """Wait until the current socket closed; the closes and the seconds waited."""
    rec = common.current().rec
    waited = await hstest.wait_for(lambda: rec.names("close"), 5 * hstest.T, "timeout")
    return rec.names("close"), waited


async def with_url_provider(url: str, reconnect_time: float) -> tuple[list[int], list[Any], str]:
    """An async URL provider that fails its first call and adds ``?token=<n>`` after."""
    rec = hstest.Recorder()
    calls: list[int] = []

    async def provider() -> str:
        calls.append(len(calls))
        await asyncio.sleep(0.01)
        if len(calls) == 1:
            raise RuntimeError("token service down")
        return url + f"?token={len(calls)}"

    sock = hstest.track(heartsock.Socket(provider, reconnect_time=reconnect_time, backoff="fixed", **rec.callbacks()))
    await hstest.wait_for(lambda: sock.state is State.OPEN, 5 * hstest.T, "OPEN")
    return calls, rec.names("error"), sock.url
