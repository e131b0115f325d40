"""``python -m bench.soak``: the demo server under hostile load, as numbers (``make soak``).

Starts ``python -m demo --host 127.0.0.1 --port 0`` as a black box (reads the URL it prints,
logs its output to ``bench/out/soak/demo-<pid>.log``) and runs these phases in order, each bounded
in time:

=============  ====================================================================
``idle``       2,000 idle WebSocket connections, held, then closed
``churn``      5,000 connect/disconnect cycles
``slowloris``  300 half-sent handshakes, trickled a header at a time and held open
``flood``      one client writing 1 KB messages to ``/ws/echo`` as fast as it can
``stuck``      one client in ``/ws/chat`` and ``/ws/feed`` that stops reading while a
               chatter sends 16 KB chat messages and the feed ticks
``echo``       20,000 echoes of 64 KB (8 clients)
``static``     300 concurrent GETs of the Pyodide ``.wasm`` (9.6 MB)
=============  ====================================================================

Throughout, a separate probe process (``python -m bench.soak --probe URL``, so that the
load generator's own work does not show up in its timings) is the well-behaved client: an
echo every 20 ms on one connection, a fresh connection (handshake + one echo) every
second, a chat message every 250 ms (timed until its broadcast comes back) and a count of
the feed's messages; it also times how late a 10 ms sleep wakes it (its own loop lag: what
the machine, not the demo, adds to its timings). For each phase the soak records the
demo's RSS (``VmRSS``) before, at its peak and after settling, the probe's echo p50/p99,
and the ``Traceback`` and ``ERROR`` lines the demo logged. Targets (issue 15): RSS back
within +20 MiB of where it was before the phase, never above 300 MiB; echo p99 under
50 ms; no traceback.

A full run writes ``bench/soak.json`` and renders the README's soak table from it
(:mod:`bench.soak_report`); ``--scale 0.1`` runs a tenth of everything and writes under
``bench/out/soak/``. If the demo's RSS passes ``--rss-abort`` MiB the demo is killed (to
spare the machine), the phase is marked aborted and the next phase gets a fresh demo.
``--commit HEAD`` runs the demo of a commit (a ``git archive`` of it) instead of the
working tree, so that uncommitted edits in a shared checkout stay out of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import soak_report

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "soak"
WASM_PATH = "/pyodide/pyodide.asm.wasm"
MIB = 1024 * 1024


# ---- helpers ----------------------------------------------------------------------------


def raise_nofile() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_mib(pid: int) -> float | None:
    """``VmRSS`` of process ``pid`` in MiB, or ``None`` once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` (nearest rank), ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q * len(ordered) - 1e-9)))  # 1-based nearest rank
    return ordered[rank - 1]


def stats(values: list[float]) -> dict[str, Any]:
    """Count, p50, p99 and max of timings in ms, rounded."""

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 2)

    return {
        "n": len(values),
        "p50": r(percentile(values, 0.50)),
        "p99": r(percentile(values, 0.99)),
        "max": r(max(values) if values else None),
    }


def mask_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One masked client-to-server WebSocket frame (FIN set) carrying ``payload``."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    key = os.urandom(4)
    keys = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(keys, "big")).to_bytes(n, "big")
    return head + key + masked


def upgrade_request(host: str, port: int, path: str) -> bytes:
    """A complete WebSocket handshake request, without ``Origin`` (a non-browser client)."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def raw_socket(host: str, port: int, *, rcvbuf: int | None = None) -> socket.socket:
    """A connected non-blocking TCP socket (with a small receive buffer if ``rcvbuf``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def raw_upgrade(sock: socket.socket, host: str, port: int, path: str) -> None:
    """Send a handshake on ``sock`` and read its answer; raise unless it is 101."""
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, upgrade_request(host, port, path))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await loop.sock_recv(sock, 4096)
        if not chunk:
            raise ConnectionError(f"closed during the handshake for {path}")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        status = head.split(b"\r\n", 1)[0]
        raise ConnectionError(f"handshake for {path}: {status!r}")


async def gather_limited(count: int, limit: int, job: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """``job(i)`` for ``i`` in ``range(count)``, ``limit`` at a time; exceptions are returned."""
    semaphore = asyncio.Semaphore(limit)

    async def one(i: int) -> Any:
        async with semaphore:
            return await job(i)

    return await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)


def errors_of(results: list[Any]) -> dict[str, int]:
    """How many of ``results`` are exceptions, by exception type."""
    counts: dict[str, int] = {}
    for result in results:
        if isinstance(result, BaseException):
            name = type(result).__name__
            counts[name] = counts.get(name, 0) + 1
    return counts


# ---- the probe: the well-behaved client, in its own process -----------------------------------


async def probe(url: str) -> None:
    """Print timings forever, one line each: ``<kind> <monotonic time> [<ms>|<reason>]``."""
    from websockets.asyncio.client import connect

    ws_base = url.replace("http", "ws", 1).rstrip("/")

    def out(kind: str, t: float, value: Any = "") -> None:
        print(f"{kind} {t:.6f} {value}", flush=True)

    async def echoes() -> None:
        n = 0
        while True:
            try:
                async with connect(f"{ws_base}/ws/echo", ping_interval=None, compression=None) as ws:
                    while True:
                        n += 1
                        token = f"soak-echo-{n}-" + "x" * 16
                        t0 = time.monotonic()
                        await ws.send(token)
                        try:
                            while (await asyncio.wait_for(ws.recv(), 5.0)) != token:
                                pass
                        except TimeoutError:
                            out("echo_timeout", t0)
                            continue
                        t1 = time.monotonic()
                        out("echo", t0, f"{(t1 - t0) * 1000:.3f}")
                        await asyncio.sleep(max(0.0, 0.02 - (time.monotonic() - t0)))
            except Exception as exc:  # noqa: BLE001 - every loss is a data point
                out("lost", time.monotonic(), f"echo:{type(exc).__name__}")
                await asyncio.sleep(0.5)

    async def fresh() -> None:
        while True:
            t0 = time.monotonic()
            try:
                async with asyncio.timeout(10.0):
                    async with connect(f"{ws_base}/ws/echo", ping_interval=None, compression=None) as ws:
                        await ws.send("soak-fresh")
                        await ws.recv()
                out("connect", t0, f"{(time.monotonic() - t0) * 1000:.3f}")
            except Exception as exc:  # noqa: BLE001
                out("connect_fail", t0, type(exc).__name__)
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))

    async def chat() -> None:
        n = 0
        while True:
            try:
                async with connect(f"{ws_base}/ws/chat", ping_interval=None, compression=None, max_size=2**22) as ws:
                    pending: dict[str, float] = {}

                    async def reader(pending: dict[str, float] = pending) -> None:
                        async for message in ws:
                            text = message if isinstance(message, str) else ""
                            for token in [t for t in pending if t in text]:
                                out("chat", pending[token], f"{(time.monotonic() - pending.pop(token)) * 1000:.3f}")

                    task = asyncio.create_task(reader())
                    try:
                        while not task.done():
                            n += 1
                            token = f"soak-chat-{n}"
                            for old, t in list(pending.items()):
                                if time.monotonic() - t > 5.0:
                                    out("chat_timeout", pending.pop(old))
                            pending[token] = time.monotonic()
                            await ws.send(token)
                            await asyncio.sleep(0.25)
                        await task
                    finally:
                        task.cancel()
            except Exception as exc:  # noqa: BLE001
                out("lost", time.monotonic(), f"chat:{type(exc).__name__}")
                await asyncio.sleep(0.5)

    async def feed() -> None:
        while True:
            try:
                async with connect(f"{ws_base}/ws/feed", ping_interval=None, compression=None) as ws:
                    async for _ in ws:
                        out("feed", time.monotonic())
            except Exception as exc:  # noqa: BLE001
                out("lost", time.monotonic(), f"feed:{type(exc).__name__}")
                await asyncio.sleep(0.5)

    async def lag() -> None:
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(0.01)
            out("lag", t0, f"{(time.monotonic() - t0 - 0.01) * 1000:.3f}")

    await asyncio.gather(echoes(), fresh(), chat(), feed(), lag())


# ---- the demo, a black box -----------------------------------------------------------------


class Demo:
    """``python -m demo`` in ``cwd`` on a free loopback port, its output in ``log``."""

    def __init__(self, cwd: Path, log: Path, extra_args: list[str]) -> None:
        self.cwd, self.log, self.extra_args = cwd, log, extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.host, self.port = "127.0.0.1", 0

    def start(self) -> None:
        cmd = [sys.executable, "-m", "demo", "--host", "127.0.0.1", "--port", "0", *self.extra_args]
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as sink:
            self.proc = subprocess.Popen(cmd, cwd=self.cwd, stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with open(self.log, "rb") as f:
                f.seek(offset)
                found = re.search(rb"https?://[^\s/]+/", f.read())
            if found:
                self.url = found.group(0).decode()
                parts = urlsplit(self.url)
                self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"the demo exited with {self.proc.returncode}; see {self.log}")
            time.sleep(0.05)
        raise RuntimeError(f"the demo printed no URL in 60 s; see {self.log}")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss(self) -> float | None:
        return rss_mib(self.proc.pid) if self.alive and self.proc else None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()


class Sampler(threading.Thread):
    """Samples the demo's RSS every 50 ms; kills the demo above ``abort_mib``."""

    def __init__(self, demo: Demo, abort_mib: float) -> None:
        super().__init__(name="rss", daemon=True)
        self.demo, self.abort_mib = demo, abort_mib
        self.peak = 0.0
        self.killed_at: float | None = None
        self._stop = threading.Event()

    def reset(self) -> None:
        self.peak = self.demo.rss() or 0.0

    def run(self) -> None:
        while not self._stop.wait(0.05):
            value = self.demo.rss()
            if value is None:
                continue
            self.peak = max(self.peak, value)
            if value > self.abort_mib and self.killed_at is None:
                self.killed_at = value
                self.demo.kill()

    def stop(self) -> None:
        self._stop.set()


class Probe:
    """The probe process and the timings it printed."""

    def __init__(self, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.soak", "--probe", url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[tuple[str, float, str]] = []
        self._reader = threading.Thread(target=self._read, name="probe", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            kind, t, *rest = line.split(" ", 2)
            self.lines.append((kind, float(t), rest[0].strip() if rest else ""))

    def window(self, start: float, end: float) -> dict[str, Any]:
        """The probe's timings between ``start`` and ``end`` (monotonic seconds)."""
        seen = [(k, v) for k, t, v in list(self.lines) if start <= t <= end]

        def ms(kind: str) -> list[float]:
            return [float(v) for k, v in seen if k == kind]

        feed = sum(1 for k, _ in seen if k == "feed")
        return {
            "echo_ms": {**stats(ms("echo")), "timeouts": sum(1 for k, _ in seen if k == "echo_timeout")},
            "connect_ms": {**stats(ms("connect")), "failures": sum(1 for k, _ in seen if k == "connect_fail")},
            "chat_ms": {**stats(ms("chat")), "timeouts": sum(1 for k, _ in seen if k == "chat_timeout")},
            "lag_ms": stats(ms("lag")),
            "feed_per_s": round(feed / max(end - start, 1e-9), 2),
            "probe_lost": sorted({v for k, v in seen if k == "lost"}),
        }

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def log_counts(log: Path, start: int, end: int) -> dict[str, int]:
    """Traceback lines, ERROR lines, lines and bytes the demo wrote between two offsets."""
    with open(log, "rb") as f:
        f.seek(start)
        text = f.read(max(0, end - start)).decode("utf-8", "replace")
    lines = text.splitlines()
    return {
        "tracebacks": sum(1 for line in lines if "Traceback" in line),
        "errors": sum(1 for line in lines if re.search(r"\bERROR\b|\bCRITICAL\b", line)),
        "lines": len(lines),
        "bytes": end - start,
    }


# ---- the phases --------------------------------------------------------------------------


@dataclass
class Plan:
    """Counts and durations; :meth:`scaled` shrinks them for a quick check."""

    idle: int = 2000
    idle_hold: float = 5.0
    churn: int = 5000
    slowloris: int = 300
    slowloris_hold: float = 20.0
    flood_s: float = 10.0
    stuck_s: float = 15.0
    echoes: int = 20000
    echo_size: int = 64_000
    echo_clients: int = 8
    static: int = 300

    def scaled(self, k: float) -> Plan:
        def n(v: int) -> int:
            return max(1, round(v * k))

        def s(v: float) -> float:
            return max(2.0, v * k)

        return Plan(
            n(self.idle),
            s(self.idle_hold),
            n(self.churn),
            n(self.slowloris),
            s(self.slowloris_hold),
            s(self.flood_s),
            s(self.stuck_s),
            n(self.echoes),
            self.echo_size,
            self.echo_clients,
            n(self.static),
        )


@dataclass
class Phase:
    """One phase: its name, its title for the README, and the coroutine that runs it."""

    name: str
    title: str
    run: Callable[[Demo], Awaitable[dict[str, Any]]]
    detail: dict[str, Any] = field(default_factory=dict)


def ws_connect(demo: Demo, path: str = "/ws/echo", **kwargs: Any) -> Any:
    from websockets.asyncio.client import connect

    options: dict[str, Any] = {"ping_interval": None, "compression": None, "open_timeout": 30, "max_size": 2**22}
    return connect(f"ws://{demo.host}:{demo.port}{path}", **{**options, **kwargs})


async def phase_idle(demo: Demo, plan: Plan) -> dict[str, Any]:
    t0 = time.monotonic()
    results = await gather_limited(plan.idle, 50, lambda i: ws_connect(demo))
    conns = [r for r in results if not isinstance(r, BaseException)]
    opened_s = time.monotonic() - t0
    await asyncio.sleep(plan.idle_hold)
    from websockets.protocol import State

    still_open = sum(1 for c in conns if c.state is State.OPEN)
    closing = await gather_limited(len(conns), 100, lambda i: conns[i].close())
    return {
        "opened": len(conns),
        "open_errors": errors_of(results),
        "open_seconds": round(opened_s, 2),
        "still_open_after_hold": still_open,
        "close_errors": errors_of(closing),
    }


async def phase_churn(demo: Demo, plan: Plan) -> dict[str, Any]:
    async def cycle(i: int) -> None:
        async with ws_connect(demo):
            pass

    t0 = time.monotonic()
    results = await gather_limited(plan.churn, 20, cycle)
    seconds = time.monotonic() - t0
    return {
        "cycles": plan.churn,
        "errors": errors_of(results),
        "cycles_per_s": round(plan.churn / seconds, 1),
    }


async def phase_slowloris(demo: Demo, plan: Plan) -> dict[str, Any]:
    head = f"GET /ws/echo HTTP/1.1\r\nHost: {demo.host}:{demo.port}\r\nUpgrade: websocket\r\n".encode()
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def open_one(i: int) -> None:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(demo.host, demo.port), 10)
        writer.write(head)
        conns.append((reader, writer))

    results = await gather_limited(plan.slowloris, 50, open_one)
    closed_by_server: list[float] = []
    t0 = time.monotonic()

    async def watch(reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(Exception):
            while await reader.read(4096):
                pass
        closed_by_server.append(time.monotonic() - t0)

    watchers = [asyncio.create_task(watch(r)) for r, _ in conns]
    n = 0
    while time.monotonic() - t0 < plan.slowloris_hold:
        await asyncio.sleep(min(2.0, plan.slowloris_hold - (time.monotonic() - t0)))
        n += 1
        for _, writer in conns:  # a header line now and then: the classic slowloris trickle
            if not writer.is_closing():
                with contextlib.suppress(Exception):
                    writer.write(f"X-Trickle-{n}: {n}\r\n".encode())
    for task in watchers:
        task.cancel()
    for _, writer in conns:
        writer.close()
    return {
        "opened": len(conns),
        "open_errors": errors_of(results),
        "held_s": plan.slowloris_hold,
        "closed_by_server": len(closed_by_server),
        "first_closed_after_s": round(min(closed_by_server), 2) if closed_by_server else None,
    }


async def phase_flood(demo: Demo, plan: Plan) -> dict[str, Any]:
    sock = await raw_socket(demo.host, demo.port)
    await raw_upgrade(sock, demo.host, demo.port, "/ws/echo")
    reader, writer = await asyncio.open_connection(sock=sock)
    chunk = b"".join(mask_frame(b"f" * 1024) for _ in range(64))
    received = 0
    eof_at: float | None = None
    t0 = time.monotonic()

    async def drain() -> None:
        nonlocal received, eof_at
        with contextlib.suppress(Exception):
            while data := await reader.read(1 << 16):
                received += len(data)
        eof_at = time.monotonic() - t0

    task = asyncio.create_task(drain())
    sent = 0
    error = ""
    blocked = False
    try:
        while time.monotonic() - t0 < plan.flood_s and eof_at is None:
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), max(0.1, plan.flood_s - (time.monotonic() - t0)))
            sent += 64
    except TimeoutError:
        blocked = True  # the server stopped reading us: TCP flow control held the flood back
    except ConnectionError as exc:
        error = type(exc).__name__
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 3)
    task.cancel()
    return {
        "messages_sent": sent,
        "mb_sent": round(sent * 1030 / 1e6, 1),
        "mb_echoed": round(received / 1e6, 1),
        "closed_by_server_after_s": round(eof_at, 2) if eof_at is not None and eof_at < plan.flood_s else None,
        "blocked_by_backpressure_at_end": blocked,
        "writer_error": error or None,
    }


async def phase_stuck(demo: Demo, plan: Plan) -> dict[str, Any]:
    stuck: dict[str, socket.socket] = {}
    for path in ("/ws/chat", "/ws/feed"):
        sock = await raw_socket(demo.host, demo.port, rcvbuf=4096)
        await raw_upgrade(sock, demo.host, demo.port, path)
        stuck[path] = sock  # never read from again
    sent = 0
    t0 = time.monotonic()
    async with ws_connect(demo, "/ws/chat") as chatter:

        async def drain() -> None:
            async for _ in chatter:
                pass

        task = asyncio.create_task(drain())
        text = "c" * 16_000
        while time.monotonic() - t0 < plan.stuck_s:
            await chatter.send(text)
            sent += 1
            await asyncio.sleep(0.02)
        task.cancel()
    # Did the server close the stuck client? Read what is buffered: an EOF behind it says so.
    closed: dict[str, bool] = {}
    loop = asyncio.get_running_loop()
    for path, sock in stuck.items():
        closed[path] = False
        try:
            async with asyncio.timeout(3):
                while await loop.sock_recv(sock, 1 << 16):
                    pass
            closed[path] = True
        except TimeoutError:
            pass
        except ConnectionError:
            closed[path] = True  # reset by the server
        sock.close()
    return {"chat_messages_sent": sent, "chat_message_bytes": 16_000, "stuck_closed_by_server": closed}


async def phase_echo(demo: Demo, plan: Plan) -> dict[str, Any]:
    payload = os.urandom(plan.echo_size)
    per_client = plan.echoes // plan.echo_clients
    done = 0
    bad = 0

    async def client(i: int) -> None:
        nonlocal done, bad
        async with ws_connect(demo) as ws:
            for _ in range(per_client):
                await ws.send(payload)
                reply = await asyncio.wait_for(ws.recv(), 30)
                done += 1
                bad += reply != payload

    t0 = time.monotonic()
    results = await gather_limited(plan.echo_clients, plan.echo_clients, client)
    seconds = time.monotonic() - t0
    return {
        "echoes": done,
        "wrong": bad,
        "bytes_each": plan.echo_size,
        "errors": errors_of(results),
        "echoes_per_s": round(done / seconds, 1),
    }


async def phase_static(demo: Demo, plan: Plan, wasm_size: int) -> dict[str, Any]:
    request = (f"GET {WASM_PATH} HTTP/1.1\r\nHost: {demo.host}:{demo.port}\r\nConnection: close\r\n\r\n").encode()

    async def get(i: int) -> tuple[int, int, float]:
        t = time.monotonic()
        reader, writer = await asyncio.wait_for(asyncio.open_connection(demo.host, demo.port), 30)
        try:
            writer.write(request)
            async with asyncio.timeout(180):
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                body = 0
                while data := await reader.read(1 << 18):
                    body += len(data)
        finally:
            writer.close()
        return status, body, time.monotonic() - t

    t0 = time.monotonic()
    results = await asyncio.gather(*(get(i) for i in range(plan.static)), return_exceptions=True)
    ok = [r for r in results if not isinstance(r, BaseException)]
    complete = [r for r in ok if r[0] == 200 and r[1] >= wasm_size]
    return {
        "requests": plan.static,
        "complete": len(complete),
        "statuses": sorted({r[0] for r in ok}),
        "errors": errors_of(results),
        "file_mb": round(wasm_size / 1e6, 1),
        "seconds": round(time.monotonic() - t0, 2),
        "slowest_s": round(max((r[2] for r in ok), default=0.0), 2),
    }


# ---- the run ----------------------------------------------------------------------------------


async def settle(demo: Demo, ceiling: float, minimum: float = 3.0, longest: float = 15.0) -> tuple[float | None, float]:
    """RSS after the phase, and the seconds waited: ``minimum`` s, then until it is at most
    ``ceiling`` (a server may give memory back a little after its clients left), up to
    ``longest`` s."""
    t0 = time.monotonic()
    await asyncio.sleep(minimum)
    now = demo.rss()
    while now is not None and now > ceiling and time.monotonic() - t0 < longest:
        await asyncio.sleep(0.5)
        now = demo.rss()
    return now, time.monotonic() - t0


async def warm_up(demo: Demo) -> None:
    """A few echoes and one small page, so the baseline counts what any use loads."""
    async with ws_connect(demo) as ws:
        for i in range(20):
            await ws.send(f"warm-{i}")
            await ws.recv()
    reader, writer = await asyncio.open_connection(demo.host, demo.port)
    writer.write(f"GET / HTTP/1.1\r\nHost: {demo.host}:{demo.port}\r\nConnection: close\r\n\r\n".encode())
    while await reader.read(1 << 16):
        pass
    writer.close()
    await asyncio.sleep(2.0)


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    """Run every phase; return the results (``bench/soak.json``'s content)."""
    plan = Plan().scaled(args.scale)
    wasm_size = (ROOT / "node_modules" / "pyodide" / "pyodide.asm.wasm").stat().st_size
    phases = [
        Phase("idle", f"{plan.idle:,} idle WebSocket connections", lambda d: phase_idle(d, plan)),
        Phase("churn", f"{plan.churn:,} connect/disconnect cycles", lambda d: phase_churn(d, plan)),
        Phase("slowloris", f"{plan.slowloris:,} slowloris handshakes", lambda d: phase_slowloris(d, plan)),
        Phase("flood", "a flooding client", lambda d: phase_flood(d, plan)),
        Phase("stuck", "a client that stops reading", lambda d: phase_stuck(d, plan)),
        Phase("echo", f"{plan.echoes:,} × {plan.echo_size // 1000} KB echoes", lambda d: phase_echo(d, plan)),
        Phase(
            "static",
            f"{plan.static:,} concurrent GETs of the {wasm_size / 1e6:.1f} MB wasm",
            lambda d: phase_static(d, plan, wasm_size),
        ),
    ]
    wanted = args.phases.split(",") if args.phases else [p.name for p in phases]
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / f"demo-{os.getpid()}.log"  # one per run: two soaks at once must not share it
    log.write_bytes(b"")
    if args.commit:
        demo_dir, version = snapshot(args.commit)
    else:
        demo_dir = Path(args.demo_dir).resolve()
        version = demo_version(demo_dir)  # what the demo starts from, not what is there at the end
    demo = Demo(demo_dir, log, args.demo_arg or [])
    nofile = raise_nofile()
    started = time.monotonic()
    load_before = os.getloadavg()
    demo.start()
    await warm_up(demo)
    probe = Probe(demo.url)
    sampler = Sampler(demo, args.rss_abort)
    sampler.start()
    await asyncio.sleep(3.0)  # the probe connects; its first timings are not part of any phase
    baseline = demo.rss() or 0.0
    results: list[dict[str, Any]] = []
    try:
        for phase in phases:
            if phase.name not in wanted:
                continue
            restarted = False
            if not demo.alive:  # killed above --rss-abort in an earlier phase: start afresh
                probe.stop()
                demo.start()
                await warm_up(demo)
                probe = Probe(demo.url)
                sampler.demo = demo
                sampler.killed_at = None
                await asyncio.sleep(3.0)
                baseline = demo.rss() or 0.0
                restarted = True
            print(f"soak: {phase.name}: {phase.title} …", file=sys.stderr, flush=True)
            before = demo.rss()
            sampler.reset()
            log_start = log.stat().st_size
            t0 = time.monotonic()
            error = None
            try:
                detail = await asyncio.wait_for(phase.run(demo), args.phase_timeout)
            except Exception as exc:  # noqa: BLE001 - a phase that breaks is a result too
                detail, error = {}, f"{type(exc).__name__}: {exc}"[:300]
            t1 = time.monotonic()
            peak = sampler.peak
            killed = sampler.killed_at
            ceiling = (before or baseline) + soak_report.TARGETS["rss_after_over_before_mib"]
            after, settle_s = await settle(demo, ceiling) if demo.alive else (None, 0.0)
            window = probe.window(t0, t1)
            record: dict[str, Any] = {
                "name": phase.name,
                "title": phase.title,
                "seconds": round(t1 - t0, 2),
                "load_average_1min": round(os.getloadavg()[0], 2),
                "rss_mib": {
                    "baseline": round(baseline, 1),
                    "before": None if before is None else round(before, 1),
                    "peak": round(peak, 1),
                    "after": None if after is None else round(after, 1),
                    "settle_s": round(settle_s, 1),
                },
                **window,
                "log": log_counts(log, log_start, log.stat().st_size),
                "detail": detail,
                "restarted_demo": restarted,
                "aborted": None
                if killed is None
                else f"demo killed at {killed:.0f} MiB (--rss-abort {args.rss_abort:g})",
                "error": error,
            }
            record["met"] = soak_report.checks(record)
            results.append(record)
            print(f"soak: {phase.name}: {soak_report.one_line(record)}", file=sys.stderr, flush=True)
    finally:
        sampler.stop()
        probe.stop()
        demo.stop()
        if args.commit:  # the snapshot: unlink the links to this checkout's assets, then remove the copy
            for name in ("node_modules", "vendor", "dist"):
                (demo_dir / name).unlink(missing_ok=True)
            shutil.rmtree(demo_dir, ignore_errors=True)
    return {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "demo": version,
            "command": "python -m demo --host 127.0.0.1 --port 0" + "".join(f" {a}" for a in args.demo_arg or []),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "nofile_limit": nofile,
            "scale": args.scale,
            "seconds": round(time.monotonic() - started, 1),
            "log_total": log_counts(log, 0, log.stat().st_size),
        },
        "targets": soak_report.TARGETS,
        "phases": results,
        "met": all(all(r["met"].values()) for r in results) and len(results) == len(phases),
    }


def _git(cwd: Path, *args: str) -> str:
    try:
        run = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return run.stdout.strip() if run.returncode == 0 else ""


def demo_version(cwd: Path) -> str:
    """The last commit of ``demo/`` in ``cwd`` (``"unknown"`` outside git), and whether
    ``demo/`` has uncommitted changes there."""
    commit = _git(cwd, "log", "-1", "--format=%h %s", "--", "demo/")[:100] or "unknown"
    dirty = _git(cwd, "status", "--porcelain", "--", "demo/")
    return commit + (" + uncommitted changes" if dirty else "")


def snapshot(commit: str) -> tuple[Path, str]:
    """The repository at ``commit`` (``git archive``) in a fresh directory, with this
    checkout's installed assets (node_modules, vendor, dist) linked in; and its label."""
    import tempfile

    label = _git(ROOT, "log", "-1", "--format=%h %s", commit, "--", "demo/")[:100]
    if not label:
        raise SystemExit(f"soak: no commit {commit!r} with a demo/ in this repository")
    where = Path(tempfile.mkdtemp(prefix="soak-demo-"))
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    for name in ("node_modules", "vendor", "dist"):
        (where / name).symlink_to(ROOT / name)
    sha = _git(ROOT, "rev-parse", "--short", commit)
    return where, f"{label} (snapshot of {sha})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every count and duration (quick check: 0.1)")
    parser.add_argument("--phases", help="comma-separated phases to run (default: all)")
    parser.add_argument(
        "--out", type=Path, help="results file (default bench/soak.json at scale 1, else bench/out/soak/)"
    )
    parser.add_argument("--no-readme", action="store_true", help="do not render the README's soak table")
    parser.add_argument("--demo-dir", default=str(ROOT), help="run `python -m demo` from this directory")
    parser.add_argument(
        "--commit", help="run the demo of this commit (a git archive of it; e.g. HEAD, without uncommitted changes)"
    )
    parser.add_argument("--demo-arg", action="append", help="an extra argument for the demo (repeatable)")
    parser.add_argument("--rss-abort", type=float, default=1536.0, help="kill the demo above this RSS in MiB")
    parser.add_argument("--phase-timeout", type=float, default=240.0, help="seconds before a phase is abandoned")
    parser.add_argument("--probe", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        raise_nofile()
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(probe(args.probe))
        return 0
    full = args.scale == 1.0 and not args.phases
    out = args.out or (soak_report.SOAK if full else OUT / "soak.json")
    result = asyncio.run(soak(args))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(soak_report.dump(result))
    if full and not args.no_readme and out == soak_report.SOAK:
        soak_report.render(result)
    print(soak_report.table(result))
    print(f"\n{'all targets met' if result['met'] else 'targets NOT met'}; {result['meta']['seconds']} s; {out}")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
