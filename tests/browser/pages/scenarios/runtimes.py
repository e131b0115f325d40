"""Page side of tests/browser/test_runtimes.py: the same code under Pyodide and MicroPython.

Written in the Python both interpreters run (no ``hstest``: it needs ``time.monotonic``;
no ``from __future__``: under MicroPython it exists only once heartsock is imported).
A test's successive calls share the socket opened by :func:`start`.
"""

import asyncio
import sys
import time
from typing import Any

import heartsock
from heartsock import State

T = 1.0  # set by the host: set_scale()

_now: Any = getattr(time, "monotonic", None)
if _now is None:  # MicroPython
    _ticks: Any = getattr(time, "ticks_ms")  # noqa: B009
    _now = lambda: _ticks() / 1000  # noqa: E731


class Run:
    """The socket under test and everything its callbacks reported, as ``[seconds, name, detail]``."""

    def __init__(self) -> None:
        self.t0 = _now()
        self.events: list[list[Any]] = []
        self.sock: heartsock.Socket | None = None

    def add(self, name: str, detail: Any) -> None:
        self.events.append([round(_now() - self.t0, 3), name, detail])

    def names(self, name: str) -> list[Any]:
        return [e[2] for e in self.events if e[1] == name]

    def seed_options(self, url: str, heart_ms: float, reconnect_ms: float) -> dict[str, Any]:
        """The reference library's option dict, every callback recorded."""
        return {
            "url": url,
            "heartTime": heart_ms,
            "reconnectTime": reconnect_ms,
            "openCb": lambda e: self.add("open", e.socket_id),
            "closeCb": lambda e: self.add("close", [e.socket_id, e.code, e.reason]),
            "messageCb": lambda d: self.add("message", d if isinstance(d, str) else "b:" + d.hex()),
            "errorCb": lambda e: self.add("error", e.reason),
        }


_run = Run()


def set_scale(t: float) -> str:
    """Set the time unit; return which interpreter and heartsock runtime this page has."""
    global T
    T = t
    return sys.implementation.name + "/" + heartsock.runtime()


async def wait_for(cond: Any, timeout: float, what: str) -> None:
    start = _now()
    while not cond():
        if _now() - start > timeout:
            raise TimeoutError(what + " not reached within " + str(timeout) + " s")
        await asyncio.sleep(0.005)


def _sock() -> heartsock.Socket:
    assert _run.sock is not None, "start() first"
    return _run.sock


async def start(url: str, heart: float, pong: float, reconnect: float, **options: Any) -> str:
    """Open a socket from the seed's dict plus keywords; wait until OPEN; return the runtime's name."""
    global _run
    destroy()
    _run = Run()
    seed = _run.seed_options(url, heart * 1000, reconnect * 1000)
    sock = heartsock.Socket(
        seed,
        pong_timeout=pong,
        pong_msg="pong",
        state_cb=lambda old, new: _run.add("state", new.name),
        reconnect_cb=lambda n, d: _run.add("reconnect", n),
        **options,
    )
    _run.sock = sock
    await wait_for(lambda: sock.state is State.OPEN, 5 * T, "OPEN")
    return heartsock.runtime(sock)


async def first_pong() -> bool:
    """Wait for the first heartbeat reply (``latency`` set)."""
    sock = _sock()
    await wait_for(lambda: sock.latency is not None, 5 * T, "first pong")
    return True


async def closes_after_silence() -> list[Any]:
    """Wait for the socket's first close (the server went silent); the closes and the state."""
    await wait_for(lambda: bool(_run.names("close")), 5 * T, "heartbeat timeout")
    return [_run.names("close"), _sock().state.name]


async def reopened(count: int) -> list[Any]:
    """Wait until the socket opened ``count`` times and is OPEN; the opens and the states seen."""
    sock = _sock()
    await wait_for(lambda: len(_run.names("open")) >= count and sock.state is State.OPEN, 5 * T, "reopen")
    return [_run.names("open"), _run.names("state")]


def send_all(messages: list[str]) -> list[Any]:
    """Send each message; the send() results, the queued count, the state."""
    sock = _sock()
    flags = [sock.send(m) for m in messages]
    return [flags, sock.stats().queued, sock.state.name]


async def until_flushed() -> list[Any]:
    """Wait until OPEN with nothing queued; the retries made and the stats."""
    sock = _sock()
    await wait_for(lambda: sock.state is State.OPEN and sock.stats().queued == 0, 10 * T, "flush")
    return [len(_run.names("reconnect")), sock.stats().messages_out]


async def final_close(url: str, reconnect: float) -> list[Any]:
    """A server that closes with 1008 at once: the socket gives up (CLOSED), no retry."""
    global _run
    destroy()
    _run = Run()
    seed = _run.seed_options(url, 10_000, reconnect * 1000)
    sock = heartsock.Socket(seed, state_cb=lambda old, new: _run.add("state", new.name))
    _run.sock = sock
    await wait_for(lambda: sock.state is State.CLOSED, 5 * T, "CLOSED")
    await asyncio.sleep(3 * reconnect)
    return [_run.names("close"), _run.names("state"), sock.state.name, sock.closed_reason]


async def asyncio_round_trip(url: str) -> list[Any]:
    """connect() / send() / recv() / async for, as an asyncio program writes them."""
    got: list[Any] = []
    async with heartsock.connect(url, heart_time=10.0) as sock:
        sock.send("one")
        got.append(await sock.recv())
        sock.send("two")
        sock.send("three")
        async for message in sock:
            got.append(message)
            if len(got) == 3:
                break
        got.append(sock.state.name)
    got.append(sock.state.name)
    return got


async def connect_refused(url: str) -> str:
    """connect() without reconnection to a server that refuses the handshake raises ConnectionFailed."""
    try:
        await heartsock.connect(url, heart_time=10.0, is_reconnect=False)
    except heartsock.ConnectionFailed as exc:
        return "ConnectionFailed " + str(exc.code)
    return "connected"


def destroy() -> int:
    """Destroy the socket under test; the proxies heartsock still holds."""
    if _run.sock is not None:
        _run.sock.destroy()
        _run.sock = None
    return _live_proxies()


def _live_proxies() -> int:
    rt: Any = None
    try:
        from heartsock._runtime import default_runtime

        rt = default_runtime()
    except Exception:
        return -1
    return int(rt.live_proxies())


# ---- feature probes: README's runtime table is checked against these ------------------
async def _probe_callbacks(echo: str, final: str) -> bool:
    got: list[Any] = []
    seed = {"url": echo, "heartTime": 10_000, "openCb": lambda e: got.append("open"), "messageCb": got.append}
    sock = heartsock.Socket(seed)
    try:
        await wait_for(lambda: sock.state is State.OPEN, 5 * T, "OPEN")
        sock.send("x")
        await wait_for(lambda: "x" in got, 5 * T, "echo")
        return got == ["open", "x"]
    finally:
        sock.destroy()


async def _probe_heartbeat(echo: str, final: str) -> bool:
    sock = heartsock.Socket(echo, heart_time=0.05, pong_msg="pong")
    try:
        await wait_for(lambda: sock.latency is not None, 5 * T, "pong")
        return True
    finally:
        sock.destroy()


async def _probe_queue(echo: str, final: str) -> bool:
    got: list[Any] = []
    sock = heartsock.Socket(echo, heart_time=10.0, message_cb=got.append)
    try:
        queued = [sock.send(m) for m in ("a", "b", "c")]  # still CONNECTING: queued
        await wait_for(lambda: len(got) == 3, 5 * T, "flush")
        return queued == [False, False, False] and got == ["a", "b", "c"]
    finally:
        sock.destroy()


async def _probe_final_close(echo: str, final: str) -> bool:
    sock = heartsock.Socket(final, heart_time=10.0, reconnect_time=0.01)
    try:
        await wait_for(lambda: sock.state is State.CLOSED, 5 * T, "CLOSED")
        last = sock.last_close
        return last is not None and last.code == 1008 and sock.closed_reason == "close code 1008 is final"
    finally:
        sock.destroy()


async def _probe_asyncio(echo: str, final: str) -> bool:
    return await asyncio_round_trip(echo) == ["one", "two", "three", "OPEN", "DESTROYED"]


async def _probe_async_url(echo: str, final: str) -> bool:
    async def provider() -> str:
        await asyncio.sleep(0)
        return echo

    sock = heartsock.Socket(url=provider, heart_time=10.0)
    try:
        await wait_for(lambda: sock.state is State.OPEN, 2 * T, "OPEN")
        return True
    finally:
        sock.destroy()


async def _probe_binary(echo: str, final: str) -> bool:
    got: list[Any] = []
    sock = heartsock.Socket(echo, heart_time=10.0, message_cb=got.append)
    try:
        sock.send(b"\x00\xff\x10")
        await wait_for(lambda: bool(got), 5 * T, "echo")
        return got == [b"\x00\xff\x10"]
    finally:
        sock.destroy()


async def _probe_builtin_bases(echo: str, final: str) -> bool:
    return issubclass(heartsock.ConfigError, ValueError) and issubclass(heartsock.ConnectionFailed, ConnectionError)


PROBES: dict[str, Any] = {
    "callbacks": _probe_callbacks,
    "heartbeat": _probe_heartbeat,
    "queue": _probe_queue,
    "final-close": _probe_final_close,
    "asyncio": _probe_asyncio,
    "async-url": _probe_async_url,
    "binary": _probe_binary,
    "builtin-bases": _probe_builtin_bases,
}


async def probe(echo: str, final: str) -> dict[str, Any]:
    """Run every feature probe here; ``{feature: True/False}``, plus ``"runtime"``: heartsock.runtime()."""
    results: dict[str, Any] = {"runtime": heartsock.runtime()}
    for name in sorted(PROBES):
        try:
            results[name] = bool(await PROBES[name](echo, final))
        except Exception:
            results[name] = False
    return results


async def proxies_after_destroy(url: str, sockets: int) -> list[int]:
    """Open ``sockets`` sockets, destroy them; the proxies heartsock holds before and after (a tick later)."""
    before = _live_proxies()
    opened = [heartsock.Socket(url, heart_time=0.05, pong_msg="pong") for _ in range(sockets)]
    await wait_for(lambda: all(s.latency is not None for s in opened), 5 * T, "pongs")
    during = _live_proxies()
    for sock in opened:
        sock.destroy()
    await asyncio.sleep(0.05)
    return [before, during, _live_proxies()]


async def a_callback_raises(url: str) -> list[Any]:
    """message_cb raises on the first message: reported (console.error here), and the socket carries on."""
    got: list[Any] = []

    def on_message(data: Any) -> None:
        got.append(data)
        if data == "boom":
            raise ValueError("raised by the app's message_cb")

    sock = heartsock.Socket(url, heart_time=10.0, message_cb=on_message)
    try:
        await wait_for(lambda: sock.state is State.OPEN, 5 * T, "OPEN")
        sock.send("boom")
        sock.send("after")
        await wait_for(lambda: len(got) == 2, 5 * T, "both echoes")
        return [got, sock.state.name]
    finally:
        sock.destroy()
