"""One scheduler per page (or worker): every socket's timer on one ``setTimeout``, one set of listeners.

Two hundred heartbeating sockets with a timer each cost two hundred timer tasks a beat on
the page's main thread. Here every heartsock timer of the page lives in one heap of
deadlines, and one JavaScript ``setTimeout`` is armed for the earliest; the browser hints
(``online``, ``offline``, ``pageshow``, ``visibilitychange``) are listened to once and fanned
out to every live socket.

Rules:

1. One proxy for the timeout and one per browser event, made when the first socket needs
   them and destroyed when the last one lets go (so a page with no socket holds none).
2. Re-arming a timer pushes a new deadline; the old one stays in the heap and is skipped
   when it comes up (lazy deletion), so re-arming costs no JavaScript call unless the new
   deadline is the page's earliest. The heap is rebuilt when stale entries outnumber
   live ones by far.
3. One timer's callback that raises is reported and does not stop the others.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable
from typing import Any

from . import _browser
from ._runtime import WatchSink

__all__ = ["PAGE", "PageTimer", "PageWatch"]

_MAX_TIMEOUT_MS = 2**31 - 1  # setTimeout's largest delay


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
