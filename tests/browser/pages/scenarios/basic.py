"""Page side of tests/browser/test_basic.py: the reference design's behaviour."""

from __future__ import annotations

import asyncio
from typing import Any

import hstest
import js

import heartsock
from heartsock import State

from . import common


async def round_trip(url: str, blob_hex: str) -> tuple[list[bool], list[Any], int, str]:
    """Send non-ASCII text, a binary blob, a bytearray and a memoryview; wait for the 4 echoes."""
    sock, rec = await common.start(url)
    sent = [sock.send("héllo wörld 🎉"), sock.send(bytes.fromhex(blob_hex))]
    sent += [sock.send(bytearray(b"\x00\x01")), sock.send(memoryview(b"mv"))]
    await hstest.wait_for(lambda: len(rec.names("message")) == 4, 5 * hstest.T, "4 echoes")
    return sent, rec.names("message"), sock.ready_state, sock.url


async def send_other_types(url: str) -> list[str]:
    """send() each of four values that are neither str nor bytes-like; the TypeErrors' messages."""
    sock = (await common.start(url)).sock
    errors = []
    bad_values: list[Any] = [42, None, ["x"], {"a": 1}]
    for bad in bad_values:
        try:
            sock.send(bad)
        except TypeError as exc:
            errors.append(str(exc))
    return errors


async def stay_quiet(url: str, heart: float) -> str:
    """Open with ``heart_time=heart`` and send nothing for 4.5 heartbeats."""
    sock = (await common.start(url, heart_time=heart)).sock
    await asyncio.sleep(heart * 4.5)
    return sock.state.name


async def reopen_and_echo() -> tuple[list[Any], list[Any]]:
    """After the server dropped it: wait for the second open, then for an echo on it."""
    sock, rec = common.current()
    await hstest.wait_for(lambda: len(rec.names("open")) == 2 and sock.state is State.OPEN, 5 * hstest.T, "reopen")
    sock.send("after")
    await hstest.wait_for(lambda: "after" in rec.names("message"), 5 * hstest.T, "echo")
    return rec.names("close"), rec.names("state")


async def give_up(url: str, reconnect_time: float, settle: float) -> tuple[str, list[Any], int, int, int]:
    """reconnect_count=2 against a refusing server: wait for CLOSED, then ``settle`` seconds."""
    rec = hstest.Recorder()
    sock = hstest.track(
        heartsock.Socket(url, reconnect_count=2, reconnect_time=reconnect_time, backoff="fixed", **rec.callbacks())
    )
    await hstest.wait_for(lambda: sock.state is State.CLOSED, 5 * hstest.T, "CLOSED")
    await asyncio.sleep(settle)
    return sock.state.name, rec.names("reconnect"), len(rec.names("close")), len(rec.names("error")), sock.ready_state


async def keep_trying(url: str, reconnect_time: float) -> tuple[int, int]:
    """reconnect_count=-1 against a server refusing 8 handshakes: wait (10 T) until OPEN."""
    rec = hstest.Recorder()
    sock = hstest.track(
        heartsock.Socket(url, reconnect_count=-1, reconnect_time=reconnect_time, backoff="fixed", **rec.callbacks())
    )
    await hstest.wait_for(lambda: sock.state is State.OPEN, 10 * hstest.T, "OPEN after 8 refusals")
    return len(rec.names("reconnect")), sock.attempt


async def stays_closed(settle: float) -> tuple[str, list[Any]]:
    """Wait until the current socket is CLOSED, then ``settle`` more seconds."""
    sock, rec = common.current()
    await hstest.wait_for(lambda: sock.state is State.CLOSED, 5 * hstest.T, "CLOSED")
    await asyncio.sleep(settle)
    return sock.state.name, rec.names("reconnect")


got: list[heartsock.Data] = []
opens: list[int] = []


async def listen(url: str, reconnect_time: float) -> None:
    """Open a socket, then set its callbacks with onmessage() and onopen()."""
    global got, opens
    sock = (await common.start(url, reconnect_time=reconnect_time)).sock
    got, opens = [], []
    sock.onmessage(got.append)
    sock.onopen(lambda e: opens.append(e.socket_id))


async def echo_after_reopen(round_: int) -> None:
    """Wait for reopen number ``round_ + 1``, send ``m<round_>`` and wait for its echo."""
    sock = common.current().sock
    await hstest.wait_for(lambda: len(opens) == round_ + 1 and sock.state is State.OPEN, 5 * hstest.T, "reopen")
    sock.send(f"m{round_}")
    await hstest.wait_for(lambda: f"m{round_}" in got, 5 * hstest.T, "echo")


def listened() -> tuple[list[heartsock.Data], list[int], list[Any]]:
    """What onmessage() and onopen() got, and what message_cb got."""
    return got, opens, common.current().rec.names("message")


async def destroy_then_wait(url: str, heart: float, reconnect_time: float) -> list[Any]:
    """Open, let two heartbeats go, destroy() twice, call what must raise, wait 6 heartbeats."""
    sock, rec = await common.start(url, heart_time=heart, reconnect_time=reconnect_time)
    await asyncio.sleep(heart * 2.5)
    unsent = sock.destroy()
    again = sock.destroy()
    errors = []
    for call in (lambda: sock.send("x"), sock.create, sock.onreconnect):
        try:
            call()
        except heartsock.SocketClosed as exc:
            errors.append(type(exc).__name__)
    await asyncio.sleep(heart * 6)
    return [sock.state.name, rec.names("close"), unsent, again, errors, sock.ready_state]


def construct_without_websocket() -> tuple[str, bool]:
    """Delete ``WebSocket`` from the page, construct a Socket, put ``WebSocket`` back."""
    saved = js.WebSocket
    js.eval("delete globalThis.WebSocket")
    try:
        heartsock.Socket("ws://127.0.0.1:1/")
        outcome = "no error"
    except heartsock.UnsupportedError as exc:
        outcome = str(exc)
    finally:
        js.globalThis.WebSocket = saved
    return outcome, isinstance(heartsock.UnsupportedError("x"), heartsock.HeartsockError)


def bad_constructions() -> list[Any]:
    """Socket() with a non-ws URL, no URL, a dict without url, a misspelt option, a bad callback."""
    cases: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        (("http://127.0.0.1/",), {}),
        ((), {}),
        (({"heartTime": 10},), {}),
        (("ws://127.0.0.1/",), {"heart_tme": 1}),
        (("ws://127.0.0.1/",), {"open_cb": 3}),
    ]
    out: list[Any] = []
    for args, kwargs in cases:
        try:
            heartsock.Socket(*args, **kwargs)
            out.append("no error")
        except (ValueError, TypeError) as exc:
            out.append([type(exc).__name__, isinstance(exc, ValueError), isinstance(exc, TypeError), str(exc)])
    return out


async def seed_dict(url: str, heart_ms: float, reconnect_ms: float, settle: float) -> list[Any]:
    """The reference's option dict (camelCase, milliseconds, callbacks): open, echo, wait for a pong."""
    log: list[list[Any]] = []
    sock = hstest.track(
        heartsock.Socket(
            {
                "url": url,
                "heartTime": heart_ms,
                "heartMsg": "ping",
                "isReconnect": True,
                "reconnectTime": reconnect_ms,
                "reconnectCount": -1,
                "openCb": lambda e: log.append(["open", e.type]),
                "closeCb": lambda e: log.append(["close", e.code]),
                "messageCb": lambda d: log.append(["message", d]),
                "errorCb": lambda e: log.append(["error", e.type]),
            },
            backoff="fixed",
        )
    )
    await hstest.wait_for(lambda: sock.state is State.OPEN, 5 * hstest.T, "OPEN")
    sock.send("hello")
    await hstest.wait_for(lambda: ["message", "hello"] in log, 5 * hstest.T, "echo")
    await asyncio.sleep(settle)
    o = sock.options
    return [log[:2], o.heart_time, o.reconnect_time, o.reconnect_count, "pong" in [e[1] for e in log]]


async def create_again(url: str) -> tuple[list[Any], list[Any]]:
    """create() on an OPEN socket; wait until it is OPEN again."""
    sock, rec = await common.start(url)
    sock.create()
    await hstest.wait_for(lambda: sock.state is State.OPEN, 5 * hstest.T, "reopen")
    return rec.names("close"), rec.names("open")


async def heart_beats(period: float) -> tuple[int, int, float]:
    """Heart(period).start(cb) with a cb that raises on its 2nd beat; reset() after 4.5 periods."""
    beats = []

    def cb() -> None:
        beats.append(1)
        if len(beats) == 2:
            raise RuntimeError("a failing beat is logged, not fatal")

    heart = heartsock.Heart(period)
    assert heart.start(cb) is heart
    await asyncio.sleep(period * 4.5)
    counted = len(beats)
    assert heart.reset() is heart
    await asyncio.sleep(period * 3)
    return counted, len(beats), heart.timeout
