"""The browser's bus for shared sockets: a ``BroadcastChannel`` plus a Web Lock (``navigator.locks``).

Rules:

1. One channel and one lock per shared name: ``heartsock.v1:<name>`` (:data:`PREFIX`),
   for every tab (or worker) of the origin. The version is the bus protocol's: tabs
   running heartsock versions with different bus protocols (an old tab open across a
   deploy) do not share, rather than misread each other. No SharedWorker, no service worker: nothing new to deploy.
2. Leadership is a lock request that stays pending in the lock's queue until granted;
   the granted callback returns a promise held until the socket is destroyed. The
   browser releases the lock when the tab closes, crashes or is discarded, and grants it
   to the next tab in the queue.
3. A bus message is a JavaScript ``Array`` of strings, numbers, ``undefined`` and
   ``Uint8Array``\\s: binary data is copied once out of Python (as ``WebSocket.send``
   does), then once by the channel's structured clone, then once into each receiving
   tab's Python; never encoded as text.
4. Posts are batched: what one task posts goes out as one ``postMessage`` (an ``Array``
   of messages) from a microtask at the end of the task, in order. A burst of relayed
   messages costs one structured clone and one cross-process hop, not one per message.
5. Proxies follow heartsock's rules (``heartsock._browser``): each made here is counted
   and destroyed, never while it runs; every JavaScript entry point reports what it raises.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from . import _browser
from ._shared import Bus, BusSink

__all__ = ["PREFIX", "BrowserBus", "browser_bus", "missing"]

log = logging.getLogger("heartsock")

PREFIX = "heartsock.v1:"
"""The channel's and the lock's name: this prefix, then the ``shared`` name."""


def missing() -> str | None:
    """What this JavaScript scope lacks for sharing a socket (``None``: nothing)."""
    js = _browser._js()
    lacks = []
    if getattr(js, "BroadcastChannel", None) is None:
        lacks.append("BroadcastChannel")
    navigator = getattr(js, "navigator", None)
    if navigator is None or getattr(navigator, "locks", None) is None:
        lacks.append("Web Locks (navigator.locks)")
    if getattr(js, "AbortController", None) is None:
        lacks.append("AbortController")
    if not lacks:
        return None
    lacking = " and no ".join(lacks)
    return f"this page has no {lacking}, so it cannot share a socket with other tabs: this socket is private"


def browser_bus(name: str, sink: BusSink) -> Bus | str:
    """The bus for ``name``, or why sharing is not available in this scope."""
    why = missing()
    if why is not None:
        return why
    return BrowserBus(name, sink)


def _to_js(item: object) -> Any:
    if isinstance(item, bytes):
        buffer = _browser._js().Uint8Array.new(len(item))
        buffer.assign(item)  # the one copy out of Python
        return buffer
    return item  # str, int, float, None: converted by the call


def _from_js(item: Any) -> Any:
    if item is None or isinstance(item, (str, int, float)):
        return item
    to_bytes = getattr(item, "to_bytes", None)
    if to_bytes is not None:
        return to_bytes()  # a Uint8Array: the one copy into Python
    return None  # null, or anything no heartsock tab posts


class BrowserBus:
    """A ``BroadcastChannel`` and a place in the Web Lock's queue, for one shared socket of this tab."""

    def __init__(self, name: str, sink: BusSink) -> None:
        js = _browser._js()
        self._sink = sink
        self._closed = False
        self._release: Any = None  # resolves the promise that holds the lock
        self._pending: list[Any] = []  # this task's posts, as JavaScript arrays
        self._scheduled = False  # a microtask will flush them
        self._flush_proxy = _browser._proxy(self._flush)
        self._channel = js.BroadcastChannel.new(f"{PREFIX}{name}")
        self._on_message = _browser._proxy(self._message, entry=False)
        self._channel.onmessage = self._on_message
        self._abort = js.AbortController.new()
        self._granted = _browser._proxy(self._grant, entry=False)
        self._settled = _browser._proxy(self._done)
        options = js.Object.new()
        options.signal = self._abort.signal
        request = js.navigator.locks.request(f"{PREFIX}{name}", options, self._granted)
        request.then(self._settled, self._settled)
        self._on_page = _browser._proxy(self._page_event)
        self._page_events = ("pagehide", "pageshow")
        for kind in self._page_events:
            js.addEventListener(kind, self._on_page)

    def post(self, message: Sequence[Any]) -> None:
        """Post ``message`` to the other tabs (at the end of this task, with the task's other posts)."""
        if self._closed:
            return
        js = _browser._js()
        self._pending.append(js.Array.of(*[_to_js(item) for item in message]))
        if not self._scheduled:
            self._scheduled = True
            js.queueMicrotask(self._flush_proxy)

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        if pending:
            self._channel.postMessage(_browser._js().Array.of(*pending))
        if self._closed:
            _browser.release([self._flush_proxy])

    def close(self) -> None:
        """Close the channel; give the lock back, or leave its queue."""
        if self._closed:
            return
        pending, self._pending = self._pending, []
        if pending:
            self._channel.postMessage(_browser._js().Array.of(*pending))  # the last words (a leave)
        self._closed = True
        if not self._scheduled:  # else the pending microtask releases its proxy when it runs
            _browser.release([self._flush_proxy])
        self._channel.onmessage = None
        self._channel.close()
        js = _browser._js()
        for kind in self._page_events:
            js.removeEventListener(kind, self._on_page)
        _browser.release([self._on_message, self._on_page])
        if self._release is not None:
            self._release()  # the next tab in the queue leads
            self._release = None
        else:
            self._abort.abort()  # the pending request rejects; _done releases the rest

    def _message(self, event: Any) -> None:
        # A JavaScript entry point, on the hot path of every relayed message.
        _browser._depth += 1
        try:
            batch = event.data
            if isinstance(batch, str) or batch is None:
                return  # no heartsock tab posts that
            for message in batch:
                if self._closed:
                    return
                try:
                    items = [_from_js(item) for item in message] if not isinstance(message, str) else []
                except TypeError:  # not an array: no heartsock tab posts that
                    continue
                if items:
                    self._sink.on_bus(items)
        except Exception as exc:
            _browser.report(exc, "heartsock: error in a shared socket's channel handler")
        finally:
            _browser._depth -= 1

    def _page_event(self, event: Any) -> None:
        if event.type == "pagehide":
            self._sink.on_hidden(True)
            pending, self._pending = self._pending, []  # now: no task may follow this one
            if pending:
                self._channel.postMessage(_browser._js().Array.of(*pending))
        elif bool(getattr(event, "persisted", False)):  # back from the back/forward cache
            self._sink.on_hidden(False)

    def _grant(self, lock: Any) -> Any:
        js = _browser._js()
        if self._closed:
            return js.Promise.resolve()  # given up meanwhile: hand it on at once

        def hold(resolve: Any, reject: Any) -> None:
            self._release = resolve

        held = js.Promise.new(hold)  # the executor runs now, inside the constructor
        _browser._depth += 1
        try:
            self._sink.on_leader()
        except Exception as exc:
            _browser.report(exc, "heartsock: error while taking a shared socket over")
        finally:
            _browser._depth -= 1
        return held

    def _done(self, *result: Any) -> None:
        # The lock request settled (released after close(), or aborted): nothing more comes.
        _browser.release([self._granted, self._settled])
