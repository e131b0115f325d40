"""heartsock's live dashboard, running in the page under PyScript.

One ``heartsock.Socket`` to the demo's market feed (``/ws/feed``) drives the page
through its callbacks and listeners: the state badge, the event log, the heartbeat
round-trip chart, the ticker, the notes. The socket runs a heartsock session
(``resume=True``): every note reaches the server exactly once, in order, and every tick
sent while the page was away is replayed, through any number of drops; the Session card
shows its sequence numbers, what is not acknowledged yet, what the server replayed and
how often the session was reset. A light 100 ms timer redraws only
what moves with the clock (the retry countdown, rates, ages); the chart scrolls every
half second.

Settings come from the query string, in seconds (defaults in brackets): ``heart``
(``heart_time``, 0.5), ``pong`` (``pong_timeout``, 1.0), ``retry`` (``reconnect_time``,
0.25), ``retry_max`` (``reconnect_max_time``, 8), ``uptime`` (``min_uptime``, 3),
``connect`` (``connect_timeout``, 3), and ``queue`` (``max_queue``, 100 messages not
yet acknowledged).

Elements carry ``data-*`` attributes (``data-state``, ``data-kind``, ``data-code``,
``data-t`` …) so that the end-to-end tests read the same page a person sees.
"""

import asyncio
import json
import random
import sys
import time
from collections import deque
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from typing import Any

import js
from pyodide.ffi import create_proxy, to_js
from pyodide.http import pyfetch
from pyscript import document, when

import heartsock
from heartsock import Data, SessionReset, SocketEvent, State
from heartsock.wire import (
    CLOSE_CONNECT_TIMEOUT,
    CLOSE_HEARTBEAT_TIMEOUT,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_PROTOCOL_MISMATCH,
    CLOSE_SESSION_TAKEN_OVER,
    HEARTBEAT_PONG,
)

WINDOW = 60.0  # seconds of history in the chart
RATE_WINDOW = 2.0  # seconds over which messages per second are averaged
MAX_LOG = 200
MAX_NOTES = 50
CODE_NAMES = {
    CLOSE_NORMAL: "normal closure",
    1001: "going away",
    1005: "no status",
    1006: "connection lost",
    CLOSE_POLICY_VIOLATION: "policy violation",
    1009: "message too big",
    CLOSE_INTERNAL_ERROR: "server error",
    1012: "service restart",
    1013: "try again later",
    CLOSE_HEARTBEAT_TIMEOUT: "heartbeat timeout",
    CLOSE_CONNECT_TIMEOUT: "connect timeout",
    CLOSE_PROTOCOL_MISMATCH: "protocol mismatch",
    CLOSE_PROTOCOL_ERROR: "protocol error",
    CLOSE_SESSION_TAKEN_OVER: "session taken over",
}  # codes 3000-3999 are the application's own: shown without a name
# What the Connection card calls each state: short, so that the card never clips it.
STATE_WORDS = {
    State.CONNECTING: "connecting",
    State.OPEN: "up",
    State.RECONNECTING: "down",
    State.CLOSED: "gave up",
    State.DESTROYED: "destroyed",
}


_ELEMENTS: dict[str, Any] = {}
_SHOWN: dict[tuple[str, str], object] = {}


def el(id_: str) -> Any:
    """The element ``id_`` (the page's own elements are never replaced, so cached)."""
    found = _ELEMENTS.get(id_)
    if found is None:
        found = _ELEMENTS[id_] = document.getElementById(id_)
    return found


def put(id_: str, text: str | None = None, hidden: bool | None = None, width: str | None = None, **data: str) -> None:
    """Write ``text``, ``hidden``, a ``width`` style or ``data-*`` values to element ``id_``,
    each only when it changed: a refresh that changes nothing touches no DOM (no style
    recalculation, no layout) and allocates no JS strings."""
    node = None
    for key, value in (("text", text), ("hidden", hidden), ("width", width), *data.items()):
        if value is None or _SHOWN.get((id_, key)) == value:
            continue
        _SHOWN[(id_, key)] = value
        node = node or el(id_)
        if key == "text":
            node.textContent = value
        elif key == "hidden":
            node.hidden = value
        elif key == "width":
            node.style.width = value
        else:
            setattr(node.dataset, key, value)


def settings() -> dict[str, float]:
    """The socket's settings, from the query string."""
    params = js.URLSearchParams.new(js.location.search)

    def number(name: str, default: float) -> float:
        raw = params.get(name)
        try:
            return float(raw) if raw else default
        except ValueError:
            return default

    return {
        "heart": number("heart", 0.5),
        "pong": number("pong", 1.0),
        "retry": number("retry", 0.25),
        "retry_max": number("retry_max", 8.0),
        "uptime": number("uptime", 3.0),
        "connect": number("connect", 3.0),
        "queue": int(number("queue", 100)),
    }


def shared_name() -> str | None:
    """``?shared=name``: share the feed's socket with every tab of this page that uses the same name."""
    name = js.URLSearchParams.new(js.location.search).get("shared")
    return name if isinstance(name, str) and name else None


@dataclass
class Down:
    """An interval the socket spent not open, after it had been open (``end``: ``None`` while it lasts)."""

    start: float
    end: float | None = None


class EqualJitter:
    """Exponential backoff drawing from the upper half of each window; remembers the last window.

    heartsock's default ("full jitter") draws from ``[0, min(cap, base * 2**n)]``; drawing
    from the upper half instead keeps the spread but makes every delay longer than the
    one before (until the cap), which is what a person watching should see. The page
    shows :attr:`window` next to the countdown, so a long wait explains itself.
    """

    def __init__(self, base: float, cap: float) -> None:
        self.base, self.cap = base, cap
        self.window = (0.0, 0.0)

    def __call__(self, n: int) -> float:
        high = min(self.cap, self.base * 2.0 ** min(n, 64))
        self.window = (high / 2, high)
        return high * (0.5 + random.random() / 2)


def fmt_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def fmt_age(seconds: float) -> str:
    """A duration that stays short: 850 ms, 12.3 s, 4 min 05 s, 2 h 07 min."""
    if seconds < 60:
        return fmt_seconds(seconds)
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10**k at least ``value``."""
    scale = 1.0
    while scale * 10 < value:
        scale *= 10
    while scale > value:
        scale /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * scale >= value:
            return step * scale
    return 10 * scale


def chart_svg(
    now: float,
    samples: Iterable[tuple[float, float]],
    down: Iterable[Down],
    timeouts: Iterable[float],
    width: int = 760,
    height: int = 220,
    window: float = WINDOW,
    stalls: Iterable[tuple[float, float]] = (),
    slowed: Container[float] = frozenset(),
) -> str:
    """SVG markup of the RTT chart: the last ``window`` seconds up to ``now``.

    ``samples`` are ``(t, milliseconds)``, ``down`` the intervals when the socket was
    not open, ``timeouts`` the times of heartbeat timeouts,
    ``stalls`` ``(start, end)`` intervals when the page's main thread was busy (a task
    of 50 ms or more), ``slowed`` the times of the samples such a stall overlapped.
    """
    left, right, top, bottom = 58, 12, 12, 24
    start = now - window
    plot_w, plot_h = width - left - right, height - top - bottom
    visible = [(t, v) for t, v in samples if t >= start - 2]
    peak = max((v for _, v in visible), default=0.0)
    ymax = nice_ceiling(max(2.0, peak * 1.25))

    def x(t: float) -> float:
        return left + (t - start) / window * plot_w

    def y(v: float) -> float:
        return top + (1 - min(v, ymax) / ymax) * plot_h

    out = [
        "<defs><linearGradient id='fill' x1='0' y1='0' x2='0' y2='1'>"
        "<stop offset='0' stop-color='#2dd4bf' stop-opacity='0.35'/>"
        "<stop offset='1' stop-color='#2dd4bf' stop-opacity='0'/></linearGradient>"
        f"<clipPath id='plot'><rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}'/></clipPath></defs>"
    ]
    for frac in (0, 0.25, 0.5, 0.75, 1):
        gy = top + frac * plot_h
        out.append(f"<line class='grid' x1='{left}' x2='{width - right}' y1='{gy:.1f}' y2='{gy:.1f}'/>")
        if frac in (0, 0.5, 1):  # label every other line: the values stay short
            label = f"{ymax * (1 - frac):g} ms"
            out.append(f"<text class='axis' x='{left - 6}' y='{gy + 4:.1f}' text-anchor='end'>{label}</text>")
    for quarter in (4, 3, 2, 1, 0):
        ago = window * quarter / 4
        gx = x(now - ago)
        label = "now" if quarter == 0 else f"−{ago:.0f}s"
        anchor = "end" if ago == 0 else "middle"
        out.append(f"<text class='axis' x='{gx:.1f}' y='{height - 6}' text-anchor='{anchor}'>{label}</text>")
    out.append("<g clip-path='url(#plot)'>")
    for interval in down:
        end = now if interval.end is None else interval.end
        if end < start:
            continue
        x0, x1 = x(max(interval.start, start)), x(end)
        out.append(f"<rect class='down' x='{x0:.1f}' y='{top}' width='{max(1.5, x1 - x0):.1f}' height='{plot_h}'/>")
    if visible:
        points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in visible)
        first_x, last_x = x(visible[0][0]), x(visible[-1][0])
        base = top + plot_h
        out.append(f"<path class='area' d='M{first_x:.1f},{base} L{points} L{last_x:.1f},{base} Z'/>")
        out.append(f"<polyline class='line' points='{points}'/>")
        lt, lv = visible[-1]
        out.append(f"<circle class='dot' cx='{x(lt):.1f}' cy='{y(lv):.1f}' r='3.5'/>")
    for begin, end in stalls:
        if end >= start:
            x0, x1 = x(max(begin, start)), x(end)
            width_ = max(2.0, x1 - x0)
            out.append(f"<rect class='stall' x='{x0:.1f}' y='{top + plot_h - 6}' width='{width_:.1f}' height='6'/>")
    for t, v in visible:
        if t in slowed:
            out.append(f"<circle class='slowed' cx='{x(t):.1f}' cy='{y(v):.1f}' r='4.5'/>")
    for t in timeouts:
        if t >= start:
            out.append(f"<line class='mark' x1='{x(t):.1f}' x2='{x(t):.1f}' y1='{top}' y2='{top + plot_h}'/>")
            out.append(f"<text class='mark-label' x='{x(t) + 4:.1f}' y='{top + 12}'>4000</text>")
    out.append("</g>")
    if not visible:
        out.append(
            f"<text class='empty' x='{left + plot_w / 2}' y='{top + plot_h / 2}' text-anchor='middle'>"
            "waiting for the first heartbeat…</text>"
        )
    return "".join(out)


class Dashboard:
    """The page's state and its socket; every handler updates the DOM."""

    def __init__(self, config: dict[str, float]) -> None:
        self.cfg = config
        self.t0 = time.monotonic()
        self.samples: deque[tuple[float, float]] = deque(maxlen=2000)  # (t, rtt ms)
        self.pong_at = 0.0
        # Main-thread tasks of 50 ms or more (the browser's Long Tasks API), and the
        # heartbeats they overlapped: a round trip is timed on this thread, so a busy
        # page (or a busy machine) makes it look long although the network was not.
        self.stalls: deque[tuple[float, float]] = deque(maxlen=200)  # (start, end)
        self.slowed: set[float] = set()  # times of samples a stall overlapped
        self.perf_offset = 0.0
        self.stall_observer: Any = None
        self.watch_stalls()
        self.down: list[Down] = []  # the intervals not open, after an OPEN
        self.timeouts: deque[float] = deque(maxlen=100)
        self.rx: deque[float] = deque()
        self.tx: deque[float] = deque()
        self.total_in = self.total_out = 0
        self.heartbeats = 0
        self.connections = 0
        self.socket_id = 0
        self.state_since = 0.0
        self.retry_delay: float | None = None
        self.retry_attempt = 0
        self.seq = 0  # notes sent (their numbers on the page)
        self.notes: dict[int, Any] = {}
        # The session's numbers, as the socket keeps them: the last sequence number given to
        # an outgoing message and the last delivered one; both restart at a reset.
        self.out_seq = self.in_seq = 0
        self.unacked: deque[Any] = deque()  # the note rows not acknowledged yet, oldest first
        self.resets = 0
        self.replayed = 0  # what the server says it sent again after resumes
        self.quote_rows: dict[str, Any] = {}
        self.flips: dict[str, int] = {}
        self.prices: dict[str, float] = {}
        self.log_count = 0
        self.ticks = 0
        scheme = "wss" if js.location.protocol == "https:" else "ws"
        self.url = f"{scheme}://{js.location.host}/ws/feed"
        self.backoff = EqualJitter(config["retry"], config["retry_max"])
        self.sock = heartsock.Socket(
            self.url,
            heart_time=config["heart"],
            pong_timeout=config["pong"],
            pong_msg=self.is_pong,
            reconnect_time=config["retry"],
            reconnect_max_time=config["retry_max"],
            backoff=self.backoff,
            reconnect_count=-1,
            min_uptime=config["uptime"],
            connect_timeout=config["connect"],
            max_queue=config["queue"],
            resume=True,
            shared=shared_name(),
        )
        for event, handler in (
            ("state", self.on_state),
            ("open", self.on_open),
            ("close", self.on_close),
            ("error", self.on_error),
            ("reconnect", self.on_reconnect),
            ("message", self.on_message),
            ("reset", self.on_reset),
        ):
            self.sock.on(event, handler)
        self.show_state(self.sock.state)
        self.log("state", f"connecting to {self.url}", state=self.sock.state.name)

    def now(self) -> float:
        return time.monotonic() - self.t0

    # ---- heartsock callbacks ----------------------------------------------------------
    def is_pong(self, data: Data) -> bool:
        """heartsock's pong matcher: a "pong" proves life; count it and chart its RTT."""
        if data != HEARTBEAT_PONG:
            return False
        self.heartbeats += 1
        self.pong_at = self.now()
        # heartsock updates sock.latency right after this predicate returns.
        asyncio.get_event_loop().call_soon(self.sample_latency)
        return True

    def sample_latency(self) -> None:
        latency = self.sock.latency
        if latency is not None:
            self.samples.append((self.pong_at, latency * 1000))
            self.mark_slowed()
            self.draw_chart()

    def watch_stalls(self) -> None:
        """Record the page's long tasks (PerformanceObserver, type ``longtask``)."""
        if "longtask" not in js.PerformanceObserver.supportedEntryTypes:
            return
        # time.monotonic() and performance.now() tick together; this is their offset, in s.
        self.perf_offset = time.monotonic() - self.t0 - js.performance.now() / 1000
        self.stall_observer = js.PerformanceObserver.new(create_proxy(self.on_long_tasks))
        self.stall_observer.observe(to_js({"type": "longtask"}, dict_converter=js.Object.fromEntries))

    def on_long_tasks(self, entries: Any, *_: Any) -> None:
        for entry in entries.getEntries():
            begin = entry.startTime / 1000 + self.perf_offset
            self.stalls.append((begin, begin + entry.duration / 1000))
        self.mark_slowed()

    def mark_slowed(self) -> None:
        """Mark each recent heartbeat whose round trip a long task overlapped."""
        for t, ms in list(self.samples)[-20:]:
            sent = t - ms / 1000
            if t not in self.slowed and any(begin < t and end > sent for begin, end in self.stalls):
                self.slowed.add(t)
        slowest = max((ms for t, ms in self.samples if t in self.slowed), default=0.0)
        text = f"({len(self.slowed)} slowed)" if self.slowed else ""
        put("slowed-count", text, count=str(len(self.slowed)), slowest=f"{slowest:.1f}")

    def on_state(self, old: State, new: State) -> None:
        now = self.now()
        if new is State.OPEN:
            if self.down and self.down[-1].end is None:
                self.down[-1].end = now
        elif old is State.OPEN:
            self.down.append(Down(now))
        self.state_since = now
        if new is not State.RECONNECTING:
            self.retry_delay = None
        self.show_state(new)
        self.log("state", f"{old.name} → {new.name}", state=new.name)
        if new is State.CLOSED:
            last = self.sock.last_close
            code = last.code if last else None
            name = CODE_NAMES.get(code, "final") if code is not None else "final"
            self.log("gave-up", f"gave up after close {code} ({name}): press Reconnect now")
        self.refresh()

    def on_open(self, event: SocketEvent) -> None:
        self.socket_id = event.socket_id
        self.connections += 1
        flushed = [row for row in self.unacked if row.dataset.status == "queued"]
        for row in flushed:
            self.set_note(row, "sent", "sent after reconnect")
        resent = len(self.unacked) - len(flushed)
        extra = f", flushed {len(flushed)} queued" if flushed else ""
        extra += f", resent {resent} unacknowledged" if resent else ""
        self.log("open", f"connected: socket #{event.socket_id}{extra}")

    def on_reset(self, reset: SessionReset) -> None:
        """The server no longer had the session: a new one, with the unacknowledged notes sent again."""
        self.resets += 1
        self.out_seq, self.in_seq = reset.resent, 0  # the socket renumbers from 1, as the server does
        missing = "an unknown number of" if reset.missing is None else str(reset.missing)
        text = f"session reset ({reset.old_session}… → {reset.new_session}…): {reset.resent} notes resent"
        self.log("reset", f"{text}, {missing} feed messages missed", resent=reset.resent)

    def on_close(self, event: SocketEvent) -> None:
        code, reason = event.code, event.reason
        if code == CLOSE_HEARTBEAT_TIMEOUT:
            self.timeouts.append(self.now())
            wait = fmt_seconds(self.cfg["pong"])
            text = f"heartbeat timeout: no pong within {wait}, socket #{event.socket_id} abandoned"
            self.log("timeout", text, code=code)
            self.draw_chart()
        elif code == CLOSE_CONNECT_TIMEOUT:
            wait = fmt_seconds(self.cfg["connect"])
            text = f"connect timeout: socket #{event.socket_id} still connecting after {wait}"
            self.log("timeout", text, code=code)
        else:
            name = CODE_NAMES.get(code, "") if code is not None else ""
            parts = [f"closed {code}", name, f"“{reason}”" if reason else ""]
            parts.append(f"(socket #{event.socket_id})")
            self.log("close", " ".join(part for part in parts if part), code=code)

    def on_error(self, event: SocketEvent) -> None:
        self.log("error", f"error on socket #{event.socket_id}: {event.reason or 'WebSocket error'}")

    def on_reconnect(self, attempt: int, delay: float) -> None:
        self.retry_delay = delay
        self.retry_attempt = attempt
        self.log("retry", f"retry #{attempt} in {fmt_seconds(delay)}", attempt=attempt, delay=f"{delay:.4f}")
        self.refresh()

    def on_message(self, data: Data) -> None:
        self.rx.append(self.now())
        self.total_in += 1
        self.in_seq += 1  # every message is the session's next, exactly once, in order
        try:
            message = json.loads(data)
        except (TypeError, ValueError):
            return
        kind = message.get("type")
        if kind == "tick":
            self.ticks += 1
            self.show_quote(message["symbol"], message["price"], message["change"])
        elif kind == "hello":
            for symbol, quote in message.get("quotes", {}).items():
                self.show_quote(symbol, quote["price"], quote["change"], flash=False)
            el("feed-meta").textContent = f"peer #{message.get('peer')} · a round every {message.get('period')} s"
        elif kind == "session":
            self.replayed = int(message.get("replayed", 0))

    # ---- user actions -------------------------------------------------------------------
    def send_note(self, text: str) -> None:
        self.seq += 1
        payload = json.dumps({"type": "note", "seq": self.seq, "text": text})
        try:
            sent = self.sock.send(payload)
        except heartsock.HeartsockError as exc:  # QueueFull, SocketClosed: never silent
            self.log("error", f"note #{self.seq} not sent: {exc}")
            self.seq -= 1
            return
        self.out_seq += 1
        self.tx.append(self.now())
        self.total_out += 1
        row = document.createElement("li")
        row.dataset.seq = str(self.seq)
        row.innerHTML = "<span class='seq'></span><span class='text'></span><span class='status'></span>"
        row.querySelector(".seq").textContent = f"#{self.seq}"
        row.querySelector(".text").textContent = text
        self.notes[self.seq] = row
        self.unacked.append(row)
        notes = el("notes")
        notes.prepend(row)
        while notes.children.length > MAX_NOTES:
            self.notes.pop(int(notes.lastElementChild.dataset.seq), None)
            notes.lastElementChild.remove()
        if sent:
            self.set_note(row, "sent", "sent")
            self.log("note", f"note #{self.seq} sent")
        else:
            self.set_note(row, "queued", f"queued ({self.sock.queued} waiting)")
            self.log("note", f"note #{self.seq} queued while {self.sock.state.name}")
        self.refresh()

    def mark_acknowledged(self, unacknowledged: int) -> None:
        """The server acknowledged all but the last ``unacknowledged`` notes: mark the others delivered.

        Notes are the only messages this page sends, so the session's unacknowledged
        messages are exactly the newest ``unacknowledged`` notes.
        """
        while len(self.unacked) > unacknowledged:
            row = self.unacked.popleft()
            self.set_note(row, "acked", "delivered ✓")
            self.log("ack", f"server acknowledged note #{row.dataset.seq}", seq=row.dataset.seq)

    def set_note(self, row: Any, status: str, label: str) -> None:
        row.dataset.status = status
        row.className = f"note {status}"
        row.querySelector(".status").textContent = label

    # ---- drawing --------------------------------------------------------------------------
    def log(self, kind: str, text: str, **data: object) -> None:
        now = self.now()
        item = document.createElement("li")
        item.className = f"ev {kind}"
        item.dataset.kind = kind
        item.dataset.t = f"{now:.3f}"
        for key, value in data.items():
            setattr(item.dataset, key, str(value))
        stamp = time.strftime("%H:%M:%S", time.localtime()) + f".{int(time.time() * 1000) % 1000:03d}"
        item.innerHTML = "<time></time><span class='tag'></span><span class='msg'></span>"
        item.querySelector("time").textContent = stamp
        item.querySelector(".tag").textContent = kind.replace("-", " ")
        item.querySelector(".msg").textContent = text
        log = el("log")
        log.prepend(item)
        while log.children.length > MAX_LOG:
            log.lastElementChild.remove()
        self.log_count += 1
        el("log-count").textContent = f"{self.log_count} events"

    def show_state(self, state: State) -> None:
        badge = el("state")
        badge.textContent = state.name
        badge.dataset.state = state.name

    def show_quote(self, symbol: str, price: float, change: float, flash: bool = True) -> None:
        row = self.quote_rows.get(symbol)
        if row is None:
            row = document.createElement("tr")
            row.innerHTML = "<td class='sym'></td><td class='px'></td><td class='chg'></td>"
            row.querySelector(".sym").textContent = symbol
            el("ticker").querySelector("tbody").append(row)
            self.quote_rows[symbol] = row
        cell = row.querySelector(".px")
        old = self.prices.get(symbol, price)
        self.prices[symbol] = price
        cell.textContent = f"{price:,.2f}"
        chg = row.querySelector(".chg")
        chg.textContent = f"{change:+.2f}%"
        chg.className = "chg up" if change >= 0 else "chg down"
        if flash and price != old:
            # Alternate between two animations with the same keyframes: a new animation
            # name restarts the flash without forcing a synchronous layout.
            self.flips[symbol] = flip = 1 - self.flips.get(symbol, 0)
            row.className = f"flash-{'up' if price > old else 'down'}-{flip}"

    def draw_chart(self) -> None:
        svg = el("chart")
        box = svg.getBoundingClientRect()
        width, height = max(320, int(box.width)), max(160, int(box.height))
        svg.setAttribute("viewBox", f"0 0 {width} {height}")
        now = self.now()
        window = min(WINDOW, max(20.0, now))  # a young page fills the chart, then it scrolls
        svg.innerHTML = chart_svg(
            now, self.samples, self.down, self.timeouts, width, height, window, self.stalls, self.slowed
        )

    def refresh(self) -> None:
        """Redraw what moves with the clock (called every 100 ms)."""
        now, sock, state = self.now(), self.sock, self.sock.state
        for stamps in (self.rx, self.tx):
            while stamps and stamps[0] < now - RATE_WINDOW:
                stamps.popleft()
        put("rate-in", f"{len(self.rx) / RATE_WINDOW:.1f}")
        put("rate-out", f"{len(self.tx) / RATE_WINDOW:.1f}")
        put("totals", f"{self.total_in:,} in · {self.total_out:,} out · {self.ticks:,} ticks")
        put("tabs", f"{sock.tabs} tabs · {sock.sharing}", hidden=sock.sharing == "off")

        word, since = STATE_WORDS.get(state, state.name.lower()), self.state_since
        if state in (State.CONNECTING, State.RECONNECTING) and self.down and self.down[-1].end is None:
            word, since = "down", self.down[-1].start  # since the connection was lost, across retries
        put("conn-word", word)
        put("conn-age", fmt_age(now - since))
        last = sock.last_close
        put("conn-meta", f"socket #{self.socket_id}" + (f" · last close {last.code}" if last else ""))

        retry_in, delay = sock.retry_in, self.retry_delay
        scheduled = retry_in is not None and delay is not None
        put("attempt", f"attempt {sock.attempt}", hidden=scheduled, attempt=str(sock.attempt))
        put("retry-countdown", hidden=not scheduled)
        if retry_in is not None and delay is not None:
            # "retry 4 in 1.3 s", and how that delay was drawn: the wait explains itself.
            put("retry-n", str(self.retry_attempt))
            put("retry-left", f"{retry_in:.1f} s")
            put("retry-countdown", attempt=str(self.retry_attempt), remaining=f"{retry_in:.3f}")
            low, high = self.backoff.window
            put("retry-in", f"drew {delay:.2f} s from {low:.2f}–{high:.2f} s")
            put("retry-bar", width=f"{100 * min(1.0, retry_in / delay):.1f}%")
        else:
            if state is State.CONNECTING:
                put("retry-in", "connecting…")
            elif state is State.CLOSED:
                put("retry-in", "gave up; press Reconnect now")
            elif sock.attempt:
                put("retry-in", f"counter resets after {fmt_seconds(self.cfg['uptime'])} up")
            else:
                put("retry-in", "no retry scheduled")
            put("retry-bar", width="0%")

        if self.samples:
            last_t, last_ms = self.samples[-1]
            recent = [v for t, v in self.samples if t >= now - WINDOW] or [last_ms]
            put("latency", f"{last_ms:.1f} ms", ms=f"{last_ms:.3f}", slowed="1" if last_t in self.slowed else "0")
            put("latency-meta", f"avg {sum(recent) / len(recent):.1f} ms · {self.heartbeats} heartbeats")

        stats = sock.stats()
        queued = stats.queued  # with resume=True: sent or queued, not acknowledged yet
        self.mark_acknowledged(queued)
        put("queue", str(queued), queued=str(queued))
        acked = self.out_seq - queued
        put("session-seq", f"out #{self.out_seq} · acked #{acked} · in #{self.in_seq:,}", out=str(self.out_seq))
        put("session-seq", acked=str(acked), received=str(self.in_seq))
        put("queue-meta", f"{self.replayed:,} replayed · {self.resets} resets")
        put("queue-meta", replayed=str(self.replayed), resets=str(self.resets))

    async def run_timer(self) -> None:
        step = 0
        while True:
            try:
                if step % 5 == 0:
                    self.draw_chart()  # first: it reads the chart's size, before refresh() writes
                self.refresh()
            except Exception as exc:  # keep the timer alive; show what broke
                js.console.error(f"dashboard refresh failed: {exc!r}")
            step += 1
            await asyncio.sleep(0.1)


dash = Dashboard(settings())
cfg = dash.cfg
el("url").textContent = dash.url
el("queue-max").textContent = f"/ {cfg['queue']}"
el("config").textContent = (
    f"heart_time {fmt_seconds(cfg['heart'])} · pong_timeout {fmt_seconds(cfg['pong'])} · "
    f"backoff exponential, equal jitter {fmt_seconds(cfg['retry'])} → {fmt_seconds(cfg['retry_max'])} · "
    f"min_uptime {fmt_seconds(cfg['uptime'])} · connect_timeout {fmt_seconds(cfg['connect'])} · resume=True · "
    f"heartsock {heartsock.__version__} · Python {sys.version.split()[0]} in Pyodide"
)

FAULTS: dict[str, Callable[[], tuple[str, str]]] = {
    "drop": lambda: ("drop", "drop every connection"),
    "silent": lambda: ("silent", "go silent (half-open)"),
    "refuse": lambda: (f"refuse?n={int(el('refuse-n').value or 3)}&drop=1", "refuse handshakes"),
    "close": lambda: (f"close?code={el('close-code').value}", f"close with {el('close-code').value}"),
    "hang": lambda: ("hang?n=1&drop=1", "hang the next handshake"),
    "restart": lambda: (f"restart?down={float(el('restart-down').value or 3)}", "restart the server"),
}


@when("click", "[data-fault]")
async def inject(event: Any) -> None:
    button = event.target.closest("[data-fault]")
    name = button.dataset.fault
    query, label = FAULTS[name]()
    button.disabled = True
    try:
        response = await pyfetch(f"/api/{query}", method="POST")
        result = await response.json()
        if response.ok:
            summary = ", ".join(f"{k} {v}" for k, v in result.items())
            dash.log("fault", f"{label}: {summary}", fault=name)
        else:
            dash.log("error", f"{label} refused: {result.get('error', response.status)}")
    except Exception as exc:
        dash.log("error", f"{label} failed: {exc}")
    finally:
        button.disabled = False


@when("submit", "#note-form")
def submit_note(event: Any) -> None:
    event.preventDefault()
    box = el("note-text")
    text = box.value.strip()
    if text:
        dash.send_note(text)
        box.value = ""


@when("click", "#btn-reconnect")
def reconnect_now(event: Any) -> None:
    dash.log("user", "create(): open a new connection now")
    dash.sock.create()


timer = asyncio.ensure_future(dash.run_timer())
el("boot").remove()
document.documentElement.dataset.ready = "1"
