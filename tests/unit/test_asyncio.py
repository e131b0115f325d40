"""The asyncio layer and listeners, on FakeRuntime under asyncio.run (issue 4 items 1–3).

The network is played synchronously from inside the coroutine (``rt.net.opened(1)`` …);
``settle()`` lets the tasks that were woken run. No real time passes: the only awaits
are ``asyncio.sleep(0)`` and futures that the fake network resolves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import heartsock
from heartsock import ConnectionFailed, DecodeError, QueueFull, Socket, SocketClosed, State
from heartsock.testing import FakeRuntime

from .helpers import URL, Recorder, attempts, make_socket, run_until_next_attempt


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``main()`` on a fresh event loop (what every test here does)."""
    return asyncio.run(main())  # type: ignore[arg-type]


async def settle(rounds: int = 5) -> None:
    """Let every runnable task take a few steps (no real time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def open_socket(rt: FakeRuntime, **options: Any) -> Socket:
    """``await heartsock.connect(URL, runtime=rt)`` with the fake server accepting socket 1."""
    task = asyncio.ensure_future(heartsock.connect(URL, runtime=rt, **options))
    await settle()
    assert not task.done()
    rt.net.opened(1)
    return await task


# ---- connect() --------------------------------------------------------------------------------


def test_connect_returns_once_open() -> None:
    """await heartsock.connect(url) returns the socket once its first connection is open"""

    async def main() -> None:
        rt = FakeRuntime()
        sock = await open_socket(rt)
        assert sock.state is State.OPEN
        assert sock.send("hi") is True
        assert rt.net.sent(1) == ["hi"]
        sock.destroy()

    run(main)


def test_connect_waits_across_failed_attempts() -> None:
    """connect() keeps waiting while attempts fail and returns when one opens"""

    async def main() -> None:
        rt = FakeRuntime()
        task = asyncio.ensure_future(heartsock.connect(URL, runtime=rt, reconnect_time=1))
        await settle()
        rt.net.closed_by_peer(1, 1006)
        run_until_next_attempt(rt)
        await settle()
        assert not task.done()
        rt.net.opened(2)
        sock = await task
        assert sock.state is State.OPEN
        sock.destroy()

    run(main)


def test_async_with_destroys_on_exit() -> None:
    """async with connect(...) destroys the socket when the block exits"""

    async def main() -> None:
        rt = FakeRuntime()
        task = asyncio.ensure_future(_use_async_with(rt))
        await settle()
        rt.net.opened(1)
        sock = await task
        assert sock.state is State.DESTROYED
        assert rt.armed == []
        assert rt.net.sockets[1].abandoned is not None and rt.net.sockets[1].abandoned[0] == 1000

    async def _use_async_with(rt: FakeRuntime) -> Socket:
        async with heartsock.connect(URL, runtime=rt) as sock:
            assert sock.state is State.OPEN
        return sock

    run(main)


def test_async_with_destroys_on_exception() -> None:
    """async with destroys the socket when the block raises, and the exception propagates"""
    seen: list[Socket] = []

    async def main() -> None:
        rt = FakeRuntime()

        async def body() -> None:
            async with heartsock.connect(URL, runtime=rt) as sock:
                seen.append(sock)
                raise KeyError("boom")

        task = asyncio.ensure_future(body())
        await settle()
        rt.net.opened(1)
        with pytest.raises(KeyError):
            await task
        assert seen[0].state is State.DESTROYED
        assert rt.armed == []

    run(main)


def test_async_with_destroys_on_cancellation() -> None:
    """cancelling a task inside async with destroys the socket"""
    seen: list[Socket] = []

    async def main() -> None:
        rt = FakeRuntime()

        async def body() -> None:
            async with heartsock.connect(URL, runtime=rt) as sock:
                seen.append(sock)
                await sock.recv()

        task = asyncio.ensure_future(body())
        await settle()
        rt.net.opened(1)
        await settle()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert seen[0].state is State.DESTROYED

    run(main)


def test_cancelling_connect_destroys_the_socket() -> None:
    """cancelling connect() while it waits for the first open leaves nothing behind"""

    async def main() -> None:
        rt = FakeRuntime()
        task = asyncio.ensure_future(heartsock.connect(URL, runtime=rt))
        await settle()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert rt.net.closed
        assert rt.armed == []
        assert rt.net.live_ids() == []

    run(main)


def test_connect_raises_connection_failed_with_code_and_reason() -> None:
    """connect() raises ConnectionFailed with the last close's .code and .reason when it gives up"""

    async def main() -> None:
        rt = FakeRuntime()
        task = asyncio.ensure_future(heartsock.connect(URL, runtime=rt, reconnect_count=0))
        await settle()
        rt.net.closed_by_peer(1, 1011, "overloaded")
        with pytest.raises(ConnectionFailed) as info:
            await task
        assert (info.value.code, info.value.reason) == (1011, "overloaded")
        assert rt.armed == []
        assert rt.net.closed

    run(main)


def test_connect_fails_on_a_final_close_code() -> None:
    """a 1008 close during connect() raises ConnectionFailed at once"""

    async def main() -> None:
        rt = FakeRuntime()
        task = asyncio.ensure_future(heartsock.connect(URL, runtime=rt))
        await settle()
        rt.net.closed_by_peer(1, 1008, "bad token")
        with pytest.raises(ConnectionFailed) as info:
            await task
        assert (info.value.code, info.value.reason) == (1008, "bad token")

    run(main)


def test_connect_fails_after_connect_timeout_on_every_attempt() -> None:
    """connect_timeout on every permitted attempt ends in ConnectionFailed with code 4001"""

    async def main() -> None:
        rt = FakeRuntime()
        task = asyncio.ensure_future(
            heartsock.connect(URL, runtime=rt, connect_timeout=2, reconnect_count=2, reconnect_time=1)
        )
        await settle()
        rt.advance(100)
        with pytest.raises(ConnectionFailed) as info:
            await task
        assert info.value.code == 4001
        assert attempts(rt) == 3

    run(main)


def test_connection_failed_does_not_invent_a_close_code() -> None:
    """when no socket ever closed (the URL provider always failed), ConnectionFailed.code is None"""

    async def main() -> None:
        def provider() -> str:
            raise LookupError("no server assigned")

        rt = FakeRuntime()
        with pytest.raises(ConnectionFailed) as info:
            await heartsock.connect(provider, runtime=rt, reconnect_count=0)
        assert rt.net.sockets == {}  # no underlying socket ever existed
        assert info.value.code is None, f"close code {info.value.code} reported for a socket that never existed"

    run(main)


# ---- wait_open() ------------------------------------------------------------------------------


def test_wait_open_returns_when_the_socket_opens() -> None:
    """wait_open() returns once open; at once if already open"""

    async def main() -> None:
        sock, rt, _ = make_socket()
        task = asyncio.ensure_future(sock.wait_open(timeout=5))
        await settle()
        assert not task.done()
        rt.net.opened(1)
        await task
        await sock.wait_open()
        await sock.wait_open(timeout=5)
        sock.destroy()

    run(main)


def test_callback_users_awaiting_wait_open_accumulate_no_buffer() -> None:
    """wait_open() does not start the recv() buffer: a message_cb user never hits max_recv_queue"""

    async def main() -> None:
        errors: list[Any] = []
        sock, rt, _ = make_socket(max_recv_queue=2, message_cb=lambda d: None, error_cb=errors.append)
        rt.net.opened(1)
        await sock.wait_open()
        for i in range(10):
            rt.net.message(1, f"m{i}")
        assert errors == [] and sock.recv_dropped == 0
        rt.net.message(1, "wanted")
        task = asyncio.ensure_future(sock.recv())  # buffering starts with the first recv()
        await settle()
        rt.net.message(1, "after")
        assert await task == "after"
        sock.destroy()

    run(main)


def test_wait_open_with_zero_timeout_on_an_open_socket_returns() -> None:
    """wait_open(timeout=0) on a socket that is already open returns at once (no TimeoutError)"""

    async def main() -> None:
        sock, rt, _ = make_socket()
        rt.net.opened(1)
        await sock.wait_open(timeout=0)
        sock.destroy()

    run(main)


def test_wait_open_timeout_leaves_the_socket_healthy() -> None:
    """wait_open(timeout) raises TimeoutError and the socket keeps connecting"""

    async def main() -> None:
        sock, rt, _ = make_socket()
        with pytest.raises(TimeoutError):
            await sock.wait_open(timeout=0)
        assert sock.state is State.CONNECTING
        rt.net.opened(1)
        await sock.wait_open()
        assert sock.send("x") is True
        sock.destroy()

    run(main)


def test_wait_open_raises_connection_failed_on_give_up_and_socket_closed_after_destroy() -> None:
    """wait_open() raises ConnectionFailed once the socket gave up, SocketClosed once destroyed"""

    async def main() -> None:
        sock, rt, _ = make_socket(reconnect_count=0)
        task = asyncio.ensure_future(sock.wait_open())
        await settle()
        rt.net.closed_by_peer(1, 1006)
        with pytest.raises(ConnectionFailed):
            await task
        sock.destroy()
        with pytest.raises(SocketClosed):
            await sock.wait_open()

    run(main)


def test_cancelling_wait_open_leaves_the_socket_healthy() -> None:
    """cancelling a task blocked in wait_open() leaves the socket working"""

    async def main() -> None:
        sock, rt, _ = make_socket()
        task = asyncio.ensure_future(sock.wait_open())
        await settle()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert sock.state is State.CONNECTING
        again = asyncio.ensure_future(sock.wait_open())
        await settle()
        rt.net.opened(1)
        await again
        assert sock.state is State.OPEN
        sock.destroy()

    run(main)


# ---- recv() and async for ---------------------------------------------------------------------


def test_recv_returns_messages_in_order_across_a_reconnect() -> None:
    """recv() returns str and bytes messages in order, waiting across a reconnect"""

    async def main() -> None:
        rt = FakeRuntime()
        sock = await open_socket(rt, reconnect_time=1, heart_time=100)
        rt.net.message(1, "one")
        rt.net.message(1, b"two")
        assert await sock.recv() == "one"
        assert await sock.recv() == b"two"
        pending = asyncio.ensure_future(sock.recv())
        await settle()
        rt.net.closed_by_peer(1, 1012)
        await settle()
        assert not pending.done()
        run_until_next_attempt(rt)
        rt.net.opened(2)
        rt.net.message(2, "three")
        assert await pending == "three"
        sock.destroy()

    run(main)


def test_recv_raises_connection_failed_when_the_socket_gives_up() -> None:
    """a recv() waiting when the socket gives up raises ConnectionFailed with the close code"""

    async def main() -> None:
        rt = FakeRuntime()
        sock = await open_socket(rt, reconnect_count=0)
        task = asyncio.ensure_future(sock.recv())
        await settle()
        rt.net.closed_by_peer(1, 1011, "bye")
        with pytest.raises(ConnectionFailed) as info:
            await task
        assert (info.value.code, info.value.reason) == (1011, "bye")
        sock.destroy()

    run(main)


def test_recv_after_destroy_raises_socket_closed_once_the_buffer_is_empty() -> None:
    """after destroy(), recv() still returns what was buffered, then raises SocketClosed"""

    async def main() -> None:
        rt = FakeRuntime()
        sock = await open_socket(rt)
        rt.net.message(1, "kept")
        sock.destroy()
        assert await sock.recv() == "kept"
        with pytest.raises(SocketClosed):
            await sock.recv()

    run(main)


def test_async_for_iterates_across_reconnects_and_ends_quietly_after_destroy() -> None:
    """async for yields every message across a reconnect and ends without error after destroy()"""

    async def main() -> None:
        rt = FakeRuntime()
        sock = await open_socket(rt, reconnect_time=1, heart_time=100)
        got: list[Any] = []

        async def consume() -> None:
            async for data in sock:
                got.append(data)

        task = asyncio.ensure_future(consume())
        await settle()
        rt.net.message(1, "a")
        await settle()
        rt.net.closed_by_peer(1)
        run_until_next_attempt(rt)
        rt.net.opened(2)
        rt.net.message(2, "b")
        rt.net.message(2, b"c")
        await settle()
        sock.destroy()
        await asyncio.wait_for(task, 1)  # finishes at once; the bound only guards a hang
        assert got == ["a", "b", b"c"]

    run(main)


def test_async_for_raises_connection_failed_on_give_up() -> None:
    """async for raises ConnectionFailed when the socket gives up"""

    async def main() -> None:
        rt = FakeRuntime()
        sock = await open_socket(rt, reconnect_count=0)

        async def consume() -> list[Any]:
            return [data async for data in sock]

        task = asyncio.ensure_future(consume())
        await settle()
        rt.net.closed_by_peer(1, 1006)
        with pytest.raises(ConnectionFailed):
            await task
        sock.destroy()

    run(main)


def test_message_cb_and_recv_both_see_every_message() -> None:
    """messages go to message_cb and to recv(), each seeing all of them"""

    async def main() -> None:
        rt = FakeRuntime()
        via_cb: list[Any] = []
        sock = await open_socket(rt, message_cb=via_cb.append)
        for i in range(5):
            rt.net.message(1, f"m{i}")
        via_recv = [await sock.recv() for _ in range(5)]
        assert via_cb == via_recv == [f"m{i}" for i in range(5)]
        sock.destroy()

    run(main)


def test_recv_buffer_overflow_is_reported_not_silent(caplog: pytest.LogCaptureFixture) -> None:
    """beyond max_recv_queue, each overflow is reported once (error_cb, logging) and every drop counted"""

    async def main() -> None:
        rt = FakeRuntime()
        rec = Recorder()
        cbs = rec.callbacks()
        sock = await open_socket(rt, max_recv_queue=2, error_cb=cbs["error_cb"], message_cb=cbs["message_cb"])
        with caplog.at_level(logging.INFO, logger="heartsock"):
            for i in range(4):
                rt.net.message(1, f"m{i}")
        assert rec.messages == ["m0", "m1", "m2", "m3"]
        assert len(rec.errors) == 1 and sock.recv_dropped == 2
        assert all(isinstance(e.error, QueueFull) for e in rec.errors)
        assert "max_recv_queue" in rec.errors[0].reason
        assert any("max_recv_queue" in r.getMessage() for r in caplog.records)
        assert [await sock.recv(), await sock.recv()] == ["m0", "m1"]
        rt.net.message(1, "m4")  # room again
        assert await sock.recv() == "m4"
        for i in range(5, 8):  # a second overflow is reported again
            rt.net.message(1, f"m{i}")
        assert len(rec.errors) == 2 and sock.recv_dropped == 3
        sock.destroy()

    run(main)


def test_cancelling_recv_leaves_the_socket_healthy() -> None:
    """cancelling a task blocked in recv() loses nothing and the socket keeps working"""

    async def main() -> None:
        rt = FakeRuntime()
        sock = await open_socket(rt)
        task = asyncio.ensure_future(sock.recv())
        await settle()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        rt.net.message(1, "after cancel")
        assert await sock.recv() == "after cancel"
        assert sock.state is State.OPEN
        sock.destroy()

    run(main)


def test_cancel_right_after_a_message_woke_recv_loses_nothing() -> None:
    """a message that woke a recv() which is then cancelled is still returned by the next recv()"""

    async def main() -> None:
        rt = FakeRuntime()
        sock = await open_socket(rt)
        task = asyncio.ensure_future(sock.recv())
        await settle()
        rt.net.message(1, "precious")
        task.cancel()  # before the woken task got to run
        try:
            result = await task
        except asyncio.CancelledError:
            assert await sock.recv() == "precious"
        else:
            assert result == "precious"
        sock.destroy()

    run(main)


def test_several_concurrent_receivers_share_the_messages() -> None:
    """two tasks in recv() each get a different message, none lost or duplicated"""

    async def main() -> None:
        rt = FakeRuntime()
        sock = await open_socket(rt)
        a = asyncio.ensure_future(sock.recv())
        b = asyncio.ensure_future(sock.recv())
        await settle()
        rt.net.message(1, "x")
        rt.net.message(1, "y")
        assert sorted([await a, await b]) == ["x", "y"]
        sock.destroy()

    run(main)


# ---- JSON ---------------------------------------------------------------------------------------


def test_send_json_and_recv_json() -> None:
    """send_json writes a JSON text message; recv_json decodes text and bytes"""

    async def main() -> None:
        rt = FakeRuntime()
        sock = await open_socket(rt)
        assert sock.send_json({"a": [1, 2], "b": "é"}) is True
        (written,) = rt.net.sent(1)
        assert isinstance(written, str)
        import json

        assert json.loads(written) == {"a": [1, 2], "b": "é"}
        rt.net.message(1, '{"x": 1}')
        rt.net.message(1, b"[true, null]")
        assert await sock.recv_json() == {"x": 1}
        assert await sock.recv_json() == [True, None]
        sock.destroy()

    run(main)


def test_recv_json_invalid_raises_value_error_with_truncated_text() -> None:
    """invalid JSON makes recv_json raise ValueError quoting the text truncated; the socket stays fine"""

    async def main() -> None:
        rt = FakeRuntime()
        sock = await open_socket(rt)
        bad = "not json " + "x" * 5000
        rt.net.message(1, bad)
        rt.net.message(1, '{"ok": true}')
        with pytest.raises(ValueError) as info:
            await sock.recv_json()
        assert isinstance(info.value, DecodeError)
        text = str(info.value)
        assert "not json" in text
        assert len(text) < 1000
        assert await sock.recv_json() == {"ok": True}
        assert sock.state is State.OPEN
        sock.destroy()

    run(main)


def test_send_json_while_offline_is_queued() -> None:
    """send_json follows send(): queued (False) when not open"""
    sock, rt, _ = make_socket()
    assert sock.send_json([1]) is False
    rt.net.opened(1)
    assert rt.net.sent(1) == ["[1]"]


# ---- listeners ------------------------------------------------------------------------------------


def test_listeners_receive_the_same_arguments_as_the_callbacks() -> None:
    """on(event, fn) for open, message, close, error, reconnect and state, with the *_cb arguments"""
    got: list[tuple[Any, ...]] = []
    sock, rt, rec = make_socket(reconnect_time=1, backoff="fixed", heart_time=100)
    for event in ("open", "message", "close", "error", "reconnect", "state"):
        sock.on(event, lambda *args, _e=event: got.append((_e, *args)))
    rt.net.opened(1)
    rt.net.message(1, "hi")
    rt.net.error(1)
    rt.net.closed_by_peer(1, 1011)
    kinds = [g[0] for g in got]
    assert kinds == [k for k, *_ in rec.log]
    assert [g[1:] for g in got] == [tuple(entry[1:]) for entry in rec.log]
    assert ("reconnect", 1, 1.0) in got


def test_several_listeners_run_in_registration_order() -> None:
    """several listeners for one event are called in the order they were added"""
    order: list[str] = []
    sock, rt, _ = make_socket()
    sock.on("message", lambda d: order.append("first"))
    sock.on("message", lambda d: order.append("second"))
    sock.on("message", lambda d: order.append("third"))
    rt.net.opened(1)
    rt.net.message(1, "x")
    assert order == ["first", "second", "third"]


def test_on_as_a_decorator_and_off() -> None:
    """@sock.on('message') registers and returns the function; off() removes it"""
    got: list[Any] = []
    sock, rt, _ = make_socket()

    @sock.on("message")
    def handler(data: Any) -> None:
        got.append(data)

    assert callable(handler)
    rt.net.opened(1)
    rt.net.message(1, "a")
    assert sock.off("message", handler) is True
    assert sock.off("message", handler) is False
    rt.net.message(1, "b")
    assert got == ["a"]


def test_listeners_coexist_with_the_callback_and_survive_reconnects() -> None:
    """listeners and message_cb/onmessage both fire, before and after a reconnect"""
    via_cb: list[Any] = []
    via_listener: list[Any] = []
    sock, rt, _ = make_socket(reconnect_time=1, heart_time=100)
    sock.onmessage(via_cb.append)
    sock.on("message", via_listener.append)
    rt.net.opened(1)
    rt.net.message(1, "a")
    rt.net.closed_by_peer(1)
    run_until_next_attempt(rt)
    rt.net.opened(2)
    rt.net.message(2, "b")
    assert via_cb == via_listener == ["a", "b"]


def test_unknown_event_name_is_rejected() -> None:
    """on() with an unknown event name raises ValueError"""
    sock, rt, _ = make_socket()
    with pytest.raises(ValueError, match="bogus"):
        sock.on("bogus", print)


def test_listener_that_raises_is_reported_and_the_next_one_still_runs() -> None:
    """a listener that raises is reported; later listeners still run"""
    got: list[Any] = []
    sock, rt, _ = make_socket()

    def bad(data: Any) -> None:
        raise RuntimeError("listener boom")

    sock.on("message", bad)
    sock.on("message", got.append)
    rt.net.opened(1)
    rt.net.message(1, "x")
    assert got == ["x"]
    assert [str(e) for e, _ in rt.reported] == ["listener boom"]


def test_async_listeners_and_async_callbacks_are_scheduled() -> None:
    """async listeners and async *_cb callbacks run on the event loop"""

    async def main() -> None:
        got: list[tuple[str, Any]] = []

        async def on_message(data: Any) -> None:
            await asyncio.sleep(0)
            got.append(("listener", data))

        async def message_cb(data: Any) -> None:
            got.append(("cb", data))

        sock, rt, _ = make_socket(message_cb=message_cb)
        sock.on("message", on_message)
        rt.net.opened(1)
        rt.net.message(1, "x")
        await settle()
        assert sorted(got) == [("cb", "x"), ("listener", "x")]
        sock.destroy()

    run(main)


def test_async_listener_that_raises_is_reported() -> None:
    """an async listener that raises is reported and does not break the socket"""

    async def main() -> None:
        async def bad(data: Any) -> None:
            raise RuntimeError("async boom")

        sock, rt, _ = make_socket()
        sock.on("message", bad)
        rt.net.opened(1)
        rt.net.message(1, "x")
        await settle()
        assert [str(e) for e, _ in rt.reported] == ["async boom"]
        assert sock.send("ok") is True
        sock.destroy()

    run(main)


# ---- async URL provider and drain() -------------------------------------------------------------


def test_async_url_provider_is_awaited_before_each_attempt() -> None:
    """an async url provider is awaited before every attempt"""

    async def main() -> None:
        calls: list[int] = []

        async def provider() -> str:
            calls.append(1)
            await asyncio.sleep(0)
            return f"ws://host-{len(calls)}.test/"

        rt = FakeRuntime()
        sock = Socket(provider, runtime=rt, reconnect_time=1, backoff="fixed")
        assert rt.net.sockets == {}  # the provider has not answered yet
        await settle()
        assert rt.net.sockets[1].url == "ws://host-1.test/"
        assert sock.url == "ws://host-1.test/"
        rt.net.closed_by_peer(1)
        rt.advance(1)  # the retry: the provider is called again
        await settle()
        assert rt.net.sockets[2].url == "ws://host-2.test/"
        assert calls == [1, 1]
        sock.destroy()

    run(main)


def test_async_url_provider_failure_is_an_error_event_and_a_failed_attempt() -> None:
    """an async url provider that raises reports through error_cb and counts as an attempt"""

    async def main() -> None:
        async def provider() -> str:
            raise PermissionError("token expired")

        sock, rt, rec = make_socket(provider, reconnect_count=1, reconnect_time=1)
        await settle()
        assert len(rec.errors) == 1 and isinstance(rec.errors[0].error, PermissionError)
        assert sock.state is State.RECONNECTING
        rt.advance(1)
        await settle()
        assert len(rec.errors) == 2
        assert sock.state is State.CLOSED
        sock.destroy()

    run(main)


def test_drain_returns_once_the_queue_is_flushed() -> None:
    """drain() waits until queued messages were written"""

    async def main() -> None:
        sock, rt, _ = make_socket()
        sock.send("a")
        task = asyncio.ensure_future(sock.drain())
        await settle()
        assert not task.done()
        rt.net.opened(1)
        await task
        assert rt.net.sent(1) == ["a"]
        sock.destroy()
        with pytest.raises(SocketClosed):
            await sock.drain()

    run(main)
