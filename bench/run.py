"""Runs the benchmarks and collects the raw results (``bench/out/results.json``).

Every browser measurement runs in a headless Chromium started by path, with no DevTools
client (see PERFORMANCE.md, "How it was measured"): a PyScript page runs :func:`plan`, then
fresh bare-Pyodide pages time a cold import. A page fetches its plan from ``/ctl/plan``,
posts every step to ``/ctl/step`` and injects faults through ``/ctl/faults/…``; the host
reads the renderer main thread's CPU time from ``/proc`` around every step. Then the storm
simulation runs on CPython (:mod:`bench.storm`).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from devtools.browser import CHROMIUM, FLAGS
from devtools.static import ROOT, Mounts, check_assets

from . import storm
from .servers import BenchHttp, BenchServer

WEB = Path(__file__).resolve().parent / "web"
CHROMIUM_FLAGS = [
    *FLAGS,
    "--headless",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--disable-extensions",
    "--mute-audio",
    "--js-flags=--expose-gc",  # the soak collects garbage before reading the heap
    "--enable-precise-memory-info",  # performance.memory unrounded
]


@dataclass(frozen=True)
class Config:
    """Counts and durations; :data:`FULL` for ``make bench``, :data:`SMOKE` for a seconds-long check."""

    smoke: bool = False
    rounds: int = 5
    send_rounds: int = 3  # the send rate is the browser's in every variant: fewer rounds
    recv_n: int = 100_000
    recv_size: int = 16
    bin_n: int = 1000
    bin_size: int = 65536
    send_n: int = 100_000
    flush_n: int = 10_000
    echo_n: int = 2000
    echo_size: int = 16
    cold_pages: int = 3
    dead_trials: int = 10
    dead_heart: float = 1.0
    dead_pong: float = 1.0
    reconnect_drops: int = 10
    reconnect_restarts: int = 5
    reconnect_down: float = 1.0
    many_n: int = 200
    many_heart: float = 1.0
    many_seconds: float = 15.0
    idle_seconds: float = 5.0
    soak_cycles: int = 1000
    soak_warmup: int = 20
    storm_clients: int = 10_000


FULL = Config()
SMOKE = replace(
    FULL,
    smoke=True,
    rounds=1,
    send_rounds=1,
    recv_n=300,
    bin_n=5,
    send_n=300,
    flush_n=50,
    echo_n=30,
    cold_pages=1,
    dead_trials=1,
    dead_heart=0.3,
    dead_pong=0.3,
    reconnect_drops=1,
    reconnect_restarts=1,
    reconnect_down=0.2,
    many_n=5,
    many_heart=0.5,
    many_seconds=1.0,
    idle_seconds=0.3,
    soak_cycles=10,
    soak_warmup=2,
    storm_clients=300,
)

RECV = ("raw_js", "bare", "pyscript", "heartsock", "heartsock_iter")
SEND = ("raw_js", "bare", "pyscript", "heartsock")
ECHO = ("raw_js", "bare", "pyscript", "heartsock", "heartsock_recv")
Step = dict[str, Any]
PROC = Path("/proc")


def renderer_main_cpu_ns() -> int | None:
    """CPU nanoseconds used by the main threads (``CrRendererMain``) of the Chromium renderers
    descending from this process (not other sessions' browsers); ``None`` without ``/proc``."""
    if not (PROC / "self" / "task").is_dir():
        return None
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if stat:
            children.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(entry.name))
    total, todo = 0, [os.getpid()]
    while todo:
        for pid in children.get(todo.pop(), []):
            todo.append(pid)
            try:
                if b"--type=renderer" in (PROC / str(pid) / "cmdline").read_bytes():
                    # The main thread is the one whose id is the process id.
                    total += int((PROC / str(pid) / "task" / str(pid) / "schedstat").read_text().split()[0])
            except (OSError, ValueError):
                continue
    return total


def say(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def _call(variant: str, py: str, js: str, args: list[Any]) -> Step:
    return {"js": js, "args": args} if variant == "raw_js" else {"py": py, "args": [variant, *args]}


def plan(cfg: Config, url: Any) -> list[Step]:
    """The PyScript page's steps; ``url(path)`` gives the bench server's URL for ``path``."""
    echo = url("/echo")
    comparisons: dict[str, tuple[tuple[str, ...], str, str, list[Any]]] = {
        "recv_text": (RECV, "recv", "recv", [url(f"/push/{cfg.recv_n}/{cfg.recv_size}")]),
        "recv_bin": (RECV, "recv", "recv", [url(f"/pushbin/{cfg.bin_n}/{cfg.bin_size}")]),
        "send": (SEND, "send", "send", [url(f"/count/{cfg.send_n}"), cfg.send_n]),
        "flush": (("raw_js", "heartsock"), "flush", "flush", [url(f"/count/{cfg.flush_n}"), cfg.flush_n]),
        "echo": (ECHO, "echo", "echo", [echo, cfg.echo_n, cfg.echo_size]),
        "open": (("raw_js", "heartsock"), "open_ms", "openMs", [echo]),
    }
    steps: list[Step] = [{"id": "startup", "py": "startup", "args": [echo]}]
    # An unrecorded short receive run of every variant first: first runs are slower (JIT warm-up).
    warm = url(f"/push/{max(1, cfg.recv_n // 10)}/{cfg.recv_size}")
    steps += [{"id": "warmup", "variant": v, **_call(v, "recv", "recv", [warm])} for v in RECV]
    for r in range(cfg.rounds):
        for bench, (variants, py, js, args) in comparisons.items():
            if bench == "send" and r >= cfg.send_rounds:
                continue
            k = r % len(variants)
            for v in variants[k:] + variants[:k]:
                steps.append({"id": bench, "variant": v, "round": r, **_call(v, py, js, args)})
    fault: list[Step] = [
        {"id": "dead_peer", "py": "dead_peer", "args": [echo, cfg.dead_heart, cfg.dead_pong, cfg.dead_trials]},
        {
            "id": "reconnect",
            "py": "reconnect",
            "args": [echo, cfg.reconnect_drops, cfg.reconnect_restarts, cfg.reconnect_down],
        },
        {"id": "many", "variant": "idle", "hold": cfg.idle_seconds},
    ]
    many_args = [echo, cfg.many_n, cfg.many_heart]
    for v in ("raw_js", "bare", "heartsock"):
        start = (
            {"js": "manyStart", "args": many_args} if v == "raw_js" else {"py": "many_start", "args": [v, *many_args]}
        )
        stop = {"js": "manyStop", "args": []} if v == "raw_js" else {"py": "many_stop", "args": [v]}
        fault.append({"id": "many", "variant": v, "hold": cfg.many_seconds, "start": start, "stop": stop})
    fault += [
        {"id": "trace_proxies", "js": "traceProxies", "args": []},
        {"id": "soak_warmup", "py": "soak", "args": [echo, cfg.soak_warmup]},
        {"id": "memory_before", "js": "memory", "args": []},
        {"id": "soak", "py": "soak", "args": [echo, cfg.soak_cycles]},
        {"id": "memory_after", "js": "memory", "args": []},
    ]
    return steps + fault


class Pages:
    """Loads pages one at a time, each in a fresh Chromium, and collects what they post."""

    def __init__(self, http: BenchHttp, server: BenchServer) -> None:
        self.server = server
        self.http = http
        self.pages: dict[str, dict[str, Any]] = {}
        self.current = ""
        self._cpu_at_mark: dict[tuple[str, int], tuple[int | None, float]] = {}
        self._progress = threading.Event()
        self._finished = threading.Event()
        for name in ("plan", "mark", "step", "done", "error", "cpu"):
            http.control(name, getattr(self, "_" + name))
        http.control("faults/silent", lambda q: server.set_silent(q.get("on") == "1"))
        http.control("faults/drop", lambda q: server.call(server.drop_all))
        http.control("faults/stop", lambda q: server.call(server.stop))
        http.control("faults/start", lambda q: server.call(server.start))

    def _plan(self, q: dict[str, Any]) -> Any:
        return self.pages[q["page"]]["plan"]

    def _cpu(self, q: dict[str, Any]) -> Any:
        return {
            "renderer_ns": renderer_main_cpu_ns(),
            "t": time.monotonic(),
            "heartbeats": self.server.call(self.server.heartbeats),
            "server_s": self.server.cpu(),
        }

    def _mark(self, q: dict[str, Any]) -> Any:
        self._cpu_at_mark[(q["page"], int(q["i"]))] = (renderer_main_cpu_ns(), self.server.cpu())
        return True

    def _step(self, q: dict[str, Any]) -> Any:
        cpu, server_cpu = renderer_main_cpu_ns(), self.server.cpu()
        page, i = self.pages[q["page"]], int(q["i"])
        step = {**page["plan"][i], **q["body"]}
        cpu0, server0 = self._cpu_at_mark.pop((q["page"], i), (None, 0.0))
        if cpu is not None and cpu0 is not None:
            step["cpu_ms"] = (cpu - cpu0) / 1e6
        step["server_cpu_ms"] = (server_cpu - server0) * 1000
        page["steps"].append(step)
        status = f"error: {str(step['error'])[:300]}" if step.get("error") else f"{step['ms'] / 1000:.1f}s"
        say(f"  [{q['page']} {i + 1}/{len(page['plan'])}] {step['id']} {step.get('variant', '')}: {status}")
        self._progress.set()
        return True

    def _done(self, q: dict[str, Any]) -> Any:
        self.pages[q["page"]]["done"] = q["body"]
        self._finished.set()
        self._progress.set()
        return True

    def _error(self, q: dict[str, Any]) -> Any:
        error = (q.get("body") or {}).get("error", "unknown error")
        page = self.pages[self.current]
        page["error"] = page["error"] or error
        say(f"  page error: {error}")
        self._finished.set()
        self._progress.set()
        return True

    def run(self, key: str, path: str, steps: list[Step], stall_timeout: float = 120.0) -> dict[str, Any]:
        """Load ``path`` with ``steps`` as its plan; return when it is done, fails or stalls."""
        page: dict[str, Any] = {"plan": steps, "steps": [], "error": None}
        self.pages[key] = page
        self.current = key
        self._finished.clear()
        profile = tempfile.mkdtemp(prefix="hsbench-chromium-")
        url = f"{self.http.url}{path}?page={key}"
        proc = subprocess.Popen(
            [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while not self._finished.is_set():
                self._progress.clear()
                if not self._progress.wait(stall_timeout) and not self._finished.is_set():
                    page["error"] = f"no progress for {stall_timeout:.0f}s (step {len(page['steps']) + 1})"
                    break
                if proc.poll() is not None:
                    page["error"] = page["error"] or f"Chromium exited with {proc.returncode}"
                    break
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            shutil.rmtree(profile, ignore_errors=True)
        if page["error"]:
            say(f"  {key}: {page['error']}")
        return page


def run(cfg: Config, storm_png: Path | None) -> dict[str, Any]:
    """Run every benchmark; return the raw results."""
    check_assets()
    t0 = time.monotonic()
    load_start = os.getloadavg()
    say(f"heartsock bench ({'smoke' if cfg.smoke else 'full'}); load average {load_start[0]:.2f}")
    server = BenchServer()
    http = BenchHttp(Mounts.standard(extra={"/bench/": WEB}))
    try:
        pages = Pages(http, server)
        say("pages: the PyScript page runs the plan")
        pages.run("pyscript", "/bench/pyscript.html", plan(cfg, server.url))
        for i in range(cfg.cold_pages):
            say(f"cold page {i + 1}/{cfg.cold_pages}")
            server.reset()
            pages.run(
                f"cold{i + 1}",
                "/bench/pyodide.html",
                [{"id": "startup", "py": "startup", "args": [server.url("/echo")]}],
            )
    finally:
        http.close()
        server.close()
    t1 = time.monotonic()
    say(f"storm simulation, {cfg.storm_clients} clients (CPython)")
    storm_result = storm.run(cfg.storm_clients, storm_png)
    return {
        "config": asdict(cfg),
        "pages": {k: {"steps": p["steps"], "done": p.get("done"), "error": p["error"]} for k, p in pages.pages.items()},
        "storm": storm_result,
        "seconds": {"pages": t1 - t0, "storm": time.monotonic() - t1, "total": time.monotonic() - t0},
        "environment": {**environment(), "loadavg_start": load_start, "loadavg_end": os.getloadavg()},
    }


def environment() -> dict[str, Any]:
    """Where the run happened: versions, machine, date."""
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
        "unknown",
    )
    chromium = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=30).stdout
    package = ROOT / "node_modules" / "@pyscript" / "core" / "package.json"
    return {
        "date": datetime.date.today().isoformat(),
        "chromium": chromium.strip(),
        "pyscript": json.loads(package.read_text())["version"],
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "host_python": platform.python_version(),
    }
