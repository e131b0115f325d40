"""One scheduler per page (or worker): every socket's timer on one ``setTimeout``, one set of listeners, one inlet.

Two hundred heartbeating sockets with a timer each cost two hundred timer tasks a beat on
the page's main thread. Here every heartsock timer of the page lives in one heap of
deadlines, and one JavaScript ``setTimeout`` is armed for the earliest; the browser hints
(``online``, ``offline``, ``pageshow``, ``visibilitychange``) are listened to once and fanned
out to every live socket. Received messages come in through the page's inlet
(:class:`PageInlet`): a few lines of JavaScript queue them and hand each batch to Python
in one call, so a backlog no longer costs one crossing from JavaScript into Python per
message.

Rules:

1. One proxy for the timeout and one per browser event, made when the first socket needs
   them and destroyed when the last one lets go (so a page with no socket holds none).
2. Re-arming a timer pushes a new deadline; the old one stays in the heap and is skipped
   when it comes up (lazy deletion), so re-arming costs no JavaScript call unless the new
   deadline is the page's earliest. The heap is rebuilt when stale entries outnumber
   live ones by far.
3. One timer's callback that raises is reported and does not stop the others.
4. The timeout first takes what the inlet has queued: a reply waiting in JavaScript
   counts before a heartbeat deadline is judged.
"""

from __future__ import annotations

import heapq
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

from . import _browser
from ._runtime import WatchSink
from .wire import Data

__all__ = ["INLET", "PAGE", "PageInlet", "PageTimer", "PageWatch", "Route"]

_MAX_TIMEOUT_MS = 2**31 - 1  # setTimeout's largest delay

log = logging.getLogger("heartsock")


class PageClock:
    """The page's one ``setTimeout``, armed for the earliest deadline of any :class:`PageTimer`."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, PageTimer]] = []
        self._count = 0  # tie-breaker: equal deadlines fire in arming order
        self._timers = 0  # PageTimers not closed
        self._proxy: Any = None
        self._handle: Any = None
        self._armed_for: float | None = None

    def register(self) -> None:
        """A timer was made."""
        self._timers += 1

    def unregister(self) -> None:
        """A timer was closed; the last one releases the proxy."""
        self._timers -= 1
        if self._timers == 0:
            self._cancel_timeout()
            self._heap.clear()
            if self._proxy is not None:
                _browser.release([self._proxy])
                self._proxy = None

    def schedule(self, timer: PageTimer, at: float) -> None:
        """Wake ``timer`` at ``at`` (seconds on ``time.monotonic``)."""
        self._count += 1
        heapq.heappush(self._heap, (at, self._count, timer))
        if len(self._heap) > 64 and len(self._heap) > 4 * self._timers:
            self._heap = [entry for entry in self._heap if entry[2].at == entry[0]]
            heapq.heapify(self._heap)
        if self._armed_for is None or at < self._armed_for:
            self._arm(at)

    def _arm(self, at: float) -> None:
        js = _browser._js()
        if self._proxy is None:
            self._proxy = _browser._proxy(self._fire)
        self._cancel_timeout()
        delay_ms = min(_MAX_TIMEOUT_MS, max(0, math.ceil((at - time.monotonic()) * 1000)))
        self._handle = js.setTimeout(self._proxy, delay_ms)
        self._armed_for = at

    def _cancel_timeout(self) -> None:
        if self._handle is not None:
            _browser._js().clearTimeout(self._handle)
            self._handle = None
        self._armed_for = None

    def _fire(self) -> None:
        INLET.flush()  # messages queued in JavaScript count before any deadline is judged
        self._handle = None
        self._armed_for = None
        now = time.monotonic()
        heap = self._heap
        due: list[PageTimer] = []
        while heap and heap[0][0] <= now:
            at, _, timer = heapq.heappop(heap)
            if timer.at == at:  # not re-armed or cancelled since
                timer.at = None
                due.append(timer)
        for timer in due:
            try:
                timer.callback()
            except Exception as exc:
                _browser.report(exc, "heartsock: error in a timer callback")
        while heap and heap[0][2].at != heap[0][0]:
            heapq.heappop(heap)
        if heap and (self._armed_for is None or heap[0][0] < self._armed_for):
            self._arm(heap[0][0])  # a callback may have armed a later deadline than one still pending

    @property
    def pending(self) -> int:
        """Deadlines in the heap, stale ones included (for tests)."""
        return len(self._heap)


PAGE = PageClock()


class PageTimer:
    """A :class:`~heartsock._runtime.Timer` on the page's one ``setTimeout``."""

    def __init__(self, callback: Callable[[], None], clock: PageClock = PAGE) -> None:
        self.callback = callback
        self.at: float | None = None
        self._clock = clock
        self._closed = False
        clock.register()

    def arm(self, delay: float) -> None:
        if self._closed:
            return
        self.at = time.monotonic() + delay
        self._clock.schedule(self, self.at)

    def cancel(self) -> None:
        self.at = None  # its heap entry is skipped when it comes up

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.at = None
            self._clock.unregister()


class _Hints:
    """The page's browser-hint listeners, fanned out to every registered sink."""

    def __init__(self) -> None:
        self.sinks: list[WatchSink] = []
        self._listeners: list[tuple[Any, str, Any]] = []

    def add(self, sink: WatchSink) -> None:
        if not self.sinks:
            self._listen()
        self.sinks.append(sink)

    def remove(self, sink: WatchSink) -> None:
        self.sinks.remove(sink)
        if not self.sinks:
            listeners, self._listeners = self._listeners, []
            for target, kind, proxy in listeners:
                target.removeEventListener(kind, proxy)
            _browser.release([proxy for _, _, proxy in listeners])

    def _listen(self) -> None:
        js = _browser._js()
        document = getattr(js, "document", None)

        def each(method: str) -> Callable[[Any], None]:
            def fan_out(event: Any) -> None:
                for sink in tuple(self.sinks):
                    try:
                        getattr(sink, method)()
                    except Exception as exc:
                        _browser.report(exc, "heartsock: error in a browser event handler")

            return fan_out

        visible = each("on_visible")

        def visibility(event: Any) -> None:
            if document is not None and document.visibilityState == "visible":
                visible(event)

        targets = [(js, "online", each("on_online")), (js, "offline", each("on_offline")), (js, "pageshow", visible)]
        if document is not None:
            targets.append((document, "visibilitychange", visibility))
        for target, kind, fn in targets:
            proxy = _browser._proxy(fn)
            target.addEventListener(kind, proxy)
            self._listeners.append((target, kind, proxy))


HINTS = _Hints()


class PageWatch:
    """A :class:`~heartsock._runtime.Watch`: one socket's share of the page's hint listeners."""

    def __init__(self, sink: WatchSink) -> None:
        self._sink: WatchSink | None = sink
        self._navigator = getattr(_browser._js(), "navigator", None)
        HINTS.add(sink)

    @property
    def online(self) -> bool:
        return self._navigator is None or bool(getattr(self._navigator, "onLine", True))

    def close(self) -> None:
        if self._sink is not None:
            HINTS.remove(self._sink)
            self._sink = None


# The batcher, in JavaScript: a message event costs one ``push`` (no crossing into
# Python); the first message of a batch posts a task on a MessageChannel, whose handler
# hands every message queued by then to Python in one call. A backlog drains in batches;
# a message on an idle socket waits one task. Binary messages travel as their byte
# lengths in the batch plus one buffer holding them all: one ``to_py()`` and one
# ``to_bytes()`` per batch, then slicing (cheaper than converting each ArrayBuffer). An
# error or close event first flushes what is queued, so it arrives after its socket's
# messages.
_INLET_JS = """
let items = [], blobs = [], posted = false;
const channel = new MessageChannel();
function flush() {
  posted = false;
  if (items.length === 0 || deliver === null) return;
  const batch = items;
  items = [];
  let blob = undefined;  // None in Python (null would be a JsNull)
  if (blobs.length === 1) blob = blobs[0];
  else if (blobs.length > 1) {
    let size = 0;
    for (const b of blobs) size += b.byteLength;
    blob = new Uint8Array(size);
    let at = 0;
    for (const b of blobs) { blob.set(new Uint8Array(b), at); at += b.byteLength; }
  }
  blobs = [];
  deliver(batch, blob);
}
channel.port1.onmessage = flush;
return {
  attach(ws, key) {
    ws.onmessage = (e) => {
      const d = e.data;
      if (typeof d === "string") items.push(key, d);
      else { items.push(key, d.byteLength); blobs.push(d); }
      if (!posted) { posted = true; channel.port2.postMessage(null); }
    };
    ws.onopen = () => { if (signal !== null) signal(key, 0, ws.protocol, 0, false); };
    ws.onerror = () => { flush(); if (signal !== null) signal(key, 1, "", 0, false); };
    ws.onclose = (e) => { flush(); if (signal !== null) signal(key, 2, e.reason, e.code, e.wasClean); };
  },
  detach(ws) { ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null; },
  flush,
  close() {
    items = []; blobs = []; deliver = signal = null;
    channel.port1.onmessage = null;
    channel.port1.close();
  },
};
"""


class Route(Protocol):
    """Where the inlet hands one underlying WebSocket's events (a :class:`~heartsock._browser.BrowserTransport`)."""

    def batch(self, socket_id: int, messages: list[Data]) -> None:
        """Messages received on ``socket_id``, in order."""

    def signal(self, socket_id: int, kind: int, text: str, code: int, clean: bool) -> None:
        """``kind`` 0: opened (``text`` = subprotocol), 1: error, 2: closed (code, reason, clean)."""


class PageInlet:
    """The page's receive path: every WebSocket's events through one small JavaScript batcher.

    Two proxies for the page (the batch handler and the open/error/close handler), made
    when the first transport needs them and released when the last one closes. Each
    underlying WebSocket is known by a key (never reused); a retired key is forgotten,
    so its events still queued in JavaScript are dropped when their batch arrives.

    The batch handler is safe against re-entry: a callback in the middle of a batch may
    destroy its socket, open a new one, or destroy another; every later message is looked
    up again (a retired key reaches nothing), and a batch that arrives while one is being
    delivered waits for it to finish, so order holds.
    """

    def __init__(self) -> None:
        self.routes: dict[int, tuple[Route, int]] = {}
        self._users = 0  # transports not closed
        self._next_key = 0
        self._factory: Any = None  # the batcher's JavaScript function; False where it cannot be made
        self._api: Any = None
        self._proxies: list[Any] = []
        self._delivering = False
        self._waiting: list[tuple[list[Any], bytes | None]] = []
        self.batches = 0  # batches delivered (for tests and the bench)

    @property
    def available(self) -> bool:
        """Whether the batcher can be made here (a CSP without ``'unsafe-eval'`` forbids ``new Function``)."""
        if self._factory is None:
            try:
                self._factory = _browser._js().Function.new("deliver", "signal", _INLET_JS)
            except Exception:  # EvalError under such a CSP; no Function at all in a stub
                log.debug("heartsock: no JavaScript batcher here; one handler call per message", exc_info=True)
                self._factory = False
        return self._factory is not False

    def register(self) -> None:
        """A transport was made."""
        self._users += 1

    def unregister(self) -> None:
        """A transport closed; the last one releases the batcher and its proxies."""
        self._users -= 1
        if self._users == 0 and self._api is not None:
            api, self._api = self._api, None
            api.close()
            _browser.release(self._proxies)
            self._proxies = []
            self.routes.clear()

    def attach(self, ws: Any, route: Route, socket_id: int) -> int:
        """Route ``ws``'s events to ``route`` as ``socket_id``; return its key."""
        if self._api is None:
            factory = self._factory
            self._proxies = [_browser._proxy(self._deliver, entry=False), _browser._proxy(self._signal)]
            self._api = factory(*self._proxies)
        self._next_key += 1
        key = self._next_key
        self.routes[key] = (route, socket_id)
        self._api.attach(ws, key)
        return key

    def detach(self, key: int, ws: Any) -> None:
        """Forget ``key``: ``ws``'s handlers are removed and its queued messages dropped."""
        if self.routes.pop(key, None) is not None and self._api is not None:
            self._api.detach(ws)

    def flush(self) -> None:
        """Deliver what JavaScript queued, now (before a timer acts on the page's deadlines)."""
        if self._api is not None and not self._delivering:
            self._api.flush()

    def _signal(self, key: int, kind: int, text: str, code: int, clean: bool) -> None:
        entry = self.routes.get(key)
        if entry is not None:
            entry[0].signal(entry[1], kind, text, code, clean)

    def _deliver(self, batch: Any, blob: Any) -> None:
        _browser._depth += 1
        try:
            items = batch.to_py()
            data = None if blob is None else blob.to_bytes()
            if self._delivering:  # a batch inside a batch (a callback that let the event loop run)
                self._waiting.append((items, data))
                return
            self._delivering = True
            try:
                self._run(items, data)
                while self._waiting:
                    self._run(*self._waiting.pop(0))
            finally:
                self._delivering = False
        except Exception as exc:
            _browser.report(exc, "heartsock: error in a browser event handler")
        finally:
            _browser._depth -= 1

    def _run(self, items: list[Any], data: bytes | None) -> None:
        """Hand ``items`` to their routes, one run of a key at a time.

        ``items`` is key, message, key, message…; a binary message is its length, its bytes
        the next ones of ``data``.
        """
        self.batches += 1
        routes = self.routes
        keys = items[0::2]
        values: list[Any] = items[1::2]
        if data is not None:
            at = 0
            for i, value in enumerate(values):
                if type(value) is not str:
                    values[i] = data[at : at + value]
                    at += value
        count = len(keys)
        if keys.count(keys[0]) == count:  # one socket's messages: the common case
            entry = routes.get(keys[0])
            if entry is not None:
                entry[0].batch(entry[1], values)
            return
        start = 0
        while start < count:
            key = keys[start]
            end = start + 1
            while end < count and keys[end] == key:
                end += 1
            entry = routes.get(key)  # looked up after the previous run: it may have retired this key
            if entry is not None:
                entry[0].batch(entry[1], values[start:end])
            start = end


INLET = PageInlet()
