"""One underlying WebSocket for every tab of an origin: ``Socket(url, shared="name")``.

A runtime layer above the driver; the core stays as it is. Every tab that opens a socket
with the same ``shared`` name joins a *bus* (in the browser: a ``BroadcastChannel`` for
the messages and a Web Lock for the leadership, see :mod:`heartsock._shared_browser`).

Rules:

1. **One leader.** The tab holding the lock runs the real driver and core
   (:class:`LeaderDriver`) with the app's options; it alone has a WebSocket. The others
   run a :class:`FollowerDriver`: no socket, no timer of their own, their state a mirror
   of the leader's. A follower becomes the leader when the lock is granted to it (the
   leader closed, crashed or destroyed its socket); a leader never steps down.
2. **Everything the leader's app sees, every tab sees.** The leader's driver delivers each
   event through :class:`RelayListeners`, which first posts it on the bus (messages as
   they are, ``str`` or ``bytes``; other events with a snapshot of the leader's state), so
   each follower delivers the same events, in the same order, through its own listeners.
3. **Sends go out once, in each tab's order.** A follower numbers its sends (``k`` = 1, 2, …),
   posts them to the leader and keeps each one until the leader says it took it (or
   refused it: then the follower reports an ``error`` event). The leader remembers the
   last ``k`` it took from each tab and ignores anything older, so a send posted again to
   a new leader is never taken twice. While no leader is known a follower queues its
   sends (``max_queue``, ``queue_overflow``, ``ttl``, ``key`` as for a private socket).
4. **Sessions survive the leader.** With ``resume=True`` every tab keeps a replica of the
   session (:class:`~heartsock._session.ClientSession`: id, sequence numbers, the
   messages not yet acknowledged by the server), updated from the bus: the leader posts
   each message it numbers, each server ack and a full copy after a session reset. The
   new leader installs its replica and resumes the session, so nothing is lost in the
   hand-over. Without sessions, what the old leader held is lost (see the README).
5. Nothing received on the bus is trusted beyond its shape: a malformed message is
   ignored, never raised into the page.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from . import errors
from ._core import Machine
from ._dispatch import Listeners
from ._driver import Driver
from ._outputs import (
    Acknowledged,
    ErrorRaised,
    Event,
    Opened,
    Retrying,
    SessionWasReset,
    SocketEnded,
    StateChanged,
)
from ._runtime import Runtime
from ._session import ClientSession
from .errors import ConfigTypeError, QueueFull, SocketClosed
from .events import SessionReset, SocketEvent
from .options import Options
from .state import State
from .wire import Data

__all__ = [
    "IN_FLIGHT",
    "Bus",
    "BusSink",
    "FollowerDriver",
    "FollowerMachine",
    "LeaderDriver",
    "RelayListeners",
    "SharedLink",
    "open_bus",
]

log = logging.getLogger("heartsock")

MAX_TABS = 4096
"""The most follower tabs a leader keeps count of."""
IN_FLIGHT = 1024
"""Sends a follower may have posted to an open leader and not yet seen taken, beyond ``max_queue``."""

# Message kinds on the bus. Every message is a list: [kind, sender tab, ...].
JOIN = "j"  # [j, tab]: a follower arrived; the leader answers with HELLO
LEAVE = "l"  # [l, tab]: a follower destroyed its socket
HELLO = "h"  # [h, tab, info json, session json | None, *unacknowledged payloads]: the leader's snapshot
EVENT = "e"  # [e, tab, event name, args json, info json]: an event of the leader's socket
MESSAGE = "m"  # [m, tab, data]: a message the leader's socket delivered
SEND = "s"  # [s, tab, k, data, meta json | None]: a follower's send
TOOK = "t"  # [t, tab, sender, k, seq, data | None]: the leader took sender's send k (numbered seq)
REFUSED = "r"  # [r, tab, sender, k, error class, reason]: the leader refused sender's send k
ACK = "a"  # [a, tab, seq]: the server acknowledged the session's messages up to seq
COMMAND = "c"  # [c, tab, "create" | "reconnect"]: a follower's create() / onreconnect()

_STATES = {state.name: state for state in State}
_ERRORS: dict[str, type[Exception]] = {
    name: cls
    for name in errors.__all__
    if isinstance(cls := getattr(errors, name), type) and issubclass(cls, Exception)
}


class BusSink(Protocol):
    """Where a :class:`Bus` reports."""

    def on_bus(self, message: Sequence[Any]) -> None:
        """Another tab posted ``message`` (items: ``str``, ``int``, ``float``, ``bytes`` or ``None``)."""

    def on_leader(self) -> None:
        """This tab was granted the lock: it leads from now on."""

    def on_hidden(self, hidden: bool) -> None:
        """The page is going away (``pagehide``: ``True``) or came back from the back/forward cache (``False``)."""


class Bus(Protocol):
    """A channel to every other tab sharing the name, plus this tab's place in the lock's queue."""

    def post(self, message: Sequence[Any]) -> None:
        """Send ``message`` to every other tab on the bus (not to this one)."""

    def close(self) -> None:
        """Leave: stop receiving, give up the lock or the place in its queue."""


BusFactory = Callable[[str, BusSink], "Bus | str"]
"""``(name, sink) -> Bus``, or a ``str`` saying why sharing is not available here."""


def open_bus(runtime: Runtime, name: str, sink: BusSink) -> Bus | str:
    """The bus for ``name`` in this runtime, or why there is none (the socket then stays private).

    A runtime may provide one as a ``shared_bus(name, sink)`` method (tests do); the
    browser's runtime gets :func:`heartsock._shared_browser.browser_bus`.
    """
    factory = getattr(runtime, "shared_bus", None)
    if factory is not None:
        return factory(name, sink)  # type: ignore[no-any-return]
    from ._browser import BrowserRuntime

    if isinstance(runtime, BrowserRuntime):
        from ._shared_browser import browser_bus

        return browser_bus(name, sink)
    return (
        f"the {type(runtime).__name__} runtime has no tabs to share with (no BroadcastChannel or Web Locks): "
        "this socket is private"
    )


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


class RelayListeners(Listeners):
    """The leader's listeners: each event goes to the other tabs first, then to this tab's own."""

    def __init__(self, own: Listeners, relay: Callable[[str, tuple[Any, ...]], None]) -> None:
        super().__init__(own.callbacks, own.report)
        self.own = own
        self.relay = relay
        self.local = False  # set around events that concern this tab only

    def emit(self, event: str, *args: Any) -> None:
        """Relay ``event`` (unless it is local), then deliver it to this tab."""
        if not self.local:
            self.relay(event, args)
        self.own.emit(event, *args)

    def message(self, data: Any) -> None:
        """``emit("message", data)``, for a receive path that delivers messages on their own."""
        if not self.local:
            self.relay("message", (data,))
        self.own.emit("message", data)


class LeaderDriver(Driver):
    """The driver of the tab that holds the WebSocket; it also tells the others about acks."""

    def __init__(self, options: Options, runtime: Runtime, listeners: RelayListeners, link: SharedLink) -> None:
        super().__init__(options, runtime, listeners)
        self.relaying = listeners
        self.link = link

    def _deliver(self, event: Event) -> None:
        if type(event) is Acknowledged:
            self.link.relay_ack(event.seq)
        super()._deliver(event)

    def _recv_overflow(self) -> None:
        self.relaying.local = True  # this tab's recv() buffer: none of the others' business
        try:
            super()._recv_overflow()
        finally:
            self.relaying.local = False


class FollowerMachine(Machine):
    """A follower's core: the leader's state mirrored, sends forwarded, nothing of its own to time.

    It keeps the core's offline queue for the sends made while no leader is known, and
    the core's ``destroy()``. Everything else comes from the leader through
    :class:`SharedLink`.
    """

    def __init__(self, options: Options, rand: Callable[[], float], link: SharedLink) -> None:
        super().__init__(replace(options, resume=False), rand)
        self.link = link

    def next_deadline(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

    def went_offline(self, now: float) -> None:
        return None

    def went_online(self, now: float) -> None:
        return None

    def became_visible(self, now: float) -> None:
        return None

    def create(self, now: float) -> None:
        self._refuse_if_destroyed("create()")
        self.link.command("create")

    def reconnect(self, now: float) -> None:
        self._refuse_if_destroyed("onreconnect()")
        self.link.command("reconnect")

    def send(self, data: Data, now: float, ttl: float | None = None, key: Hashable | None = None) -> bool:
        self._refuse_if_destroyed("send()")
        if self.state is State.CLOSED:
            raise SocketClosed("send() on a socket that gave up reconnecting; call create() to start again")
        if self.link.leader is not None:
            return self.link.forward(data, ttl, key)
        dropped = self._queue.put(data, now, ttl, key)
        if dropped is not None:
            self.events.append(
                ErrorRaised(SocketEvent("error", self.socket_id, reason=dropped, error=QueueFull(dropped)))
            )
        return False

    @property
    def queued(self) -> int:
        """This tab's sends not done with: queued, not yet taken by the leader, or (with a
        session) not yet acknowledged by the server."""
        return len(self._queue) + self.link.pending

    def take_queue(self, now: float) -> tuple[list[Data], int]:
        """Empty the offline queue: the messages still in time, and how many expired."""
        return self._queue.take(now)

    def mirror(self, new: State) -> None:
        """Take the leader's state ``new`` (an event for this tab's listeners if it changed)."""
        old = self.state
        if old is not new and old is not State.DESTROYED:
            self.state = new
            self.events.append(StateChanged(old, new))


class _RelayTransport:
    """A follower's transport: it opens nothing; its ``readyState`` is the leader's."""

    def __init__(self, link: SharedLink) -> None:
        self._link = link

    def open(self, socket_id: int, url: str, protocols: Sequence[str]) -> None:
        return None

    def send(self, socket_id: int, data: Data) -> None:
        return None

    def abandon(self, socket_id: int, code: int, reason: str) -> None:
        return None

    def ready_state(self, socket_id: int) -> int:
        return int(self._link.info.get("ready", 3))

    def buffered_amount(self, socket_id: int) -> int:
        return 0

    def close(self) -> None:
        return None

    @property
    def live(self) -> int:
        return 0


class FollowerDriver(Driver):
    """The driver of a tab that does not hold the WebSocket: it delivers what the leader relays."""

    def __init__(self, options: Options, runtime: Runtime, listeners: Listeners, link: SharedLink) -> None:
        super().__init__(options, runtime, listeners)
        self.machine = self.follower = FollowerMachine(options, runtime.random, link)
        self.transport = _RelayTransport(link)


class SharedLink:
    """One tab's end of a shared socket: its role, its bus, the follower's and the leader's duties.

    Args:
        name: the ``shared`` name.
        options: the socket's options (the leader's are the ones in force).
        runtime: this tab's runtime.
        listeners: the socket's listeners (events for this tab's app).
        install: makes a driver the socket's current one.
    """

    def __init__(
        self,
        name: str,
        options: Options,
        runtime: Runtime,
        listeners: Listeners,
        install: Callable[[Driver], None],
    ) -> None:
        self.name = name
        self.options = options
        self.runtime = runtime
        self.listeners = listeners
        self._install = install
        self.tab = secrets.token_hex(8)
        self.leader: str | None = None  # the leading tab's id, as far as this tab knows
        self.info: dict[str, Any] = {}  # the leader's last snapshot
        self.taken: dict[str, int] = {}  # per tab: the last send k the leader took
        self.followers: set[str] = set()  # the leader's: tabs that joined and did not leave
        self.closed = False
        self._k = 0  # this tab's sends, numbered
        self._unconfirmed: deque[tuple[int, Data, float | None, Hashable | None]] = deque()
        self._mine: deque[int] = deque()  # with a session: the seqs of this tab's sends, not acknowledged
        self.replica: ClientSession | None = ClientSession() if options.resume else None
        self.driver: Driver = FollowerDriver(options, runtime, listeners, self)
        self.reason: str | None = None
        install(self.driver)
        bus = open_bus(runtime, name, self)
        if isinstance(bus, str):
            self.reason = bus
            self._bus: Bus | None = None
        else:
            self._bus = bus
            bus.post([JOIN, self.tab])

    # ---- what the socket asks --------------------------------------------------------
    @property
    def pending(self) -> int:
        """A follower's sends posted and not yet taken by the leader (or not yet acknowledged, with a session)."""
        return len(self._unconfirmed) + len(self._mine)

    @property
    def is_leader(self) -> bool:
        """Whether this tab holds the underlying WebSocket."""
        return self.leader == self.tab

    @property
    def tabs(self) -> int:
        """How many tabs share the socket, as far as this tab knows (0 before a leader is known)."""
        if self.is_leader:
            return len(self.followers) + 1
        return int(self.info.get("tabs", 0)) if self.leader is not None else 0

    def send(self, data: Data, ttl: float | None, key: Hashable | None) -> bool:
        """``Socket.send()`` of a shared socket.

        Raises:
            ConfigTypeError: ``key`` is not a ``str`` or a number (it travels between tabs).
        """
        if key is not None and (isinstance(key, bool) or not isinstance(key, (str, int, float))):
            raise ConfigTypeError(f"send(): a shared socket's key must be a str or a number, got {type(key).__name__}")
        driver = self.driver
        if self.is_leader:
            self._k += 1
            sent = self._take(self.tab, self._k, data, ttl, key)
        else:
            sent = driver.machine.send(data, driver.clock(), ttl, key)
        driver.run()
        return sent

    def destroy(self) -> list[Data]:
        """``Socket.destroy()`` of a shared socket: leave the bus; a leader with followers hands over."""
        driver = self.driver
        machine = driver.machine
        now = driver.clock()
        if self.is_leader:
            handing_over = bool(self.followers) and self._bus is not None
            if handing_over and self.replica is not None:
                machine.session = None  # no goodbye: the next leader resumes the session
            self.closed = True  # from here on nothing is relayed: the others keep their state
            unsent = machine.destroy(now)
        else:
            unsent = [data for _, data, _, _ in self._unconfirmed]
            self._unconfirmed.clear()
            unsent += machine.destroy(now)
            if self._bus is not None:
                self._bus.post([LEAVE, self.tab])
            self.closed = True
        driver.close()
        if self._bus is not None:
            self._bus.close()
            self._bus = None
        return unsent

    def command(self, what: str) -> None:
        """A follower's ``create()`` or ``onreconnect()``: the leader does it."""
        if self._bus is not None and self.leader is not None:
            self._bus.post([COMMAND, self.tab, what])

    def forward(self, data: Data, ttl: float | None, key: Hashable | None) -> bool:
        """A follower's send while a leader is known: post it and keep it until the leader took it.

        Raises:
            QueueFull: ``max_queue`` sends already wait for a leader whose socket is not open
                (``max_queue`` + :data:`IN_FLIGHT` while it is open).
        """
        is_open = self.driver.machine.state is State.OPEN
        limit = self.options.max_queue + (IN_FLIGHT if is_open else 0)
        if len(self._unconfirmed) >= limit:
            raise QueueFull(
                f"max_queue={self.options.max_queue}: {len(self._unconfirmed)} sends already wait for the leader tab "
                "to take them; this one was not queued"
            )
        self._k += 1
        self._unconfirmed.append((self._k, data, ttl, key))
        self._post_send(self._k, data, ttl, key)
        return is_open

    # ---- the bus's sink ---------------------------------------------------------------
    def on_bus(self, message: Sequence[Any]) -> None:
        """A message from another tab; a malformed one is ignored (and logged at debug level)."""
        if self.closed:
            return
        try:
            kind = message[0]
            sender = message[1]
            if not isinstance(sender, str):
                return
            if self.is_leader:
                self._as_leader(kind, sender, message)
            else:
                self._as_follower(kind, sender, message)
        except (IndexError, TypeError, ValueError, KeyError, RecursionError) as exc:
            log.debug("shared %r: ignored a malformed message on the bus: %s", self.name, exc)

    def on_hidden(self, hidden: bool) -> None:
        """A follower's page is going away (or came back): the leader stops (or starts) counting it."""
        if self.closed or self.is_leader or self._bus is None:
            return
        self._bus.post([LEAVE if hidden else JOIN, self.tab])

    def on_leader(self) -> None:
        """The lock was granted: take the socket over."""
        if self.closed or self.is_leader:
            return
        old = self.driver
        follower = old.machine
        assert isinstance(follower, FollowerMachine)
        now = old.clock()
        prev_state, prev_id = follower.state, follower.socket_id
        relaying = RelayListeners(self.listeners, self._relay)
        new = LeaderDriver(self.options, self.runtime, relaying, self)
        new.inbox = old.inbox
        new.url = old.url or new.url
        new.messages_in, new.messages_out = old.messages_in, old.messages_out
        new.size_in, new.size_out = old.size_in, old.size_out
        new.connections, new.retries = old.connections, old.retries
        if self.replica is not None and new.machine.session is not None:
            new.machine.session = self.replica
        queued, expired = follower.take_queue(now)
        self._mine.clear()  # from now on this tab's session holds them
        follower.events.clear()
        old.close()
        if self.leader is not None:
            self.followers.discard(self.leader)  # the tab that led is gone
        self.followers.discard(self.tab)
        self.leader = self.tab
        self.driver = new
        self._install(new)
        machine = new.machine
        if prev_state is State.OPEN:
            event = SocketEvent("close", prev_id, 1001, "the leader tab went away", False)
            machine.events.append(SocketEnded(event))
        if prev_state is not State.CONNECTING:
            machine.events.append(StateChanged(prev_state, State.CONNECTING))
        self._announce()
        machine.create(now)
        for k, data, ttl, key in list(self._unconfirmed):
            self._take(self.tab, k, data, ttl, key, quiet=True)
        self._unconfirmed.clear()
        for data in queued:
            self._k += 1
            self._take(self.tab, self._k, data, None, None, quiet=True)
        if expired:
            reason = f"{expired} queued message(s) outlived their ttl before a connection opened"
            error = errors.MessageExpired(reason)
            machine.events.append(ErrorRaised(SocketEvent("error", 0, reason=reason, error=error)))
        new.run()

    # ---- the leader's side ----------------------------------------------------------
    def _as_leader(self, kind: object, sender: str, message: Sequence[Any]) -> None:
        if sender == self.tab:
            return
        if kind == SEND:
            k, data, meta = message[2], message[3], message[4]
            if not isinstance(k, int) or not isinstance(data, (str, bytes)):
                raise ValueError("a send needs an int k and str or bytes data")
            self._count(sender)
            ttl, key = _meta(meta)
            self._take(sender, k, data, ttl, key)
            self.driver.run()
        elif kind == JOIN:
            self._count(sender)
            self._announce()
        elif kind == LEAVE:
            self.followers.discard(sender)
            self._announce()
        elif kind == COMMAND:
            what = message[2]
            machine, now = self.driver.machine, self.driver.clock()
            if machine.state is not State.DESTROYED:
                if what == "create":
                    machine.create(now)
                elif what == "reconnect":
                    machine.reconnect(now)
            self.driver.run()

    def _count(self, tab: str) -> None:
        if len(self.followers) < MAX_TABS:
            self.followers.add(tab)

    def _take(
        self,
        sender: str,
        k: int,
        data: Data,
        ttl: float | None,
        key: Hashable | None,
        quiet: bool = False,
    ) -> bool:
        """The leader sends (or queues) ``sender``'s send number ``k`` once, and tells the others."""
        if k <= self.taken.get(sender, 0):
            return False  # posted again to a new leader, and already taken
        machine, now = self.driver.machine, self.driver.clock()
        mine = sender == self.tab
        try:
            if ttl is None and key is None:
                sent = machine.send(data, now)
            else:
                sent = machine.send(data, now, ttl, key)
        except (QueueFull, SocketClosed) as exc:
            self.taken[sender] = k
            if mine and not quiet:
                raise
            if mine:
                error = SocketEvent("error", machine.socket_id, reason=str(exc), error=exc)
                machine.events.append(ErrorRaised(error))
            elif self._bus is not None:
                self._bus.post([REFUSED, self.tab, sender, k, type(exc).__name__, str(exc)])
            return False
        self.taken[sender] = k
        session = machine.session
        if self._bus is not None and self.followers and (session is not None or not mine):
            seq = session.out_seq if session is not None else 0
            self._bus.post([TOOK, self.tab, sender, k, seq, data if session is not None else None])
        return sent

    def _relay(self, event: str, args: tuple[Any, ...]) -> None:
        bus = self._bus
        if bus is None or self.closed or not self.followers:
            return  # a tab that joins later gets the whole state in its HELLO
        if event == "message":
            bus.post([MESSAGE, self.tab, args[0]])
            return
        if event == "state":
            payload: list[Any] = [args[0].name, args[1].name]
        elif event in ("open", "close", "error"):
            e: SocketEvent = args[0]
            error = type(e.error).__name__ if e.error is not None else None
            payload = [e.socket_id, e.code, e.reason, e.was_clean, error]
        elif event == "reconnect":
            payload = [args[0], args[1]]
        elif event == "reset":
            r: SessionReset = args[0]
            payload = [r.old_session, r.new_session, r.resent, r.missing]
            self._announce()  # the renumbered session, for the replicas
        else:
            return
        bus.post([EVENT, self.tab, event, _dumps(payload), _dumps(self._info())])

    def relay_ack(self, seq: int) -> None:
        """The server acknowledged the session's messages up to ``seq``: the replicas drop them."""
        if self._bus is not None and not self.closed and self.followers:
            self._bus.post([ACK, self.tab, seq])

    def _info(self) -> dict[str, Any]:
        driver = self.driver
        machine = driver.machine
        sid = machine.socket_id
        last = machine.last_close
        retry_in = None
        if machine.state is State.RECONNECTING and machine.retry_at is not None:
            retry_in = max(0.0, machine.retry_at - driver.clock())
        session = machine.session
        return {
            "state": machine.state.name,
            "sid": sid,
            "ready": driver.transport.ready_state(sid) if sid else 3,
            "latency": machine.latency,
            "retries": machine.retries,
            "retry_in": retry_in,
            "url": driver.url,
            "why": machine.gave_up_because,
            "close": [last.socket_id, last.code, last.reason, last.was_clean] if last is not None else None,
            "tabs": len(self.followers) + 1,
            "session": session.id if session is not None else None,
        }

    def _announce(self) -> None:
        """Post the leader's snapshot (and the session's, for the replicas) to every tab."""
        if self._bus is None or self.closed:
            return
        session = self.driver.machine.session
        message: list[Any] = [HELLO, self.tab, _dumps(self._info()), None]
        if session is not None:
            seqs = [seq for seq, _ in session.outbox]
            message[3] = _dumps([session.id, session.out_seq, session.acked, session.in_seq, seqs, self.taken])
            message.extend(payload for _, payload in session.outbox)
        else:
            message[3] = _dumps([None, 0, 0, 0, [], self.taken])
        self._bus.post(message)

    # ---- the follower's side ----------------------------------------------------------
    def _as_follower(self, kind: object, sender: str, message: Sequence[Any]) -> None:
        driver = self.driver
        follower = driver.machine
        assert isinstance(follower, FollowerMachine)
        if kind == MESSAGE:
            if sender != self.leader:
                return

            data = message[2]
            if not isinstance(data, (str, bytes)):
                raise TypeError("a relayed message is str or bytes")
            if self.replica is not None:
                self.replica.in_seq += 1
            driver.messages_in += 1
            driver.size_in += len(data)
            follower.events.append(data)
            driver.run()
        elif kind == EVENT:
            if sender != self.leader:
                return
            self._event(follower, str(message[2]), json.loads(message[3]), json.loads(message[4]))
            driver.run()
        elif kind == TOOK:
            who, k, seq, data = message[2], message[3], message[4], message[5]
            if isinstance(who, str) and isinstance(k, int):
                self.taken[who] = max(k, self.taken.get(who, 0))
                if who == self.tab:
                    self._confirm(k)
            if self.replica is not None and isinstance(data, (str, bytes)) and isinstance(seq, int):
                if seq > self.replica.out_seq:
                    self.replica.out_seq = seq - 1
                    self.replica.push(data)
                if who == self.tab:
                    self._mine.append(seq)
            if who == self.tab and self.replica is not None:
                driver.inbox.notify()
        elif kind == ACK:
            if self.replica is not None and isinstance(message[2], int):
                self.replica.acknowledged(message[2], 0.0)
                mine = self._mine
                if mine and mine[0] <= message[2]:
                    while mine and mine[0] <= message[2]:
                        mine.popleft()
                    driver.inbox.notify()
        elif kind == JOIN:
            self._count(sender)  # every tab keeps count: a follower that takes over knows whom to tell
        elif kind == LEAVE:
            self.followers.discard(sender)
        elif kind == REFUSED:
            if message[2] == self.tab and isinstance(message[3], int):
                self._confirm(message[3])
                error = _rebuild(str(message[4]), str(message[5])) or errors.HeartsockError(str(message[5]))
                follower.events.append(
                    ErrorRaised(SocketEvent("error", follower.socket_id, reason=str(error), error=error))
                )
                driver.run()
        elif kind == HELLO:
            self._hello(follower, sender, message)
            driver.run()

    def _confirm(self, k: int) -> None:
        unconfirmed = self._unconfirmed
        if unconfirmed and unconfirmed[0][0] <= k:
            while unconfirmed and unconfirmed[0][0] <= k:
                unconfirmed.popleft()
            self.driver.inbox.notify()  # drain() waits on queued

    def _hello(self, follower: FollowerMachine, sender: str, message: Sequence[Any]) -> None:
        info = json.loads(message[2])
        session = json.loads(message[3]) if message[3] is not None else None
        new_leader = sender != self.leader
        switching = new_leader and self.leader is not None
        self.leader = sender
        # A new leader after another: its own state events (the old socket's close, CONNECTING) follow.
        self._mirror(follower, info, None if switching else _STATES[str(info["state"])])
        if session is not None:
            sid, out_seq, acked, in_seq, seqs, taken = session
            for tab, k in dict(taken).items():
                if isinstance(k, int):
                    self.taken[str(tab)] = max(k, self.taken.get(str(tab), 0))
            if self.replica is not None and sid is not None:
                payloads = message[4:]
                if len(payloads) != len(seqs):
                    raise ValueError("a session snapshot with as many payloads as numbers")
                replica = ClientSession()
                replica.id, replica.out_seq = str(sid), int(out_seq)
                replica.acked, replica.in_seq = int(acked), int(in_seq)
                replica.outbox.extend(zip((int(s) for s in seqs), payloads, strict=True))
                if self.replica.id and replica.id != self.replica.id:
                    self._mine.clear()  # a new session renumbered everything: nothing left to wait for
                else:
                    self._mine = deque(seq for seq in self._mine if seq > replica.acked)
                self.replica = replica
        if new_leader:
            if self._bus is not None:
                self._bus.post([JOIN, self.tab])  # so the new leader counts this tab
            self._confirm(self.taken.get(self.tab, 0))
            for k, data, ttl, key in self._unconfirmed:
                self._post_send(k, data, ttl, key)
            queued, expired = follower.take_queue(self.driver.clock())
            for data in queued:
                self.forward(data, None, None)
            if expired:
                reason = f"{expired} queued message(s) outlived their ttl before a leader tab was found"
                error = errors.MessageExpired(reason)
                follower.events.append(ErrorRaised(SocketEvent("error", 0, reason=reason, error=error)))

    def _mirror(self, follower: FollowerMachine, info: dict[str, Any], state: State | None = None) -> None:
        """Take the leader's snapshot ``info``; and its state ``state``, when given."""
        self.info = info
        follower.heartbeat.latency = info.get("latency")
        follower.budget.used = int(info.get("retries") or 0)
        retry_in = info.get("retry_in")
        follower.retry_at = None if retry_in is None else self.driver.clock() + float(retry_in)
        follower.gave_up_because = info.get("why")
        url = info.get("url")
        if isinstance(url, str) and url:
            self.driver.url = url
        close = info.get("close")
        if close is not None:
            follower.last_close = SocketEvent("close", int(close[0]), close[1], str(close[2]), bool(close[3]))
        session = info.get("session")
        if self.replica is not None and isinstance(session, str) and session:
            self.replica.id = session
        if state is None:
            return
        follower.socket_id = int(info.get("sid") or 0) if state in (State.CONNECTING, State.OPEN) else 0
        if state is not State.DESTROYED:
            follower.mirror(state)

    def _event(self, follower: FollowerMachine, event: str, args: list[Any], info: dict[str, Any]) -> None:
        if event == "state":
            self._mirror(follower, info, _STATES[str(args[1])])
            return
        self._mirror(follower, info)
        events = follower.events
        if event in ("open", "close", "error"):
            sid, code, reason, clean, error_name = args
            error = _rebuild(error_name, str(reason)) if error_name is not None else None
            e = SocketEvent(event, int(sid), code, str(reason), bool(clean), error)
            if event == "open":
                events.append(Opened(e))
            elif event == "close":
                events.append(SocketEnded(e))
            else:
                events.append(ErrorRaised(e))
        elif event == "reconnect":
            events.append(Retrying(int(args[0]), float(args[1])))
        elif event == "reset":
            events.append(SessionWasReset(SessionReset(str(args[0]), str(args[1]), int(args[2]), args[3])))

    def _post_send(self, k: int, data: Data, ttl: float | None, key: Hashable | None) -> None:
        if self._bus is None:
            return
        meta = None if ttl is None and key is None else _dumps([ttl, key])
        self._bus.post([SEND, self.tab, k, data, meta])


def _rebuild(name: object, reason: str) -> BaseException | None:
    """The leader's exception, rebuilt from its class name (heartsock's own classes only)."""
    cls = _ERRORS.get(str(name))
    if cls is None:
        return None
    try:
        return cls(reason)
    except TypeError:
        return errors.HeartsockError(reason)


def _meta(meta: object) -> tuple[float | None, Hashable | None]:
    if meta is None:
        return None, None
    ttl, key = json.loads(str(meta))
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not math.isfinite(ttl)):
        raise ValueError("a send's ttl is a finite number")
    if key is not None and not isinstance(key, (str, int, float, bool)):
        raise ValueError("a send's key is a str or a number")
    return (None if ttl is None else max(float(ttl), 0.0)), key
