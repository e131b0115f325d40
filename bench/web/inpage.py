"""The benchmark variants that run inside Pyodide (copied into the page as ``hsbench``).

Each variant does the work of its raw-JavaScript twin in ``bench/web/inpage.js`` and
returns a JSON-able summary; times are ``performance.now()`` milliseconds. Variants:

* ``bare``: ``js.WebSocket`` with a ``create_proxy`` handler — the FFI floor of any
  Python in the browser;
* ``pyscript``: PyScript's ``pyscript.WebSocket`` (PyScript page only);
* ``heartsock`` (``message_cb``), ``heartsock_iter`` (``async for``), ``heartsock_recv``
  (``await recv()``);
* ``plain`` and ``resume``: heartsock without and with sessions, against
  ``heartsock.server.serve()`` without and with ``resume=True`` (:func:`session`).

Only heartsock's public API is used. Every receive handler body is the same: stop at
``"done"``, skip a heartbeat ``"pong"``, count the message and its bytes.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import js
from pyodide.ffi import create_proxy

QUIET = {"heart_time": 30.0}  # no heartbeat during a measurement (runs last seconds)
# "ping"/"pong" below are heartsock.wire.HEARTBEAT_PING/_PONG, written out: importing anything
# from heartsock here would spoil `startup`, which times heartsock's first import.


def now() -> float:
    return js.performance.now()  # type: ignore[no-any-return]


def _future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


def _settle(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


async def ctl(name: str, **query: Any) -> Any:
    """Ask the host for something (a fault, a CPU reading) through ``/ctl/<name>``."""
    return json.loads(await js.hsb.ctlText(name + ("?" + urlencode(query) if query else "")))


async def _open(variant: str, url: str, on_message: Callable[[Any], None]) -> tuple[Any, Any]:
    """Open ``url`` the variant's way with ``on_message`` installed; return ``(send, close)``."""
    if variant == "bare":
        ws = await js.hsb.open(url)
        proxy = create_proxy(on_message)
        ws.onmessage = proxy

        def close() -> None:
            ws.onmessage = None
            ws.close()
            proxy.destroy()

        return ws.send, close
    if variant == "pyscript":
        from pyscript import WebSocket

        opened = _future()
        pws = WebSocket(url=url)
        pws.onopen = lambda e: _settle(opened, 1)
        pws.onmessage = on_message
        await opened
        return pws.send, pws.close
    import heartsock

    sock = heartsock.Socket(url, message_cb=on_message, **QUIET)
    await sock.wait_open()
    return sock.send, sock.destroy


# ---- startup (cold import, first open) --------------------------------------------------
async def startup(url: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    import heartsock  # noqa: F401 - the import is what is timed

    import_ms = (time.perf_counter() - t0) * 1000
    return {"import_ms": import_ms, "open_ms": await open_ms("heartsock", url)}


async def open_ms(variant: str, url: str) -> float:
    import heartsock

    t0 = now()
    sock = heartsock.Socket(url, **QUIET)
    await sock.wait_open()
    ms = now() - t0
    sock.destroy()
    return ms


# ---- receive: the server pushes a burst on "go" ------------------------------------------
async def recv(variant: str, url: str) -> dict[str, Any]:
    if variant == "heartsock_iter":
        return await _recv_iter(url)
    count = [0, 0]
    done = _future()
    to_bytes = variant == "bare"  # a JS ArrayBuffer; pyscript.WebSocket gives a memoryview
    if variant == "heartsock":

        def on(d: Any) -> None:
            if type(d) is str:
                if d == "done":
                    return _settle(done, now())
                if d == "pong":
                    return None
            count[0] += 1
            count[1] += len(d)
            return None
    else:

        def on(e: Any) -> None:
            d = e.data
            if type(d) is str:
                if d == "done":
                    return _settle(done, now())
                if d == "pong":
                    return None
            elif to_bytes:
                d = d.to_bytes()
            count[0] += 1
            count[1] += len(d)
            return None

    send, close = await _open(variant, url, on)
    early = list(count)  # handled before the window opened (none: the server waits for "go")
    t0 = now()
    send("go")
    t1 = await done
    close()
    return {"n": count[0] - early[0], "bytes": count[1] - early[1], "early": early[0], "ms": t1 - t0}


async def _recv_iter(url: str) -> dict[str, Any]:
    import heartsock

    n = nbytes = 0
    async with heartsock.connect(url, max_recv_queue=1 << 30, **QUIET) as sock:
        t0 = now()
        sock.send("go")
        async for d in sock:
            if type(d) is str:
                if d == "done":
                    break
                if d == "pong":
                    continue
            n += 1
            nbytes += len(d)
        t1 = now()
    return {"n": n, "bytes": nbytes, "ms": t1 - t0}


# ---- send while open; the server answers "got:{json}" once it holds all n -----------------
async def send(variant: str, url: str, n: int) -> dict[str, Any]:
    payloads = [f"{i:016d}" for i in range(n)]
    got = _future()

    def on(e: Any) -> None:
        d = e if variant == "heartsock" else e.data
        if type(d) is str and d.startswith("got:"):
            _settle(got, (now(), d))

    send_, close = await _open(variant, url, on)
    t0 = now()
    for p in payloads:
        send_(p)
    loop_ms = now() - t0
    t1, msg = await got
    close()
    return {"n": n, "ms": t1 - t0, "loop_ms": loop_ms, **_server(msg)}


def _server(msg: str) -> dict[str, Any]:
    """What the ``/count`` route reported: ``{"count": …, "in_order": …}``."""
    return json.loads(msg[4:])  # type: ignore[no-any-return]


async def flush(variant: str, url: str, n: int) -> dict[str, Any]:
    """Force a reconnect, queue ``n`` sends while RECONNECTING; time OPEN → the server has all."""
    import heartsock

    got = _future()
    opens: list[float] = []
    sock = heartsock.Socket(
        url,
        message_cb=lambda d: d.startswith("got:") and _settle(got, (now(), d)),
        state_cb=lambda old, new: new is heartsock.State.OPEN and opens.append(now()),
        max_queue=n,
        reconnect_time=0.2,
        **QUIET,
    )
    await sock.wait_open()
    sock.onreconnect()
    state = sock.state.name
    sent_now = sum(sock.send(f"{i:016d}") for i in range(n))  # True: written at once, False: queued
    queued = sock.queued
    t1, msg = await got
    sock.destroy()
    return {"n": n, "ms": t1 - opens[-1], "state": state, "queued": queued, "sent_now": sent_now, **_server(msg)}


# ---- echo: n sequential round trips -----------------------------------------------------
async def echo(variant: str, url: str, n: int, size: int) -> list[float]:
    msg = "x" * size
    rtts: list[float] = []
    if variant == "heartsock_recv":
        import heartsock

        async with heartsock.connect(url, **QUIET) as sock:
            for _ in range(n):
                t = now()
                sock.send(msg)
                await sock.recv()
                rtts.append(now() - t)
        return rtts
    done = _future()
    t = [0.0]

    def on(e: Any) -> None:
        t1 = now()
        if variant != "heartsock":
            _ = e.data
        rtts.append(t1 - t[0])
        if len(rtts) == n:
            _settle(done, 1)
        else:
            t[0] = now()
            send_(msg)

    send_, close = await _open(variant, url, on)
    t[0] = now()
    send_(msg)
    await done
    close()
    return rtts


# ---- sessions: resume=True against without, both on heartsock.server.serve() ------------
async def session(variant: str, urls: dict[str, str], what: str, n: int, size: int) -> dict[str, Any]:
    """``what``: ``"send"`` ``n`` messages until the server holds all, ``"recv"`` ``n`` pushed
    by the server, or ``"echo"`` ``n`` round trips (with ``message_cb``)."""
    import heartsock

    count, rtts, t = [0], [], [0.0]
    done = _future()
    payload = "x" * size

    def on(d: Any) -> None:
        if what == "echo":
            rtts.append(now() - t[0])
            if len(rtts) == n:
                return _settle(done, (now(), ""))
            t[0] = now()
            sock.send(payload)
        elif d == "done" or d.startswith("got:"):
            _settle(done, (now(), d))
        else:
            count[0] += 1
        return None

    resume = variant == "resume"
    sock = heartsock.Socket(urls[variant], message_cb=on, resume=resume, max_queue=n + 1, **QUIET)
    await sock.wait_open()
    t[0] = t0 = now()
    if what == "send":
        sock.send(f"count:{n}")
        for i in range(n):
            sock.send(f"{i:016d}")
    else:
        sock.send(f"push:{n}:{size}" if what == "recv" else payload)
    t1, msg = await done
    if resume:
        await sock.drain()  # every message acknowledged: the acks are counted too
    sock.destroy()
    out = {"n": n if what == "send" else count[0], "sent": n, "ms": t1 - t0, "rtts": rtts}
    return {**out, **_server(msg)} if what == "send" else out


# ---- heartbeat and recovery (faults through /ctl/) ----------------------------------------
class Events:
    """What callbacks report, as ``(name, time, *detail)``; ``await nth(name, k)`` waits without polling."""

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []
        self._waiters: list[tuple[str, int, asyncio.Future[Any]]] = []

    def add(self, name: str, *detail: Any) -> None:
        self.log.append((name, now(), *detail))
        for w in [w for w in self._waiters if w[0] == name and len(self.of(name)) >= w[1]]:
            self._waiters.remove(w)
            _settle(w[2], None)

    def of(self, name: str) -> list[tuple[Any, ...]]:
        return [e for e in self.log if e[0] == name]

    async def nth(self, name: str, k: int) -> tuple[Any, ...]:
        """The ``k``-th (1-based) event ``name``, waiting for it (no timeout: the host sees a stall)."""
        if len(self.of(name)) < k:
            fut = _future()
            self._waiters.append((name, k, fut))
            await fut
        return self.of(name)[k - 1]


async def dead_peer(url: str, heart: float, pong: float, trials: int) -> dict[str, Any]:
    """The server goes silent (TCP open): ms from the fault until heartsock abandons the socket."""
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
    trials_out = []
    for i in range(trials):
        await ev.nth("open", i + 1)
        await asyncio.sleep(random.uniform(0.05, heart))  # a random phase of the heartbeat cycle
        t0 = now()
        await ctl("faults/silent", on=1)
        _, t_close, code = await ev.nth("close", i + 1)
        await ctl("faults/silent", on=0)
        trials_out.append({"ms": t_close - t0, "code": code})
    sock.destroy()
    return {"trials": trials_out, "window_ms": (heart + pong) * 1000}


async def reconnect(url: str, drops: int, restarts: int, down_s: float) -> dict[str, Any]:
    """Server drop / stop-start: ms from the scheduled retry (``reconnect_cb``) to OPEN."""
    import heartsock

    ev = Events()
    sock = heartsock.Socket(
        url,
        reconnect_time=0.5,
        min_uptime=0.3,
        reconnect_count=-1,
        reconnect_cb=lambda n, d: ev.add("retry", d),
        open_cb=lambda e: ev.add("open"),
        **QUIET,
    )
    await ev.nth("open", 1)
    out: dict[str, list[float]] = {"drop": [], "restart": []}
    for i in range(drops + restarts):
        await asyncio.sleep(0.4)  # past min_uptime: the retry count is back to 0
        opens = len(ev.of("open"))
        if i < drops:
            await ctl("faults/drop")
        else:
            await ctl("faults/stop")
            await asyncio.sleep(down_s)
            await ctl("faults/start")
        _, t_open = await ev.nth("open", opens + 1)
        _, t_cb, delay = ev.of("retry")[-1]
        out["drop" if i < drops else "restart"].append(t_open - (t_cb + delay * 1000))
    state = sock.state.name
    sock.destroy()
    return {**out, "state": state}


async def soak(url: str, cycles: int) -> dict[str, Any]:
    """``cycles`` forced reconnects (server TCP abort and client ``onreconnect()``, alternately)."""
    import heartsock

    ev = Events()
    sock = heartsock.Socket(
        url, reconnect_time=0.0, min_uptime=0.0, reconnect_count=-1, open_cb=lambda e: ev.add("open"), **QUIET
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
    ms = now() - t0
    sock.destroy()
    await asyncio.sleep(0.1)
    return {"cycles": cycles, "opens": len(ev.of("open")), "ms": ms, "state": sock.state.name}


MANY: dict[str, list[Any]] = {"sockets": [], "proxies": [], "timers": []}


async def many_start(variant: str, url: str, n: int, heart: float) -> int:
    """``n`` sockets heartbeating every ``heart`` s: heartsock's own, or the Python floor
    (``bare``: a ``create_proxy`` tick on ``setInterval`` sends "ping", a ``create_proxy``
    onmessage reads the answer); return how many opened."""
    import heartsock

    if variant == "bare":
        on = create_proxy(lambda e: e.data)
        MANY["proxies"].append(on)
        for _ in range(n):
            ws = await js.hsb.open(url)
            ws.onmessage = on
            tick = create_proxy(lambda ws=ws: ws.send("ping"))
            MANY["sockets"].append(ws)
            MANY["proxies"].append(tick)
            MANY["timers"].append(js.setInterval(tick, heart * 1000))
        return n
    MANY["sockets"] = [heartsock.Socket(url, heart_time=heart) for _ in range(n)]
    for s in MANY["sockets"]:
        await s.wait_open()
    return sum(s.state is heartsock.State.OPEN for s in MANY["sockets"])


async def many_stop(variant: str) -> int:
    """Stop the sockets; return how many were still open."""
    sockets = MANY["sockets"]
    if variant == "bare":
        still_open = sum(ws.readyState == 1 for ws in sockets)
        for t in MANY["timers"]:
            js.clearInterval(t)
        for ws in sockets:
            ws.onmessage = None
            ws.close()
        for p in MANY["proxies"]:
            p.destroy()
    else:
        still_open = sum(s.state.name == "OPEN" for s in sockets)
        for s in sockets:
            s.destroy()
    MANY.update(sockets=[], proxies=[], timers=[])
    return still_open
