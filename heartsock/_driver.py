"""The driver: runs the pure core against a runtime, for one :class:`~heartsock.Socket`.

Rules:

1. Every input goes to the core with ``now`` from the runtime's clock, then :meth:`Driver.run`
   follows the core's calling protocol: perform every pending action, deliver one event,
   repeat until nothing is left, then arm the one timer for the core's next deadline.
2. ``run`` is not re-entrant: an input made from a user callback (``send()`` from
   ``message_cb``, ``create()`` from ``state_cb``) only queues; the outer ``run`` performs
   and delivers it, in the core's order.
3. The runtime reports to the driver (it is the transport's and the watch's sink), never
   to the public ``Socket``: no public method exists that could replace heartsock's own
   receive path.
4. The timer is re-armed only when the next deadline is earlier than the armed one; a
   later deadline keeps the earlier timer, which wakes, finds nothing due and re-arms.
   So the hot path (every received message) never touches the timer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from . import _outputs as out
from ._compat import ensure_future, isawaitable
from ._core import Machine
from ._dispatch import Listeners
from ._inbox import Inbox
from ._runtime import Runtime
from .errors import QueueFull
from .events import SocketEvent
from .options import Options, validate_url
from .state import State
from .wire import SUBPROTOCOL, Data

__all__ = ["Driver"]

log = logging.getLogger("heartsock")


class Driver:
    """Feeds the core, performs its actions, delivers its events, keeps one timer armed.

    Args:
        options: the socket's validated options.
        runtime: where to run (the browser's runtime, or a test's fake).
        listeners: where events go (the socket's callbacks and listeners).
    """

    def __init__(self, options: Options, runtime: Runtime, listeners: Listeners) -> None:
        self.options = options
        self.runtime = runtime
        self.listeners = listeners
        self.clock = runtime.clock
        self.machine = Machine(options, runtime.random)
        self.inbox = Inbox(options.max_recv_queue, self._recv_overflow)
        self.url = options.url if isinstance(options.url, str) else ""
        self.messages_in = self.messages_out = self.size_in = self.size_out = 0
        self.connections = self.retries = 0
        self._busy = False
        self._armed: float | None = None
        self._timer = runtime.timer(self._on_timer)
        self.transport = runtime.transport(self)
        self._watch = runtime.watch(self)
        if not self._watch.online:
            self.machine.went_offline(self.clock())

    # ---- the calling protocol ---------------------------------------------------------
    def run(self) -> None:
        """Perform every pending action and deliver every event, then re-arm the timer."""
        if self._busy:
            return
        self._busy = True
        machine = self.machine
        try:
            while True:
                if machine.actions:
                    for action in machine.take_actions():
                        self._perform(action)
                event = machine.pop_event()
                if event is None:
                    if machine.actions:
                        continue
                    break
                if type(event) is str or type(event) is bytes:
                    self._deliver_message(event)
                else:
                    self._deliver(event)
        finally:
            self._busy = False
        self._rearm()

    def _rearm(self) -> None:
        deadline = self.machine.next_deadline()
        armed = self._armed
        if deadline is None:
            if armed is not None:
                self._timer.cancel()
                self._armed = None
        elif armed is None or deadline < armed:
            self._timer.arm(max(0.0, deadline - self.clock()))
            self._armed = deadline

    def close(self) -> None:
        """Release the timer, the watch and the transport (after the core was destroyed)."""
        self.run()
        self._timer.close()
        self._watch.close()
        self.transport.close()
        self._armed = None
        self.inbox.notify()

    # ---- actions ------------------------------------------------------------------------
    def send_now(self, data: Data) -> bool:
        """``Socket.send``'s hot path: hand ``data`` to the transport if the core allows it at once.

        Only outside :meth:`run` (a callback's send waits its turn behind the actions being
        performed) and when :meth:`Machine.sends_directly` says a send would be nothing but
        a ``Send`` action: then the deadline is unchanged, so no re-arm either. ``False``:
        take the ordinary path.
        """
        machine = self.machine
        if self._busy or not machine.sends_directly(self.clock()):
            return False
        self._send(machine.socket_id, data)
        return True

    def _send(self, socket_id: int, data: Data) -> None:
        try:
            self.transport.send(socket_id, data)
        except Exception as exc:
            log.debug("socket %d: send failed", socket_id, exc_info=True)
            event = SocketEvent("error", socket_id, reason=f"send failed: {exc}", error=exc)
            self.listeners.emit("error", event)
        else:
            self.messages_out += 1
            self.size_out += len(data)

    def _perform(self, action: out.Action) -> None:
        if type(action) is out.Send:
            self._send(action.socket_id, action.data)
        elif type(action) is out.Open:
            self._open(action.socket_id)
        elif type(action) is out.Abandon:
            self.transport.abandon(action.socket_id, action.code, action.reason)

    def _open(self, socket_id: int) -> None:
        url = self.options.url
        if isinstance(url, str):
            self._start(socket_id, url)
            return
        try:
            result = url()
        except Exception as exc:
            self.machine.socket_failed(socket_id, exc, self.clock())
            return
        if isawaitable(result):
            task = ensure_future(self._resolve(socket_id, result))
            task.add_done_callback(lambda t: None if t.cancelled() else t.exception())
        else:
            self._start(socket_id, result)

    async def _resolve(self, socket_id: int, pending: Awaitable[str]) -> None:
        try:
            url = await pending
        except Exception as exc:
            self.machine.socket_failed(socket_id, exc, self.clock())
        else:
            if self.machine.socket_id == socket_id and self.machine.state is State.CONNECTING:
                self._start(socket_id, url)
        self.run()

    def _start(self, socket_id: int, url: object) -> None:
        try:
            self.url = validate_url(url, "the URL provider's result" if callable(self.options.url) else "url")
            protocols = self.options.protocols
            if self.options.resume:
                protocols = protocols + (SUBPROTOCOL,)  # not (*protocols, …): MicroPython
            self.transport.open(socket_id, self.url, protocols)
        except Exception as exc:
            self.machine.socket_failed(socket_id, exc, self.clock())

    # ---- events -------------------------------------------------------------------------
    def _deliver_message(self, data: Data) -> None:
        self.listeners.message(data)
        if self.inbox.enabled:
            self.inbox.put(data)

    def _deliver(self, event: out.Event) -> None:
        emit = self.listeners.emit
        if isinstance(event, out.StateChanged):
            emit("state", event.old, event.new)
            self.inbox.notify()
        elif isinstance(event, out.Opened):
            self.connections += 1
            emit("open", event.event)
            self.inbox.notify()
        elif isinstance(event, out.SocketEnded):
            e = event.event
            log.info("socket %d closed: %s%s", e.socket_id, e.code, f" {e.reason}" if e.reason else "")
            emit("close", e)
        elif isinstance(event, out.Retrying):
            self.retries += 1
            log.info("retry %d in %.3fs", event.attempt, event.delay)
            emit("reconnect", event.attempt, event.delay)
        elif isinstance(event, out.ErrorRaised):
            emit("error", event.event)
        elif isinstance(event, out.GaveUp):
            log.info("gave up reconnecting: %s (last close %s %r)", event.why, event.code, event.reason)
            self.inbox.notify()
        elif isinstance(event, out.UserCodeFailed):
            self.listeners.report(event.error, f"heartsock: {event.what}")
        elif isinstance(event, out.Acknowledged):
            self.inbox.notify()
        elif isinstance(event, out.SessionWasReset):
            log.info("session reset: %s", event.reset)
            emit("reset", event.reset)

    def _recv_overflow(self) -> None:
        limit = self.options.max_recv_queue
        error = QueueFull(
            f"receive buffer full (max_recv_queue={limit}): messages reach message_cb and listeners "
            "but not recv() until it catches up; see recv_dropped"
        )
        log.info("%s", error)
        self.listeners.emit("error", SocketEvent("error", self.machine.socket_id, reason=str(error), error=error))

    # ---- the runtime's sinks (TransportSink, WatchSink) ---------------------------------
    def on_open(self, socket_id: int, protocol: str = "") -> None:
        """Socket ``socket_id`` opened, with the subprotocol the server chose (``""``: none)."""
        self.machine.socket_opened(socket_id, self.clock(), protocol)
        self.run()

    def on_message(self, socket_id: int, data: Data) -> None:
        """Socket ``socket_id`` received ``data``: the hot path.

        On a quiet socket — no run in progress, nothing pending, no heartbeat awaiting
        its reply — the message is the only event the core can queue, and it moves no
        deadline earlier: it is delivered at once, without the general loop or a re-arm.
        Anything else (or anything the callback does) goes through :meth:`run`.
        """
        self.messages_in += 1
        self.size_in += len(data)
        machine = self.machine
        events = machine.events
        if self._busy or events or machine.actions or machine.heartbeat.ping_sent_at is not None:
            machine.socket_message(socket_id, data, self.clock())
            if not self._busy:
                self.run()
            return
        machine.socket_message(socket_id, data, self.clock())
        if not events:
            return  # a heartbeat reply, or a stale socket's message
        if len(events) > 1 or events[0] is not data:  # the core had more to say (a pong_msg predicate raised)
            self.run()
            return
        events.popleft()
        self._busy = True
        try:
            self.listeners.message(data)
            if self.inbox.enabled:
                self.inbox.put(data)
        finally:
            self._busy = False
        if events or machine.actions:
            self.run()

    def on_messages(self, socket_id: int, batch: list[Data]) -> None:
        """Socket ``socket_id`` received every message of ``batch``, in order (the browser's batches).

        The same as :meth:`on_message` for each, all stamped with one ``now``, with the
        common case hoisted: while the core says the messages are plain
        (:meth:`~heartsock._core.Machine.plain_messages`) and the callbacks leave no event
        or action behind, each goes straight to the listeners and the receive buffer.
        Anything else goes through the core and :meth:`run` before the next message, so a
        callback that destroys the socket, or replaces its connection, sees no further
        message of this batch delivered (the core ignores a stale socket id).
        """
        self.messages_in += len(batch)
        self.size_in += sum(map(len, batch))
        machine = self.machine
        events = machine.events
        deliver = self.listeners.message
        inbox = self.inbox
        now = self.clock()
        count = len(batch)
        i = 0
        while i < count:
            data = batch[i]
            i += 1
            if self._busy or events or machine.actions or not machine.plain_messages(socket_id, now):
                machine.socket_message(socket_id, data, now)
                if not self._busy:
                    self.run()
                    now = self.clock()
                continue
            self._busy = True
            try:
                while True:
                    deliver(data)
                    if inbox.enabled:
                        inbox.put(data)
                    if i == count or events or machine.actions:
                        break
                    data = batch[i]
                    i += 1
            finally:
                self._busy = False
            if events or machine.actions:
                self.run()
                now = self.clock()

    def on_error(self, socket_id: int) -> None:
        """The browser reported an error on socket ``socket_id``."""
        self.machine.socket_error(socket_id, self.clock())
        self.run()

    def on_close(self, socket_id: int, code: int, reason: str, was_clean: bool) -> None:
        """Socket ``socket_id`` closed."""
        self.machine.socket_closed(socket_id, code, reason, was_clean, self.clock())
        self.run()

    def on_offline(self) -> None:
        """The browser went offline."""
        self.machine.went_offline(self.clock())
        self.run()

    def on_online(self) -> None:
        """The browser came back online."""
        self.machine.went_online(self.clock())
        self.run()

    def on_visible(self) -> None:
        """The page became visible."""
        self.machine.became_visible(self.clock())
        self.run()

    def _on_timer(self) -> None:
        self._armed = None
        self.machine.handle_timer(self.clock())
        self.run()
