"""A fully controllable runtime, for testing code that uses heartsock under CPython.

``FakeRuntime`` stands in for the browser: its clock only moves when you call
:meth:`FakeRuntime.advance`, which fires the socket's timer at exactly the deadlines it
was armed for; its transport records what the socket did and lets you play the
network's part. Prior art: trio's ``MockClock``, twisted's ``task.Clock``.

Example::

    rt = FakeRuntime()
    sock = heartsock.Socket("ws://test/", runtime=rt, heart_time=5)
    rt.net.opened(1)          # the browser opened socket 1
    rt.advance(5)             # five quiet seconds: a heartbeat goes out
    assert rt.net.sent(1) == ["ping"]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ._runtime import TransportSink, WatchSink
from .wire import SUBPROTOCOL, Data

__all__ = ["FakeRuntime", "FakeSocket", "FakeTimer", "FakeTransport", "FakeWatch"]


@dataclass
class FakeSocket:
    """One underlying socket the fake transport opened."""

    url: str
    """The URL it was opened with."""
    protocols: tuple[str, ...]
    """The subprotocols it was opened with."""
    ready_state: int = 0
    """Its ``readyState``: 0 CONNECTING, 1 OPEN, 3 CLOSED (closed or abandoned)."""
    sent: list[Data] = field(default_factory=list)
    """What the socket wrote to it, in order, heartbeats included."""
    abandoned: tuple[int, str] | None = None
    """``(code, reason)`` if heartsock abandoned it, else ``None``."""
    buffered_amount: int = 0
    """What its ``bufferedAmount`` reports; set it to simulate a slow network."""


class FakeTransport:
    """Records the socket's actions; its methods ``opened()``… play the network.

    Args:
        sink: the socket, which the network's events are reported to.

    Attributes:
        sink: the socket, which the network's events are reported to.
        sockets: every socket opened so far, by id.
        log: every action, in order: ``("open", id, url)``, ``("send", id, data)``,
            ``("abandon", id, code, reason)``.
        closed: whether the socket released the transport (``destroy()``).
        fail_next_open: set it to an exception, and the next ``open()`` raises it
            (as ``new WebSocket(...)`` throws for a malformed URL); it is then cleared.
    """

    def __init__(self, sink: TransportSink) -> None:
        self.sink = sink
        self.sockets: dict[int, FakeSocket] = {}
        self.log: list[tuple[object, ...]] = []
        self.closed = False
        self.fail_next_open: Exception | None = None

    # ---- the Transport protocol ----
    def open(self, socket_id: int, url: str, protocols: Sequence[str]) -> None:
        """Record a new socket in :attr:`sockets`, CONNECTING; raise :attr:`fail_next_open` if set."""
        if self.fail_next_open is not None:
            error, self.fail_next_open = self.fail_next_open, None
            raise error
        self.log.append(("open", socket_id, url))
        self.sockets[socket_id] = FakeSocket(url, tuple(protocols))

    def send(self, socket_id: int, data: Data) -> None:
        """Record ``data`` as sent on socket ``socket_id``, which must be OPEN."""
        sock = self.sockets[socket_id]
        assert sock.ready_state == 1, f"send on socket {socket_id} in readyState {sock.ready_state}"
        self.log.append(("send", socket_id, data))
        sock.sent.append(data)

    def abandon(self, socket_id: int, code: int, reason: str) -> None:
        """Record that heartsock abandoned socket ``socket_id``; it is CLOSED from now on."""
        self.log.append(("abandon", socket_id, code, reason))
        sock = self.sockets.get(socket_id)
        if sock is not None:
            sock.abandoned = (code, reason)
            sock.ready_state = 3

    def ready_state(self, socket_id: int) -> int:
        """The ``readyState`` of socket ``socket_id`` (3, CLOSED, for an unknown id)."""
        sock = self.sockets.get(socket_id)
        return sock.ready_state if sock else 3

    def buffered_amount(self, socket_id: int) -> int:
        """The ``bufferedAmount`` of socket ``socket_id`` (0 for an unknown id)."""
        sock = self.sockets.get(socket_id)
        return sock.buffered_amount if sock else 0

    def close(self) -> None:
        """Record that the socket released the transport (:attr:`closed`)."""
        self.closed = True

    @property
    def live(self) -> int:
        """How many sockets are CONNECTING or OPEN and not abandoned."""
        return len(self.live_ids())

    # ---- playing the network ----
    @property
    def last_id(self) -> int:
        """The id of the most recently opened socket (0 if none)."""
        return max(self.sockets, default=0)

    def live_ids(self) -> list[int]:
        """Ids of sockets CONNECTING or OPEN and not abandoned."""
        return [sid for sid, s in self.sockets.items() if s.ready_state in (0, 1)]

    def opened(self, socket_id: int, protocol: str | None = None) -> None:
        """The server accepted socket ``socket_id``, choosing ``protocol``.

        By default the server chooses heartsock's session subprotocol if offered, else the
        first one offered (``""`` when none was), as a server that speaks them all would.
        """
        sock = self.sockets[socket_id]
        sock.ready_state = 1
        if protocol is None:
            offered = sock.protocols
            protocol = SUBPROTOCOL if SUBPROTOCOL in offered else (offered[0] if offered else "")
        self.sink.on_open(socket_id, protocol)

    def message(self, socket_id: int, data: Data) -> None:
        """Socket ``socket_id`` received ``data``."""
        self.sink.on_message(socket_id, data)

    def error(self, socket_id: int) -> None:
        """The browser reports an error on ``socket_id``."""
        self.sink.on_error(socket_id)

    def closed_by_peer(self, socket_id: int, code: int = 1006, reason: str = "", was_clean: bool = False) -> None:
        """Socket ``socket_id`` closed (the browser's close event)."""
        self.sockets[socket_id].ready_state = 3
        self.sink.on_close(socket_id, code, reason, was_clean)

    def sent(self, socket_id: int) -> list[Data]:
        """What was written to socket ``socket_id``, in order."""
        return self.sockets[socket_id].sent


class FakeTimer:
    """A timer whose wake-ups :meth:`FakeRuntime.advance` fires.

    Attributes:
        callback: what the timer calls when it fires.
        fire_at: the clock time it is armed for, or ``None`` when it is not armed.
        closed: whether the socket released it for good.
        arms: how many times it was armed.
    """

    def __init__(self, runtime: FakeRuntime, callback: Callable[[], None]) -> None:
        self._runtime = runtime
        self.callback = callback
        self.fire_at: float | None = None
        self.closed = False
        self.arms = 0

    def arm(self, delay: float) -> None:
        """Fire ``delay`` seconds from the fake clock's now, replacing any pending wake-up."""
        assert not self.closed, "arm() on a closed timer"
        assert delay >= 0, f"negative delay {delay}"
        self.arms += 1
        self.fire_at = self._runtime.now + delay

    def cancel(self) -> None:
        """Drop the pending wake-up, if any."""
        self.fire_at = None

    def close(self) -> None:
        """Cancel, and refuse to be armed again."""
        self.fire_at = None
        self.closed = True


class FakeWatch:
    """Browser hints on demand: see :meth:`FakeRuntime.set_online`.

    Attributes:
        sink: the socket, which hints are reported to.
        closed: whether the socket stopped watching (``destroy()``).
    """

    def __init__(self, sink: WatchSink, online: bool) -> None:
        self.sink = sink
        self._online = online
        self.closed = False

    @property
    def online(self) -> bool:
        """What ``navigator.onLine`` says now."""
        return self._online

    def close(self) -> None:
        """Stop reporting hints to the socket."""
        self.closed = True


class FakeRuntime:
    """A runtime with a manual clock, a recording transport and one fake timer.

    Exceptions raised by the socket's callbacks are not shown anywhere: they are
    recorded in :attr:`reported` as ``(error, context)`` pairs, for tests to assert on.

    Args:
        now: the clock's start time, in seconds.
        rand: the source of jitter; ``0.5`` always by default, so delays are exact.
        online: what ``navigator.onLine`` says at the start.

    Attributes:
        now: the fake clock, in seconds; :meth:`advance` and :meth:`jump` move it.
        net: the transport of the socket made with this runtime (one socket per runtime).
        timers: every timer made, in order.
        watches: every watch made, in order.
        reported: ``(error, context)`` for every exception user code raised.
    """

    def __init__(self, now: float = 0.0, rand: Callable[[], float] = lambda: 0.5, online: bool = True) -> None:
        self.now = now
        self._rand = rand
        self._online = online
        self.net: FakeTransport
        self.timers: list[FakeTimer] = []
        self.watches: list[FakeWatch] = []
        self.reported: list[tuple[BaseException, str]] = []

    # ---- the Runtime protocol ----
    def clock(self) -> float:
        """The fake clock: :attr:`now`."""
        return self.now

    def random(self) -> float:
        """The next value of the ``rand`` source given to the constructor."""
        return self._rand()

    def transport(self, sink: TransportSink) -> FakeTransport:
        """Make the socket's transport; it is kept in :attr:`net`."""
        self.net = FakeTransport(sink)
        return self.net

    def timer(self, callback: Callable[[], None]) -> FakeTimer:
        """Make a timer that :meth:`advance` fires; it is kept in :attr:`timers`."""
        timer = FakeTimer(self, callback)
        self.timers.append(timer)
        return timer

    def watch(self, sink: WatchSink) -> FakeWatch:
        """Start watching hints for the socket; the watch is kept in :attr:`watches`."""
        watch = FakeWatch(sink, self._online)
        self.watches.append(watch)
        return watch

    def report(self, error: BaseException, context: str) -> None:
        """Record an exception raised by user code in :attr:`reported`."""
        self.reported.append((error, context))

    def live_proxies(self) -> int:
        """Always 0: there are no JavaScript proxies here."""
        return 0

    # ---- driving ----
    @property
    def armed(self) -> list[float]:
        """Fire times of every armed timer."""
        return [t.fire_at for t in self.timers if t.fire_at is not None]

    def advance(self, seconds: float) -> None:
        """Move the clock forward, firing each timer at exactly its armed time.

        Raises:
            ValueError: ``seconds`` is negative (time can't go backwards).
        """
        if seconds < 0:
            raise ValueError("time can't go backwards")
        target = self.now + seconds
        while True:
            due = [t for t in self.timers if t.fire_at is not None and t.fire_at <= target]
            if not due:
                break
            timer = min(due, key=lambda t: t.fire_at or 0.0)
            assert timer.fire_at is not None
            self.now = max(self.now, timer.fire_at)
            timer.fire_at = None
            timer.callback()
        self.now = target

    def jump(self, seconds: float) -> None:
        """Move the clock without firing timers (a frozen or throttled page)."""
        self.now += seconds

    def fire_late(self) -> None:
        """Fire every armed timer now, however late (a throttled tab waking up)."""
        for timer in self.timers:
            if timer.fire_at is not None:
                timer.fire_at = None
                timer.callback()

    def set_online(self, online: bool) -> None:
        """Fire the browser's ``online`` or ``offline`` event."""
        self._online = online
        for watch in self.watches:
            watch._online = online
            if not watch.closed:
                (watch.sink.on_online if online else watch.sink.on_offline)()

    def became_visible(self) -> None:
        """Fire ``visibilitychange`` to visible."""
        for watch in self.watches:
            if not watch.closed:
                watch.sink.on_visible()
