"""The socket under test, shared by the successive calls of one test.

A test that acts on the server between two page steps (drop the connection, stop the
listener) opens its socket with :func:`open_socket`; the next call finds it again with
:func:`current`. The socket is tracked, so the test's teardown destroys it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import hstest

import heartsock
from heartsock import State


class Opened(NamedTuple):
    """A tracked socket and the recorder wired to all its callbacks: ``sock, rec = current()``."""

    sock: heartsock.Socket
    rec: hstest.Recorder


_current: Opened | None = None


async def start(url: str, **options: Any) -> Opened:
    """Open a tracked socket with a :class:`hstest.Recorder`; return once it is OPEN."""
    global _current
    rec = hstest.Recorder()
    sock = hstest.track(heartsock.Socket(url, **rec.callbacks(), **options))
    await hstest.wait_for(lambda: sock.state is State.OPEN, 5 * hstest.T, "OPEN")
    _current = Opened(sock, rec)
    return _current


async def open_socket(url: str, **options: Any) -> None:
    """:func:`start` for the host: ``options`` are Socket options (JSON values only)."""
    await start(url, **options)


def current() -> Opened:
    """The socket the last :func:`start` opened in this page."""
    if _current is None:
        raise RuntimeError("no socket under test: call common.open_socket first")
    return _current


def names(name: str) -> list[Any]:
    """The details the current socket's recorder holds for callback ``name``."""
    return current().rec.names(name)


async def wait_open() -> None:
    """Wait until the current socket is OPEN again."""
    sock = current().sock
    await hstest.wait_for(lambda: sock.state is State.OPEN, 5 * hstest.T, "OPEN")


async def wait_opens(count: int) -> None:
    """Wait until the current socket has opened ``count`` times."""
    rec = current().rec
    await hstest.wait_for(lambda: len(rec.names("open")) == count, 5 * hstest.T, "reopen")


async def wait_closed() -> None:
    """Wait until the current socket is CLOSED (it gave up, or was told a final close code)."""
    sock = current().sock
    await hstest.wait_for(lambda: sock.state is State.CLOSED, 5 * hstest.T, "CLOSED")
