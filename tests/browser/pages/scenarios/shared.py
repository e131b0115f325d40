"""Page side of tests/browser/test_shared.py: one tab's end of a shared socket (``shared=``)."""

from __future__ import annotations

from typing import Any

import hstest
import js

import heartsock
from heartsock import State


class Tab:
    """This page's shared socket and everything it saw."""

    def __init__(self, url: str, name: str | None, options: dict[str, Any]) -> None:
        self.got: list[str] = []
        self.expect = 0  # at this many messages, note the time (measurements)
        self.marks: list[float] = []  # Date.now() ms at the first message and at the expected one
        self.state_at: list[tuple[float, str, bool]] = []  # (Date.now() ms, new state, is_leader)
        self.states: list[tuple[str, str]] = []
        self.opened_at: list[tuple[float, bool]] = []  # (Date.now() ms, is_leader) at each OPEN
        self.errors: list[str] = []
        self.sock = hstest.track(
            heartsock.Socket(
                url,
                shared=name,
                message_cb=self._message,
                state_cb=self._state,
                error_cb=lambda event: self.errors.append(event.reason),
                **options,
            )
        )

    def _message(self, data: str | bytes) -> None:
        got = self.got
        got.append(data if isinstance(data, str) else "b:" + data[:4].hex())
        if len(got) == 1 or len(got) == self.expect:
            self.marks.append(float(js.Date.now()))

    def _state(self, old: State, new: State) -> None:
        self.states.append((old.name, new.name))
        self.state_at.append((float(js.Date.now()), new.name, self.sock.is_leader))
        if new is State.OPEN:
            self.opened_at.append((float(js.Date.now()), self.sock.is_leader))


_tab: Tab | None = None


def _current() -> Tab:
    if _tab is None:
        raise RuntimeError("no shared socket in this page: call shared.join first")
    return _tab


async def join(url: str, name: str | None, **options: Any) -> dict[str, Any]:
    """Open a socket with ``shared=name``; return once it is OPEN (led by this tab or another)."""
    global _tab
    _tab = Tab(url, name, options)
    sock = _tab.sock
    await hstest.wait_for(lambda: sock.state is State.OPEN, 10 * hstest.T, "OPEN")
    return status()


def status() -> dict[str, Any]:
    """The socket's sharing, state and counters, as this tab sees them."""
    tab = _current()
    sock = tab.sock
    stats = sock.stats()
    return {
        "sharing": sock.sharing,
        "reason": sock.sharing_reason,
        "is_leader": sock.is_leader,
        "tabs": sock.tabs,
        "state": sock.state.name,
        "states": tab.states,
        "opened_at": tab.opened_at,
        "errors": tab.errors,
        "live_sockets": stats.live_sockets,
        "connections": stats.connections,
        "state_at": tab.state_at,
    }


def expect(count: int) -> None:
    """Forget the messages so far; note the time of the next first one and of the ``count``-th."""
    tab = _current()
    tab.got.clear()
    tab.marks.clear()
    tab.expect = count


async def marks(timeout: float) -> list[float]:
    """Wait for the expected count (``timeout`` seconds, scaled); the first and last message times (ms)."""
    tab = _current()
    await hstest.wait_for(lambda: len(tab.got) >= tab.expect, timeout * hstest.T, f"{tab.expect} messages")
    return tab.marks


async def wait_tabs(count: int) -> int:
    """Wait until this tab knows of ``count`` tabs sharing the socket."""
    sock = _current().sock
    await hstest.wait_for(lambda: sock.tabs == count, 5 * hstest.T, f"{count} tabs")
    return sock.tabs


def send_numbered(tag: str, start: int, count: int) -> list[bool]:
    """Send ``tag:start`` … ``tag:start+count-1``, in order, at once."""
    sock = _current().sock
    return [sock.send(f"{tag}:{i}") for i in range(start, start + count)]


def send_bytes(hex_data: str) -> bool:
    """Send one binary message."""
    return _current().sock.send(bytes.fromhex(hex_data))


async def wait_messages(count: int, timeout: float) -> list[str]:
    """Wait until ``count`` messages arrived (``timeout`` seconds, scaled); return them all."""
    tab = _current()
    await hstest.wait_for(lambda: len(tab.got) >= count, timeout * hstest.T, f"{count} messages")
    return tab.got


async def wait_leading_open(timeout: float) -> dict[str, Any]:
    """Wait until this tab leads and its socket is OPEN (``timeout`` seconds, scaled)."""
    sock = _current().sock
    await hstest.wait_for(lambda: sock.is_leader and sock.state is State.OPEN, timeout * hstest.T, "lead, OPEN")
    return status()


async def drain(timeout: float) -> int:
    """Wait until the server acknowledged every message this tab's socket holds; return ``queued``."""
    sock = _current().sock
    await hstest.wait_for(lambda: sock.queued == 0, timeout * hstest.T, "acknowledged")
    return sock.queued
