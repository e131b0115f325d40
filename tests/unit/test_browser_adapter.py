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
from heartsock import _browser
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
