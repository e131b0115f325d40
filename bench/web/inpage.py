"""Benchmark variants that run inside Pyodide (copied into the page's file system as ``hsbench``).

Every variant does the same work as its raw-JavaScript twin in ``bench/inpage.js`` and
returns a JSON-able summary. Times are ``performance.now()`` milliseconds (the same clock
as the JavaScript variants). Variants:

* ``bare``: a ``js.WebSocket`` with a ``create_proxy`` handler — the FFI floor every
  Python-in-the-browser code pays;
* ``pyscript``: PyScript's ``pyscript.WebSocket`` (only in the PyScript page);
* ``heartsock_cb``: ``heartsock.Socket`` with ``message_cb``;
* ``heartsock_iter`` / ``heartsock_recv``: heartsock's asyncio face (``async for``, ``recv()``).

Every handler body is the same: count the message (and its length), stop at ``"done"``,
ignore a heartbeat ``"pong"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import json
import random
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import js
from pyodide.ffi import create_proxy

# heartsock is imported lazily: the startup step times its first import.

# A Socket with no heartbeat during a measurement (the runs last seconds, not 30 s).
QUIET = {"heart_time": 30.0}


def _hs(mod: str) -> Any:
    """heartsock, or the patched copy under another package name (``heartsock_patched``)."""
    return importlib.import_module(mod)


def now() -> float:
    return js.performance.now()  # type: ignore[no-any-return]


def seq(i: int) -> str:
    return f"{i:016d}"


def _future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


def _settle(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


async def ctl(name: str, **query: Any) -> Any:
    """Ask the host to do something (inject a fault, …) through ``/ctl/<name>``."""
    qs = urlencode(query)
    return json.loads(await js.hsb.ctlText(name + ("?" + qs if qs else "")))


# ---- item 9: import and first open --------------------------------------------------------
async def startup(url: str) -> dict[str, Any]:
    """Cold ``import heartsock`` and the first Socket's time to OPEN (this page's first use)."""
    was_loaded = "heartsock" in sys.modules
    t0 = time.perf_counter()
    import heartsock

    import_ms = (time.perf_counter() - t0) * 1000
    opened = _future()
    t1 = now()
    sock = heartsock.Socket(url, open_cb=lambda e: _settle(opened, now()), **QUIET)
    t2 = await opened
    sock.destroy()
    return {"import_ms": import_ms, "first_open_ms": t2 - t1, "was_loaded": was_loaded}


async def first_open(url: str) -> float:
    import heartsock

    opened = _future()
    t1 = now()
    sock = heartsock.Socket(url, open_cb=lambda e: _settle(opened, now()), **QUIET)
    t2 = await opened
    sock.destroy()
    return t2 - t1  # type: ignore[no-any-return]


# ---- item 1: receive ------------------------------------------------------------------------
class _Count:
    """The shared handler body: count messages and bytes; resolve at "done"."""

    def __init__(self) -> None:
        self.n = 0
        self.bytes = 0
        self.done = _future()


async def recv_bare(url: str) -> dict[str, Any]:
    c = _Count()
    ws = await js.hsb.open(url)

    def onmessage(e: Any) -> None:
        d = e.data
        if type(d) is str:
            if d == "done":
                _settle(c.done, now())
                return
            if d == "pong":
                return
        else:
            d = d.to_bytes()
        c.n += 1
        c.bytes += len(d)

    proxy = create_proxy(onmessage)
    ws.onmessage = proxy
    t0 = now()
    ws.send("go")
    t1 = await c.done
    ws.onmessage = None
    ws.close()
    proxy.destroy()
    return {"n": c.n, "bytes": c.bytes, "ms": t1 - t0}


async def recv_pyscript(url: str) -> dict[str, Any]:
    from pyscript import WebSocket

    c = _Count()
    opened = _future()

    def onmessage(event: Any) -> None:
        d = event.data
        if type(d) is str:
            if d == "done":
                _settle(c.done, now())
                return
            if d == "pong":
                return
        c.n += 1
        c.bytes += len(d)

    ws = WebSocket(url=url)
    ws.onopen = lambda e: _settle(opened, 1)
    ws.onmessage = onmessage
    await opened
    t0 = now()
    ws.send("go")
    t1 = await c.done
    ws.close()
    return {"n": c.n, "bytes": c.bytes, "ms": t1 - t0}


async def recv_heartsock_cb(url: str, mod: str = "heartsock") -> dict[str, Any]:
    heartsock = _hs(mod)

    c = _Count()
    opened = _future()
    errors: list[str] = []

    def cb(d: Any) -> None:
        if type(d) is str:
            if d == "done":
                _settle(c.done, now())
                return
            if d == "pong":
                return
        c.n += 1
        c.bytes += len(d)

    sock = heartsock.Socket(
        url, message_cb=cb, open_cb=lambda e: _settle(opened, 1), error_cb=lambda e: errors.append(e.reason), **QUIET
    )
    await opened
    t0 = now()
    sock.send("go")
    t1 = await c.done
    sock.destroy()
    return {"n": c.n, "bytes": c.bytes, "ms": t1 - t0, "errors": len(errors)}


async def recv_heartsock_iter(
    url: str, max_recv_queue: int = 10000, mod: str = "heartsock", quiet_ms: float = 2000
) -> dict[str, Any]:
    heartsock = _hs(mod)

    n = nbytes = 0
    errors: list[str] = []
    sock = heartsock.Socket(url, error_cb=lambda e: errors.append(e.reason), max_recv_queue=max_recv_queue, **QUIET)
    await sock.wait_open()
    t0 = now()
    last = [t0, 0.0]  # time of the last message; time of "done" (0: not seen)

    async def consume() -> None:
        nonlocal n, nbytes
        async for d in sock:
            last[0] = now()
            if type(d) is str:
                if d == "done":
                    last[1] = last[0]
                    return
                if d == "pong":
                    continue
            n += 1
            nbytes += len(d)

    task = asyncio.ensure_future(consume())
    sock.send("go")
    # The iterator drops what overflows max_recv_queue, "done" included: stop once quiet.
    while not task.done():
        await asyncio.wait([task], timeout=0.25)
        if not task.done() and now() - last[0] > quiet_ms:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    sock.destroy()
    end = last[1] or last[0]
    return {"n": n, "bytes": nbytes, "ms": end - t0, "errors": len(errors), "done_seen": bool(last[1])}


# ---- item 2: send ---------------------------------------------------------------------------
def _got(d: Any) -> bool:
    return type(d) is str and d.startswith("got:")


async def send_bare(url: str, n: int) -> dict[str, Any]:
    payloads = [seq(i) for i in range(n)]
    got = _future()
    ws = await js.hsb.open(url)

    def onmessage(e: Any) -> None:
        d = e.data
        if _got(d):
            _settle(got, (now(), d))

    proxy = create_proxy(onmessage)
    ws.onmessage = proxy
    send = ws.send
    t0 = now()
    for p in payloads:
        send(p)
    loop_ms = now() - t0
    t1, msg = await got
    ws.onmessage = None
    ws.close()
    proxy.destroy()
    return {"n": n, "ms": t1 - t0, "loop_ms": loop_ms, "server": msg[4:]}


async def send_pyscript(url: str, n: int) -> dict[str, Any]:
    from pyscript import WebSocket

    payloads = [seq(i) for i in range(n)]
    got = _future()
    opened = _future()

    def onmessage(event: Any) -> None:
        d = event.data
        if _got(d):
            _settle(got, (now(), d))

    ws = WebSocket(url=url)
    ws.onopen = lambda e: _settle(opened, 1)
    ws.onmessage = onmessage
    await opened
    send = ws.send
    t0 = now()
    for p in payloads:
        send(p)
    loop_ms = now() - t0
    t1, msg = await got
    ws.close()
    return {"n": n, "ms": t1 - t0, "loop_ms": loop_ms, "server": msg[4:]}


async def send_heartsock(url: str, n: int, mod: str = "heartsock") -> dict[str, Any]:
    heartsock = _hs(mod)

    payloads = [seq(i) for i in range(n)]
    got = _future()
    opened = _future()

    def cb(d: Any) -> None:
        if _got(d):
            _settle(got, (now(), d))

    sock = heartsock.Socket(url, message_cb=cb, open_cb=lambda e: _settle(opened, 1), **QUIET)
    await opened
    send = sock.send
    t0 = now()
    for p in payloads:
        send(p)
    loop_ms = now() - t0
    t1, msg = await got
    sock.destroy()
    return {"n": n, "ms": t1 - t0, "loop_ms": loop_ms, "server": msg[4:]}


async def flush_heartsock(url: str, n: int, mod: str = "heartsock") -> dict[str, Any]:
    """Open, force a reconnect, queue ``n`` sends while RECONNECTING, time OPEN → server has all."""
    heartsock = _hs(mod)
    State = heartsock.State

    payloads = [seq(i) for i in range(n)]
    got = _future()
    opened = _future()
    open_marks: list[float] = []

    def state_cb(old: Any, new: Any) -> None:
        if new is State.OPEN:
            open_marks.append(now())

    def cb(d: Any) -> None:
        if _got(d):
            _settle(got, (now(), d))

    sock = heartsock.Socket(
        url,
        message_cb=cb,
        state_cb=state_cb,
        open_cb=lambda e: _settle(opened, 1),
        max_queue=n,
        reconnect_time=0.2,
        **QUIET,
    )
    await opened
    sock.onreconnect()
    state_during = sock.state.name
    queued = [sock.send(p) for p in payloads]
    waiting = sock.queued
    t1, msg = await got
    t_open = open_marks[-1]
    sock.destroy()
    return {
        "n": n,
        "ms": t1 - t_open,
        "queued": waiting,
        "all_queued": not any(queued),
        "state_while_queueing": state_during,
        "server": msg[4:],
    }


# ---- item 3: echo round trip ---------------------------------------------------------------
async def echo_bare(url: str, n: int, size: int) -> list[float]:
    msg = "x" * size
    rtts: list[float] = []
    done = _future()
    ws = await js.hsb.open(url)
    t = 0.0

    def onmessage(e: Any) -> None:
        nonlocal t
        t1 = now()
        _ = e.data
        rtts.append(t1 - t)
        if len(rtts) == n:
            _settle(done, 1)
        else:
            t = now()
            ws.send(msg)

    proxy = create_proxy(onmessage)
    ws.onmessage = proxy
    t = now()
    ws.send(msg)
    await done
    ws.onmessage = None
    ws.close()
    proxy.destroy()
    return rtts


async def echo_pyscript(url: str, n: int, size: int) -> list[float]:
    from pyscript import WebSocket

    msg = "x" * size
    rtts: list[float] = []
    done = _future()
    opened = _future()
    t = 0.0

    def onmessage(event: Any) -> None:
        nonlocal t
        t1 = now()
        _ = event.data
        rtts.append(t1 - t)
        if len(rtts) == n:
            _settle(done, 1)
        else:
            t = now()
            ws.send(msg)

    ws = WebSocket(url=url)
    ws.onopen = lambda e: _settle(opened, 1)
    ws.onmessage = onmessage
    await opened
    t = now()
    ws.send(msg)
    await done
    ws.close()
    return rtts


async def echo_heartsock_cb(url: str, n: int, size: int, mod: str = "heartsock") -> list[float]:
    heartsock = _hs(mod)

    msg = "x" * size
    rtts: list[float] = []
    done = _future()
    opened = _future()
    t = 0.0

    def cb(d: Any) -> None:
        nonlocal t
        t1 = now()
        rtts.append(t1 - t)
        if len(rtts) == n:
            _settle(done, 1)
        else:
            t = now()
            sock.send(msg)

    sock = heartsock.Socket(url, message_cb=cb, open_cb=lambda e: _settle(opened, 1), **QUIET)
    await opened
    t = now()
    sock.send(msg)
    await done
    sock.destroy()
    return rtts


async def echo_heartsock_recv(url: str, n: int, size: int, mod: str = "heartsock") -> list[float]:
    heartsock = _hs(mod)

    msg = "x" * size
    rtts: list[float] = []
    sock = heartsock.Socket(url, **QUIET)
    await sock.wait_open()
    for _ in range(n):
        t = now()
        sock.send(msg)
        await sock.recv()
        rtts.append(now() - t)
    sock.destroy()
    return rtts


# ---- the FFI floor and heartsock's per-message cost, without a network --------------------
def _loop_ms(fn: Callable[[], Any], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) * 1000


async def profile(url: str, n: int, mod: str = "heartsock") -> dict[str, Any]:
    """Microseconds per message for each layer of the receive path (``performance.now()`` spans).

    JavaScript calls the handler proxies directly with a message-shaped object, so the
    numbers exclude the network and the browser's event dispatch; the Python-level rows
    call heartsock's methods in a loop, one layer at a time.
    """
    import inspect

    heartsock = _hs(mod)
    _browser, _core, _dispatch = (importlib.import_module(f"{mod}.{m}") for m in ("_browser", "_core", "_dispatch"))

    out: dict[str, float] = {}
    data = "x" * 16
    event = js.Object.new()
    event.data = data

    def us(ms: float) -> float:
        return ms * 1000 / n

    # FFI floor: JS → an empty Python function; JS → a handler that reads e.data.
    noop = create_proxy(lambda e: None)
    out["ffi_call_empty"] = us(js.hsb.callMany(noop, n, event))
    noop.destroy()
    reader = create_proxy(lambda e: e.data)
    out["ffi_call_read_data"] = us(js.hsb.callMany(reader, n, event))
    reader.destroy()
    counter = [0]

    def bare(e: Any) -> None:
        d = e.data
        if type(d) is str and d == "done":
            return
        counter[0] += 1

    bare_proxy = create_proxy(bare)
    out["bare_handler_via_js"] = us(js.hsb.callMany(bare_proxy, n, event))
    bare_proxy.destroy()

    # heartsock's real onmessage proxy, called from JS the same way.
    got = [0]

    def cb(d: Any) -> None:
        got[0] += 1

    opened = _future()
    sock = heartsock.Socket(url, message_cb=cb, open_cb=lambda e: _settle(opened, 1), **QUIET)
    await opened
    sid = sock._machine.socket_id
    ws, proxies = sock._transport._sockets[sid]
    onmessage = proxies[1]
    out["heartsock_handler_via_js"] = us(js.hsb.callMany(onmessage, n, event))

    # Python-level layers (no FFI), each in its own loop; a row that no longer fits
    # heartsock's internals is reported as None rather than failing the run.
    clock = sock._clock
    machine = sock._machine

    def core_only() -> None:
        machine.socket_message(sid, data, 0.0)
        machine.pop_output()

    def entry_noop(e: Any) -> None:
        pass

    rows: list[tuple[str, Callable[[], Callable[[], Any]]]] = [
        ("py_loop_overhead", lambda: lambda: None),
        ("py_on_message", lambda: lambda: sock.on_message(sid, data)),
        ("py_clock", lambda: clock),
        ("py_core_socket_message+pop", lambda: core_only),
        ("py_received_alloc", lambda: lambda: _core.Received(data)),
        ("py_perform_received", lambda: (lambda r: lambda: sock._perform(r))(_core.Received(data))),
        ("py_deliver", lambda: lambda: sock._deliver(data)),
        ("py_emit", lambda: lambda: sock._listeners.emit("message", data)),
        ("py_call_user", lambda: lambda: _dispatch.call_user(cb, data)),
        ("py_isawaitable_none", lambda: lambda: inspect.isawaitable(None)),
        ("py_cb_only", lambda: lambda: cb(data)),
        ("py_rearm", lambda: sock._rearm),
        ("py_next_deadline", lambda: machine.next_deadline),
        ("py_pump_empty", lambda: sock._pump),
        ("py_entry_wrapper", lambda: (lambda w: lambda: w(None))(_browser._entry(entry_noop))),
    ]
    for name, make in rows:
        try:
            out[name] = us(_loop_ms(make(), n))
        except Exception:  # heartsock's internals changed: skip the row
            out[name] = None
    sock.destroy()
    return {"n": n, "us_per_msg": out}


# ---- items 4–7 (Playwright page) -----------------------------------------------------------
class Events:
    """What callbacks report, as ``(name, time, *detail)``; ``await nth(name, k)`` waits without polling.

    (Polling with ``asyncio.sleep(d)`` for ``d`` ≤ 2 ms would spin: Pyodide's loop runs such
    sleeps through a MessageChannel at once, which keeps the main thread busy and delays
    the very timers and network events being measured.)
    """

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.counts: dict[str, int] = {}
        self._waiters: list[tuple[str, int, asyncio.Future[Any]]] = []

    def add(self, name: str, *detail: Any) -> None:
        entry = (name, now(), *detail)
        self.log.append(entry)
        self.counts[name] = self.counts.get(name, 0) + 1
        for w in list(self._waiters):
            if w[0] == name and self.counts[name] >= w[1]:
                self._waiters.remove(w)
                _settle(w[2], entry)

    def of(self, name: str) -> list[tuple[Any, ...]]:
        return [e for e in self.log if e[0] == name]

    async def nth(self, name: str, k: int, timeout: float | None = None) -> tuple[Any, ...]:
        """The ``k``-th (1-based) event called ``name``, waiting for it if needed.

        No timeout by default (the host notices a stalled page): in Pyodide a cancelled
        ``call_later`` keeps its callback alive until its deadline, so ``wait_for`` on every
        cycle of the leak soak would show up as live Python objects.
        """
        if self.counts.get(name, 0) >= k:
            return self.of(name)[k - 1]
        fut = _future()
        self._waiters.append((name, k, fut))
        await (fut if timeout is None else asyncio.wait_for(fut, timeout))
        return self.of(name)[k - 1]


async def dead_peer(url: str, heart: float, pong: float, trials: int) -> dict[str, Any]:
    """Server goes silent (TCP open) → heartsock abandons the socket; per trial, in ms."""
    import heartsock

    ev = Events()
    sock = heartsock.Socket(
        url,
        heart_time=heart,
        pong_timeout=pong,
        reconnect_time=0.1,
        reconnect_count=-1,
        open_cb=lambda e: ev.add("open"),
        close_cb=lambda e: ev.add("close", e.code),
    )
    results = []
    for i in range(trials):
        await ev.nth("open", i + 1)
        await asyncio.sleep(random.uniform(0.05, heart))  # a random phase of the heartbeat cycle
        t0 = now()
        await ctl("faults/silent", on=1)
        t_ack = now()
        _, t_close, code = await ev.nth("close", i + 1, timeout=10 * (heart + pong))
        await ctl("faults/silent", on=0)
        results.append({"ms": t_close - t0, "code": code, "ctl_rtt_ms": t_ack - t0})
    sock.destroy()
    return {"trials": results, "window_ms": (heart + pong) * 1000}


async def reconnect_latency(url: str, drop_trials: int, restart_trials: int, down_s: float) -> dict[str, Any]:
    """Server-side drop (reachable at once) and stop → start; OPEN against the scheduled retry."""
    import heartsock

    ev = Events()
    sock = heartsock.Socket(
        url,
        reconnect_time=0.5,
        min_uptime=0.3,
        reconnect_count=-1,
        reconnect_cb=lambda n, d: ev.add("retry", n, d),
        open_cb=lambda e: ev.add("open"),
        **QUIET,
    )
    await ev.nth("open", 1)
    drops, restarts = [], []
    for i in range(drop_trials + restart_trials):
        await asyncio.sleep(0.4)  # past min_uptime: the retry counter is back to 0
        opens, retries = ev.counts["open"], ev.counts.get("retry", 0)
        if i < drop_trials:
            await ctl("faults/drop")
        else:
            await ctl("faults/stop")
            await asyncio.sleep(down_s)
            await ctl("faults/start")
        t_up = now()
        _, t_open = await ev.nth("open", opens + 1)
        _, t_cb, attempt, delay = ev.of("retry")[-1]
        scheduled = t_cb + delay * 1000
        trial = {
            "overhead_ms": t_open - scheduled,
            "attempts": ev.counts.get("retry", 0) - retries,
            "last_delay_ms": delay * 1000,
        }
        if i < drop_trials:
            drops.append(trial)
        else:
            trial.update({"up_to_open_ms": t_open - t_up, "up_to_scheduled_ms": scheduled - t_up})
            restarts.append(trial)
    state = sock.state.name
    sock.destroy()
    return {"drop": drops, "restart": restarts, "state": state}


async def soak(url: str, cycles: int) -> dict[str, Any]:
    """``cycles`` forced reconnects (server aborts TCP, and client ``onreconnect()``, alternately)."""
    import heartsock

    ev = Events()
    sock = heartsock.Socket(
        url,
        reconnect_time=0.0,
        min_uptime=0.0,
        reconnect_count=-1,
        open_cb=lambda e: ev.add("open"),
        **QUIET,
    )
    t0 = now()
    for i in range(cycles):
        await ev.nth("open", i + 1)
        sock.send("x")
        sock.send(b"y")
        if i % 2:
            sock.onreconnect()
        else:
            await ctl("faults/drop")
    await ev.nth("open", cycles + 1)
    elapsed = now() - t0
    live_during = len(sock._transport._sockets)
    sock.destroy()
    await asyncio.sleep(0.1)
    gc.collect()
    return {
        "cycles": cycles,
        "opens": ev.counts.get("open", 0),
        "ms": elapsed,
        "live_sockets_before_destroy": live_during,
        "live_sockets_after": len(sock._transport._sockets),
        "timer_idle": sock._timer._handle is None,
        "state": sock.state.name,
    }


BARE: dict[str, Any] = {"sockets": [], "proxies": [], "timers": [], "pongs": 0}


async def many_bare_start(url: str, n: int, heart: float) -> int:
    """The Python floor for item 7: per socket, a ``create_proxy`` tick on ``setInterval`` sends
    "ping" and a ``create_proxy`` onmessage counts the answer (two Python entries a cycle)."""
    BARE["pongs"] = 0
    sockets = [await js.hsb.open(url) for _ in range(n)]

    def onmessage(e: Any) -> None:
        _ = e.data
        BARE["pongs"] += 1

    on_proxy = create_proxy(onmessage)
    BARE["proxies"].append(on_proxy)
    for ws in sockets:
        ws.onmessage = on_proxy
        tick = create_proxy(lambda ws=ws: ws.send("ping"))
        BARE["proxies"].append(tick)
        BARE["timers"].append(js.setInterval(tick, heart * 1000))
    BARE["sockets"] = sockets
    return len(sockets)


def many_bare_stop() -> dict[str, Any]:
    for t in BARE["timers"]:
        js.clearInterval(t)
    still_open = sum(1 for ws in BARE["sockets"] if ws.readyState == 1)
    for ws in BARE["sockets"]:
        ws.onmessage = None
        ws.close()
    for p in BARE["proxies"]:
        p.destroy()
    result = {"open": still_open, "pongs": BARE["pongs"]}
    BARE.update({"sockets": [], "proxies": [], "timers": [], "pongs": 0})
    return result


MANY: list[Any] = []
MANY_EVENTS: dict[str, int] = {"close": 0, "reconnect": 0, "error": 0}


async def many_start(url: str, n: int, heart: float, mod: str = "heartsock") -> int:
    heartsock = _hs(mod)
    State = heartsock.State

    MANY.clear()
    for key in MANY_EVENTS:
        MANY_EVENTS[key] = 0

    def bump(key: str) -> Callable[..., None]:
        def cb(*args: Any) -> None:
            MANY_EVENTS[key] += 1

        return cb

    for _ in range(n):
        MANY.append(
            heartsock.Socket(
                url, heart_time=heart, close_cb=bump("close"), reconnect_cb=bump("reconnect"), error_cb=bump("error")
            )
        )
    t0 = now()
    while not all(s.state is State.OPEN for s in MANY) and now() - t0 < 30000:
        await asyncio.sleep(0.05)
    return sum(s.state is State.OPEN for s in MANY)


def many_stop(mod: str = "heartsock") -> dict[str, Any]:
    State = _hs(mod).State

    result = {
        "open": sum(s.state is State.OPEN for s in MANY),
        "first_socket_ids": sorted({s._machine.socket_id for s in MANY}),
        "latency_ms_max": max(((s.latency or 0) * 1000 for s in MANY), default=0),
        **MANY_EVENTS,
    }
    for s in MANY:
        s.destroy()
    MANY.clear()
    return result
