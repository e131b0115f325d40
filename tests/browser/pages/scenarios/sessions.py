"""Page side of tests/browser/test_sessions.py: a resume=True socket through faults."""

from __future__ import annotations

import asyncio
from typing import Any

import hstest

import heartsock


async def exchange(url: str | list[str], count: int, spacing: float) -> dict[str, Any]:
    """Send ``count`` numbered messages through a session; collect the server's; drain; destroy.

    ``url`` is one server, or several: then the URL provider takes the next of them on every
    attempt (one session served by several server processes). Returns what arrived (in
    arrival order), the URL of every connection that opened, the resets, and how many
    messages were still unacknowledged at the end.
    """
    got: list[str] = []
    resets: list[str] = []
    opened: list[str] = []
    urls = [url] if isinstance(url, str) else url
    attempts = [0]

    def next_url() -> str:
        attempts[0] += 1
        return urls[attempts[0] % len(urls)]

    sock: heartsock.Socket = hstest.track(
        heartsock.Socket(
            url if isinstance(url, str) else next_url,
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
    await hstest.wait_for(lambda: len(got) >= count, 60 * hstest.T, f"{count} messages from the server")
    await asyncio.wait_for(sock.drain(), 30 * hstest.T)  # the server acknowledged every message
    queued = sock.stats().queued
    sock.destroy()
    return {"got": got, "connections": len(opened), "opened": opened, "resets": resets, "queued": queued}


async def against_a_plain_server(url: str) -> dict[str, Any]:
    """A resume=True socket meets a server without sessions: the browser refuses the handshake; heartsock says why."""
    sock = hstest.track(heartsock.Socket(url, resume=True, reconnect_count=1, reconnect_time=0.01))
    await hstest.wait_for(lambda: sock.state is heartsock.State.CLOSED, 10 * hstest.T, "CLOSED")
    last = sock.last_close
    return {"reason": sock.closed_reason, "code": last.code if last else None, "attempts": sock.stats().connections}


async def without_resume(url: str) -> dict[str, Any]:
    """A plain socket meets a session server: closed with 4400, which is final."""
    sock = hstest.track(heartsock.Socket(url, reconnect_time=0.01))
    await hstest.wait_for(lambda: sock.state is heartsock.State.CLOSED, 10 * hstest.T, "CLOSED")
    last = sock.last_close
    return {"reason": sock.closed_reason, "code": last.code if last else None, "why": last.reason if last else ""}


async def outlive_the_session(url: str, away: float) -> dict[str, Any]:
    """Exchange, then stay away longer than the server's session_ttl: the reset event, then a new session."""
    got: list[str] = []
    resets: list[dict[str, Any]] = []

    def on_reset(reset: heartsock.SessionReset) -> None:
        resets.append(
            {"resent": reset.resent, "missing": reset.missing, "same": reset.old_session == reset.new_session}
        )

    sock = hstest.track(
        heartsock.Socket(
            url,
            resume=True,
            backoff="fixed",
            reconnect_time=away,
            message_cb=got.append,
            reset_cb=on_reset,
        )
    )
    await sock.wait_open(10 * hstest.T)
    sock.send("before")
    await asyncio.wait_for(sock.drain(), 10 * hstest.T)
    sock.onreconnect()  # away for `away` seconds: longer than the session lives without a connection
    sock.send("while away")
    await hstest.wait_for(lambda: resets, 20 * hstest.T, "the reset event")
    await asyncio.wait_for(sock.drain(), 10 * hstest.T)
    sock.send("after")
    await asyncio.wait_for(sock.drain(), 10 * hstest.T)
    state = sock.state.name
    sock.destroy()
    return {"resets": resets, "state": state}
