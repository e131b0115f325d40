"""The browser adapter's proxy rules, under CPython with a stub ``js`` and ``pyodide.ffi``.

The stubs record what the adapter does to "JavaScript": which proxies it made and
destroyed, which timeouts it set, what reached ``console.error``. A stub proxy refuses
to be called after ``destroy()`` and to be destroyed while it runs, as Pyodide's do.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import heartsock
from heartsock import _browser, _page
from heartsock._browser import BrowserRuntime


class StubProxy:
    """A ``create_proxy`` result: callable until destroyed, never destroyed mid-call."""

    def __init__(self, fn: Callable[..., Any], registry: list[StubProxy]) -> None:
        self.fn = fn
        self.destroyed = False
        self.running = 0
        registry.append(self)

    def __call__(self, *args: Any) -> Any:
        assert not self.destroyed, "a destroyed proxy was called"
        self.running += 1
        try:
            return self.fn(*args)
        finally:
            self.running -= 1

    def destroy(self) -> None:
        assert not self.running, "a proxy was destroyed while it was running"
        assert not self.destroyed, "a proxy was destroyed twice"
        self.destroyed = True


class StubWebSocket:
    def __init__(self, url: str) -> None:
        self.url = url
        self.onopen = self.onmessage = self.onerror = self.onclose = None
        self.binaryType = "blob"
        self.readyState = 0
        self.bufferedAmount = 0
        self.protocol = ""
        self.sent: list[Any] = []
        self.closed: tuple[int, str] | None = None

    def send(self, data: Any) -> None:
        self.sent.append(data)

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self.readyState = 3


class EventTarget:
    def __init__(self) -> None:
        self.listeners: list[tuple[str, Any]] = []

    def addEventListener(self, kind: str, fn: Any) -> None:  # noqa: N802 (the DOM's name)
        self.listeners.append((kind, fn))

    def removeEventListener(self, kind: str, fn: Any) -> None:  # noqa: N802
        self.listeners.remove((kind, fn))


class StubJs(EventTarget):
    """The globals heartsock's adapter uses."""

    def __init__(self) -> None:
        super().__init__()
        self.sockets: list[StubWebSocket] = []
        self.timeouts: dict[int, tuple[Any, int]] = {}
        self.errors: list[str] = []
        self.console = types.SimpleNamespace(error=self.errors.append)
        self.navigator = types.SimpleNamespace(onLine=True)
        self.document = EventTarget()
        self.document.visibilityState = "visible"  # type: ignore[attr-defined]
        self.WebSocket = types.SimpleNamespace(new=self._new_socket)
        self.Uint8Array = types.SimpleNamespace(new=lambda n: bytearray(n))
        self.tasks: list[Callable[[], None]] = []  # posted MessageChannel messages (the batcher's flushes)
        self.inlets: list[StubInlet] = []  # the batchers made (only with a ``Function``, see ``batched``)
        self._next = 0

    def _new_socket(self, url: str, *protocols: Any) -> StubWebSocket:
        ws = StubWebSocket(url)
        self.sockets.append(ws)
        return ws

    def setTimeout(self, fn: Any, ms: int) -> int:  # noqa: N802
        self._next += 1
        self.timeouts[self._next] = (fn, ms)
        return self._next

    def clearTimeout(self, handle: int) -> None:  # noqa: N802
        self.timeouts.pop(handle, None)

    def run_timeouts(self) -> None:
        """Run every pending timeout once (a turn of the event loop)."""
        pending, self.timeouts = self.timeouts, {}
        for fn, _ in pending.values():
            fn()


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[StubJs, list[StubProxy]]]:
    """Stub ``js`` and ``pyodide.ffi`` modules; yields the stub globals and every proxy made."""
    js = StubJs()
    proxies: list[StubProxy] = []
    ffi = types.ModuleType("pyodide.ffi")
    ffi.create_proxy = lambda fn: StubProxy(fn, proxies)  # type: ignore[attr-defined]
    ffi.create_once_callable = lambda fn: fn  # type: ignore[attr-defined]
    ffi.to_js = lambda value: value  # type: ignore[attr-defined]
    pyodide = types.ModuleType("pyodide")
    pyodide.ffi = ffi  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "js", js)
    monkeypatch.setitem(sys.modules, "pyodide", pyodide)
    monkeypatch.setitem(sys.modules, "pyodide.ffi", ffi)
    monkeypatch.delitem(sys.modules, "pyscript", raising=False)
    monkeypatch.setattr(_page.INLET, "_factory", None)  # whether the batcher can be made: asked of this stub
    baseline = _browser._live_proxies
    yield js, proxies
    assert _browser._graveyard == [] and _browser._depth == 0
    assert _browser._live_proxies == baseline


def live(proxies: list[StubProxy]) -> list[StubProxy]:
    return [p for p in proxies if not p.destroyed]


def test_destroy_releases_every_proxy_and_listener(stub: tuple[StubJs, list[StubProxy]]) -> None:
    """a socket's handler proxies, its timer's and its listeners' are all destroyed by destroy()"""
    js, proxies = stub
    sock = heartsock.Socket("ws://127.0.0.1:9/x", runtime=BrowserRuntime())
    assert len(js.sockets) == 1 and sock.stats().live_proxies == len(live(proxies)) > 4
    ws = js.sockets[0]
    ws.onopen(None)
    sock.destroy()
    assert live(proxies) == [] and js.listeners == [] and js.document.listeners == []
    assert ws.closed == (1000, "destroyed") and ws.onmessage is None
    assert sock.stats().live_proxies == 0


def test_proxies_released_inside_a_handler_wait_for_the_next_tick(stub: tuple[StubJs, list[StubProxy]]) -> None:
    """a socket retired by its own close handler keeps its proxies until a setTimeout(0) reaps them"""
    js, proxies = stub
    sock = heartsock.Socket("ws://127.0.0.1:9/x", runtime=BrowserRuntime(), reconnect_time=1, backoff="fixed")
    ws = js.sockets[0]
    handlers = [ws.onopen, ws.onmessage, ws.onerror, ws.onclose]
    ws.onopen(None)
    ws.onclose(types.SimpleNamespace(code=1006, reason="", wasClean=False))  # the stub refuses a mid-call destroy
    assert not any(p.destroyed for p in handlers)  # in the graveyard, not destroyed while onclose ran
    assert ws.onclose is None  # detached at once: no late event reaches Python
    delays = sorted(ms for _, ms in js.timeouts.values())
    assert delays == [0, 1000]  # the reaper, and the retry's timer
    js.run_timeouts()  # a later turn: the reaper runs (the retry timer wakes early and re-arms)
    assert all(p.destroyed for p in handlers)
    sock.destroy()


def test_a_failing_handler_reaches_console_error_not_the_event_dispatch(
    stub: tuple[StubJs, list[StubProxy]],
) -> None:
    """an exception in a callback run by a browser event goes to console.error with its traceback"""
    js, _ = stub

    def bad(data: object) -> None:
        raise KeyError("app bug")

    sock = heartsock.Socket("ws://127.0.0.1:9/x", runtime=BrowserRuntime(), message_cb=bad)
    ws = js.sockets[0]
    ws.onopen(None)
    ws.onmessage(types.SimpleNamespace(data="hello"))  # returns normally: nothing escapes into JS
    assert len(js.errors) == 1 and "Traceback" in js.errors[0] and "KeyError: 'app bug'" in js.errors[0]
    ws.onmessage(types.SimpleNamespace(data="again"))
    assert sock.stats().messages_in == 2
    sock.destroy()


def test_the_timer_keeps_one_proxy_across_rearms(stub: tuple[StubJs, list[StubProxy]]) -> None:
    """re-arming the timer sets a new timeout through the same proxy: no proxy churn per deadline"""
    js, proxies = stub
    sock = heartsock.Socket("ws://127.0.0.1:9/x", runtime=BrowserRuntime(), heart_time=1)
    made = len(proxies)
    ws = js.sockets[0]
    ws.onopen(None)
    for _ in range(5):
        js.run_timeouts()  # heartbeat wakes-ups and re-arms
        ws.onmessage(types.SimpleNamespace(data="pong"))
    assert len(proxies) == made
    assert len(js.timeouts) == 1
    sock.destroy()
    assert js.timeouts == {}


def test_many_sockets_share_one_timeout_and_one_set_of_listeners(stub: tuple[StubJs, list[StubProxy]]) -> None:
    """50 heartbeating sockets: one pending setTimeout and four hint listeners for the page, all released after"""
    js, proxies = stub
    socks = [
        heartsock.Socket("ws://127.0.0.1:9/x", runtime=BrowserRuntime(), heart_time=1 + i / 100) for i in range(50)
    ]
    for ws in js.sockets:
        ws.onopen(None)
    assert len(js.timeouts) == 1
    assert sorted(kind for kind, _ in js.listeners + js.document.listeners) == [
        "offline",
        "online",
        "pageshow",
        "visibilitychange",
    ]
    for sock in socks:
        sock.destroy()
    assert js.timeouts == {} and js.listeners == [] and js.document.listeners == []
    assert live(proxies) == []


def test_the_earliest_deadline_of_any_socket_is_the_one_armed(stub: tuple[StubJs, list[StubProxy]]) -> None:
    """the page's timeout follows the earliest deadline: a later socket's earlier deadline re-arms it"""
    js, _ = stub
    slow = heartsock.Socket("ws://127.0.0.1:9/x", runtime=BrowserRuntime(), connect_timeout=30)
    assert [ms for _, ms in js.timeouts.values()] == [30_000]
    fast = heartsock.Socket("ws://127.0.0.1:9/x", runtime=BrowserRuntime(), connect_timeout=2)
    assert [ms for _, ms in js.timeouts.values()] in ([2000], [1999])
    fast.destroy()
    slow.destroy()


# ---- the page's batcher (heartsock._page.PageInlet) --------------------------------------
# The existing tests above run the per-socket-proxy path (the stub has no ``Function``, as a
# page whose Content-Security-Policy forbids making JavaScript). Those below give the stub a
# ``Function`` that returns StubInlet: the batcher's JavaScript (heartsock._page._INLET_JS),
# line for line in Python, so the Python side's bookkeeping can be checked here; the real
# JavaScript runs in tests/browser/test_batching.py.


class StubArray:
    """A JavaScript Array as Python sees it (a JsProxy): ``to_py()`` copies it."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def to_py(self) -> list[Any]:
        return list(self.items)


class StubBuffer:
    """An ArrayBuffer / Uint8Array JsProxy: ``to_bytes()`` copies it."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def to_bytes(self) -> bytes:
        return bytes(self.data)


class StubInlet:
    """What ``_INLET_JS`` returns, with the JavaScript's queue, flush and handlers."""

    def __init__(self, js: StubJs, deliver: Any, signal: Any) -> None:
        self.js, self.deliver, self.signal = js, deliver, signal
        self.items: list[Any] = []
        self.blobs: list[bytes] = []
        self.posted = False
        self.closed = False
        js.inlets.append(self)

    def flush(self) -> None:
        self.posted = False
        if not self.items or self.deliver is None:
            return
        batch, self.items = self.items, []
        blob = StubBuffer(b"".join(self.blobs)) if self.blobs else None
        self.blobs = []
        self.deliver(StubArray(batch), blob)

    def attach(self, ws: StubWebSocket, key: int) -> None:
        def onmessage(event: Any) -> None:
            data = event.data
            if isinstance(data, str):
                self.items += [key, data]
            else:
                self.items += [key, len(data)]
                self.blobs.append(bytes(data))
            if not self.posted:
                self.posted = True
                self.js.tasks.append(self.flush)

        def onopen(event: Any) -> None:
            if self.signal is not None:
                self.signal(key, 0, ws.protocol, 0, False)

        def onerror(event: Any) -> None:
            self.flush()
            if self.signal is not None:
                self.signal(key, 1, "", 0, False)

        def onclose(event: Any) -> None:
            self.flush()
            if self.signal is not None:
                self.signal(key, 2, event.reason, event.code, event.wasClean)

        ws.onmessage, ws.onopen, ws.onerror, ws.onclose = onmessage, onopen, onerror, onclose

    def detach(self, ws: StubWebSocket) -> None:
        ws.onopen = ws.onmessage = ws.onerror = ws.onclose = None

    def close(self) -> None:
        self.items, self.blobs = [], []
        self.deliver = self.signal = None
        self.closed = True


@pytest.fixture
def batched(stub: tuple[StubJs, list[StubProxy]]) -> Iterator[tuple[StubJs, list[StubProxy]]]:
    """The stub globals with ``Function`` (so the batcher is used) and a task queue (MessageChannel)."""
    from heartsock._page import _INLET_JS, INLET

    js, proxies = stub

    def new_function(*args: str) -> Callable[..., StubInlet]:
        assert args == ("deliver", "signal", _INLET_JS)
        return lambda deliver, signal: StubInlet(js, deliver, signal)

    js.Function = types.SimpleNamespace(new=new_function)  # type: ignore[attr-defined]
    yield js, proxies
    released = INLET.routes == {} and INLET._api is None and INLET._users == 0
    if not released:  # a failed test left sockets behind: the next test starts from a fresh batcher
        from heartsock import _page

        _page.INLET = _page.PageInlet()
        _browser._live_proxies -= len(INLET._proxies)
    assert released  # the batcher went with the last socket


def run_tasks(js: StubJs) -> None:
    """Run the posted tasks (MessageChannel messages) and zero-delay timeouts, as the event loop would."""
    while js.tasks or any(ms == 0 for _, ms in js.timeouts.values()):
        tasks, js.tasks = js.tasks, []
        for task in tasks:
            task()
        for handle, (fn, ms) in list(js.timeouts.items()):
            if ms == 0:
                del js.timeouts[handle]
                fn()


def message(data: Any) -> Any:
    return types.SimpleNamespace(data=data)


def closed(code: int = 1006, reason: str = "") -> Any:
    return types.SimpleNamespace(code=code, reason=reason, wasClean=False)


def interleaved(n: int) -> list[Any]:
    return [f"t{i}" if i % 3 else i.to_bytes(3, "big") for i in range(n)]


def test_a_backlog_reaches_python_in_one_call_in_order(batched: tuple[StubJs, list[StubProxy]]) -> None:
    """1,000 interleaved text/binary messages: one batch, message_cb and a listener see each in order, bytes as bytes"""
    from heartsock._page import INLET

    js, proxies = batched
    got: list[Any] = []
    heard: list[Any] = []
    sock = heartsock.Socket("ws://127.0.0.1:9/x", runtime=BrowserRuntime(), message_cb=got.append)
    sock.on("message", heard.append)
    assert sock.stats().live_proxies == len(live(proxies))
    ws = js.sockets[0]
    ws.onopen(None)
    sent = interleaved(1000)
    batches = INLET.batches
    for data in sent:
        ws.onmessage(message(data))
    assert got == [] and len(js.tasks) == 1  # queued in "JavaScript", one task posted
    run_tasks(js)
    assert INLET.batches == batches + 1
    assert got == sent and heard == sent and [type(m) for m in got] == [type(m) for m in sent]
    assert sock.stats().messages_in == 1000
    sock.destroy()


def test_a_message_on_an_idle_socket_is_delivered_by_the_next_task(batched: tuple[StubJs, list[StubProxy]]) -> None:
    """one message, then nothing: the posted task delivers it (no second message needed)"""
    js, _ = batched
    got: list[Any] = []
    sock = heartsock.Socket("ws://127.0.0.1:9/x", runtime=BrowserRuntime(), message_cb=got.append)
    ws = js.sockets[0]
    ws.onopen(None)
    ws.onmessage(message(b"\x00"))
    run_tasks(js)
    assert got == [b"\x00"]
    ws.onmessage(message(""))  # an empty text and an empty binary message are messages too
    ws.onmessage(message(b""))
    run_tasks(js)
    assert got == [b"\x00", "", b""]
    sock.destroy()


def test_destroy_from_message_cb_mid_batch_delivers_nothing_more(batched: tuple[StubJs, list[StubProxy]]) -> None:
    """message_cb destroys the socket at the 3rd of 10 queued messages: no later message reaches anyone"""
    js, proxies = batched
    got: list[Any] = []
    heard: list[Any] = []

    def on_message(data: Any) -> None:
        got.append(data)
        if len(got) == 3:
            sock.destroy()

    sock = heartsock.Socket("ws://127.0.0.1:9/x", runtime=BrowserRuntime(), message_cb=on_message)
    sock.on("message", heard.append)
    ws = js.sockets[0]
    ws.onopen(None)
    for data in interleaved(10):
        ws.onmessage(message(data))
    run_tasks(js)
    assert got == interleaved(3) and heard == interleaved(2)  # the 3rd message's listeners were cut too
    assert sock.state.name == "DESTROYED" and ws.onmessage is None and ws.closed == (1000, "destroyed")
    assert live(proxies) == [] and js.inlets[0].closed  # the page's two proxies, released after the batch


def test_create_from_message_cb_mid_batch_keeps_order_on_the_new_connection(
    batched: tuple[StubJs, list[StubProxy]],
) -> None:
    """create() at the 2nd queued message: the old connection's rest is dropped, the new one's arrive in order"""
    js, _ = batched
    got: list[Any] = []

    def on_message(data: Any) -> None:
        got.append(data)
        if data == "old-1":
            sock.create()

    sock = heartsock.Socket("ws://127.0.0.1:9/x", runtime=BrowserRuntime(), message_cb=on_message)
    old = js.sockets[0]
    old.onopen(None)
    for i in range(5):
        old.onmessage(message(f"old-{i}"))
    run_tasks(js)
    assert got == ["old-0", "old-1"] and old.closed is not None and old.onmessage is None
    new = js.sockets[1]
    new.onopen(None)
    sent = interleaved(50)
    for data in sent:
        new.onmessage(message(data))
    run_tasks(js)
    assert got == ["old-0", "old-1", *sent]
    sock.destroy()


def test_sockets_share_a_batch_and_a_stale_one_is_skipped(batched: tuple[StubJs, list[StubProxy]]) -> None:
    """two sockets' messages in one batch: each in order; one destroyed by the other's callback gets no more"""
    js, proxies = batched
    got_a: list[Any] = []
    got_b: list[Any] = []

    def on_a(data: Any) -> None:
        got_a.append(data)
        if data == "a2":
            b.destroy()

    a = heartsock.Socket("ws://127.0.0.1:9/a", runtime=BrowserRuntime(), message_cb=on_a)
    b = heartsock.Socket("ws://127.0.0.1:9/b", runtime=BrowserRuntime(), message_cb=got_b.append)
    ws_a, ws_b = js.sockets
    ws_a.onopen(None)
    ws_b.onopen(None)
    assert len(live(proxies)) == 2 + 1 + 4  # the inlet's two, the page timer's, the four hint listeners
    for i in range(4):
        ws_a.onmessage(message(f"a{i}"))
        ws_b.onmessage(message(b"b%d" % i))
    assert len(js.tasks) == 1  # one task for the page, not one per socket
    run_tasks(js)
    assert got_a == ["a0", "a1", "a2", "a3"] and got_b == [b"b0", b"b1"]
    a.destroy()


def test_a_close_event_comes_after_the_messages_queued_before_it(batched: tuple[StubJs, list[StubProxy]]) -> None:
    """messages still queued when the close event fires are delivered first, then close_cb"""
    js, _ = batched
    seen: list[Any] = []
    sock = heartsock.Socket(
        "ws://127.0.0.1:9/x",
        runtime=BrowserRuntime(),
        message_cb=seen.append,
        close_cb=lambda e: seen.append(("close", e.code)),
        reconnect_count=0,
    )
    ws = js.sockets[0]
    ws.onopen(None)
    ws.onmessage(message("last words"))
    ws.onmessage(message(b"\x01"))
    ws.onerror(None)
    ws.onclose(closed(1011, "bye"))
    assert seen == ["last words", b"\x01", ("close", 1011)]
    run_tasks(js)  # the posted task finds nothing left
    assert seen == ["last words", b"\x01", ("close", 1011)]
    sock.destroy()


def test_a_batch_arriving_during_a_batch_waits_for_it(batched: tuple[StubJs, list[StubProxy]]) -> None:
    """a flush inside a callback (as when a callback lets the event loop run) queues its batch behind the current one"""
    js, _ = batched
    got: list[Any] = []

    def on_message(data: Any) -> None:
        got.append(data)
        if data == "first-0":
            ws.onmessage(message("second-0"))
            ws.onmessage(message(b"second-1"))
            js.inlets[0].flush()  # re-enters Python's batch handler

    sock = heartsock.Socket("ws://127.0.0.1:9/x", runtime=BrowserRuntime(), message_cb=on_message)
    ws = js.sockets[0]
    ws.onopen(None)
    for i in range(3):
        ws.onmessage(message(f"first-{i}"))
    run_tasks(js)
    assert got == ["first-0", "first-1", "first-2", "second-0", b"second-1"]
    sock.destroy()


def test_the_timer_takes_queued_messages_before_judging_deadlines(batched: tuple[StubJs, list[StubProxy]]) -> None:
    """a reply queued in JavaScript when the heartbeat timer fires is delivered first: the peer is not declared dead"""
    js, _ = batched
    got: list[Any] = []
    sock = heartsock.Socket(
        "ws://127.0.0.1:9/x", runtime=BrowserRuntime(), message_cb=got.append, heart_time=0.001, pong_timeout=0.001
    )
    ws = js.sockets[0]
    ws.onopen(None)
    import time

    time.sleep(0.003)
    js.run_timeouts()  # the heartbeat goes out
    assert ws.sent == ["ping"]
    ws.onmessage(message("pong"))  # the reply is queued, its task not yet run
    time.sleep(0.003)
    js.run_timeouts()  # the pong deadline passed, but the queued reply is taken first
    assert got == ["pong"] and sock.state.name == "OPEN"
    sock.destroy()
    js.tasks.clear()  # the stale task would find nothing anyway


def test_the_page_proxies_are_two_and_go_with_the_last_socket(batched: tuple[StubJs, list[StubProxy]]) -> None:
    """50 sockets: the batcher's two proxies for all (no per-socket proxy); all released after the last destroy()"""
    js, proxies = batched
    socks = [heartsock.Socket("ws://127.0.0.1:9/x", runtime=BrowserRuntime()) for _ in range(50)]
    for ws in js.sockets:
        ws.onopen(None)
    assert len(live(proxies)) == 2 + 1 + 4 and len(js.inlets) == 1
    for sock in socks[:-1]:
        sock.destroy()
    assert len(live(proxies)) == 2 + 1 + 4
    socks[-1].destroy()
    assert live(proxies) == [] and js.inlets[0].closed
    again = heartsock.Socket("ws://127.0.0.1:9/x", runtime=BrowserRuntime())  # a new batcher for the next one
    assert len(js.inlets) == 2 and not js.inlets[1].closed
    again.destroy()


def test_where_javascript_cannot_be_made_each_socket_gets_its_own_handlers(
    stub: tuple[StubJs, list[StubProxy]],
) -> None:
    """new Function throws (a CSP without 'unsafe-eval'): the socket works on four handler proxies of its own"""
    js, proxies = stub

    def refuse(*args: str) -> None:
        raise RuntimeError("EvalError: Refused to evaluate a string as JavaScript")

    js.Function = types.SimpleNamespace(new=refuse)  # type: ignore[attr-defined]
    got: list[Any] = []
    sock = heartsock.Socket("ws://127.0.0.1:9/x", runtime=BrowserRuntime(), message_cb=got.append)
    ws = js.sockets[0]
    assert isinstance(ws.onmessage, StubProxy) and js.inlets == []
    ws.onopen(None)
    ws.onmessage(message("direct"))  # no task needed: one call per message
    assert got == ["direct"] and js.errors == []
    sock.destroy()
    assert live(proxies) == []
