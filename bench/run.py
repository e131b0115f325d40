"""Runs the benchmarks and collects the raw results (``bench/out/results.json``).

Every browser measurement runs in a headless Chromium started by path. The main PyScript
page runs :func:`plan` in a Chromium started as a plain subprocess, with no DevTools client
(see PERFORMANCE.md, "How it was measured"); a second page runs the receive benchmarks again
in a Chromium driven by Playwright (DevTools attached, as in heartsock users' own tests);
then fresh bare-Pyodide pages time a cold import. A page fetches its plan from ``/ctl/plan``,
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

from devtools.browser import CHROMIUM, FLAGS, chromium
from devtools.static import ROOT, Mounts, check_assets

from . import shared, storm
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
    devtools_recv_n: int = 20_000  # the receive runs again under Playwright, slower: fewer messages
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
    many_large_n: int = 1000
    many_large_pages: int = 4  # Chromium opens at most 255 WebSockets per browser, all pages together
    idle_seconds: float = 5.0
    session_n: int = 20_000
    session_echo_n: int = 1000
    soak_cycles: int = 1000
    soak_warmup: int = 20
    storm_clients: int = 10_000
    shared_rounds: int = 5  # hand-overs: the leader tab of three is closed
    shared_text_n: int = 5000  # messages relayed to the tabs, 100 B each
    shared_binary_n: int = 200  # and 64 KiB each


FULL = Config()
SMOKE = replace(
    FULL,
    smoke=True,
    rounds=1,
    send_rounds=1,
    recv_n=300,
    devtools_recv_n=300,
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
    many_large_n=10,
    many_large_pages=2,
    session_n=300,
    session_echo_n=30,
    idle_seconds=0.3,
    soak_cycles=10,
    soak_warmup=2,
    storm_clients=300,
    shared_rounds=1,
    shared_text_n=100,
    shared_binary_n=5,
)

RECV = ("raw_js", "bare", "pyscript", "heartsock", "heartsock_iter")
SEND = ("raw_js", "bare", "pyscript", "heartsock")
ECHO = ("raw_js", "bare", "pyscript", "heartsock", "heartsock_recv")
SESSION = ("plain", "resume")
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


Comparisons = dict[str, tuple[tuple[str, ...], str, str, list[Any], int]]


def rounds(comparisons: Comparisons) -> list[Step]:
    """Round after round, each comparison's variants next to each other; each round rotates
    their order and every other round reverses it, so no variant keeps its place or neighbour."""
    steps: list[Step] = []
    for r in range(max(c[4] for c in comparisons.values())):
        for bench, (variants, py, js, args, n_rounds) in comparisons.items():
            if r >= n_rounds:
                continue
            k = r % len(variants)
            order = variants[k:] + variants[:k]
            for v in order[::-1] if r % 2 else order:
                steps.append({"id": bench, "variant": v, "round": r, **_call(v, py, js, args)})
    return steps


def warmup(url: str, variants: tuple[str, ...]) -> list[Step]:
    """An unrecorded short receive run of every variant: first runs are slower (JIT warm-up)."""
    return [{"id": "warmup", "variant": v, **_call(v, "recv", "recv", [url])} for v in variants]


def devtools_plan(cfg: Config, url: Any) -> list[Step]:
    """The receive benchmarks again, for the page that Playwright drives."""
    n = cfg.devtools_recv_n
    comparisons: Comparisons = {
        "recv_text": (RECV, "recv", "recv", [url(f"/push/{n}/{cfg.recv_size}")], cfg.rounds),
        "recv_bin": (RECV, "recv", "recv", [url(f"/pushbin/{cfg.bin_n}/{cfg.bin_size}")], cfg.rounds),
    }
    warm = url(f"/push/{max(1, n // 10)}/{cfg.recv_size}")
    return [{"id": "startup", "py": "startup", "args": [url("/echo")]}, *warmup(warm, RECV), *rounds(comparisons)]


def many_steps(bench: str, cfg: Config, url: str, n: int, barrier: bool = False) -> list[Step]:
    """``n`` sockets heartbeating, per variant: start, hold ``many_seconds`` between two CPU
    readings, stop; with ``barrier``, every page running holds at the same time."""
    steps: list[Step] = []
    for v in ("raw_js", "bare", "heartsock"):
        args = [url, n, cfg.many_heart]
        start = {"js": "manyStart", "args": args} if v == "raw_js" else {"py": "many_start", "args": [v, *args]}
        stop = {"js": "manyStop", "args": []} if v == "raw_js" else {"py": "many_stop", "args": [v]}
        steps.append(
            {"id": bench, "variant": v, "hold": cfg.many_seconds, "start": start, "stop": stop, "barrier": barrier}
        )
    return steps


def plan(cfg: Config, url: Any, sessions: dict[str, str]) -> list[Step]:
    """The main page's steps; ``url(path)`` gives the bench server's URL for ``path``,
    ``sessions`` the session servers' (``plain``, ``resume``)."""
    echo = url("/echo")
    sn = cfg.session_n
    comparisons: Comparisons = {
        "recv_text": (RECV, "recv", "recv", [url(f"/push/{cfg.recv_n}/{cfg.recv_size}")], cfg.rounds),
        "recv_bin": (RECV, "recv", "recv", [url(f"/pushbin/{cfg.bin_n}/{cfg.bin_size}")], cfg.rounds),
        "send": (SEND, "send", "send", [url(f"/count/{cfg.send_n}"), cfg.send_n], cfg.send_rounds),
        "flush": (("raw_js", "heartsock"), "flush", "flush", [url(f"/count/{cfg.flush_n}"), cfg.flush_n], cfg.rounds),
        "echo": (ECHO, "echo", "echo", [echo, cfg.echo_n, cfg.echo_size], cfg.rounds),
        "open": (("raw_js", "heartsock"), "open_ms", "openMs", [echo], cfg.rounds),
        "session_send": (SESSION, "session", "", [sessions, "send", sn, 16], cfg.rounds),
        "session_recv": (SESSION, "session", "", [sessions, "recv", sn, 16], cfg.rounds),
        "session_echo": (SESSION, "session", "", [sessions, "echo", cfg.session_echo_n, 16], cfg.rounds),
    }
    steps: list[Step] = [{"id": "startup", "py": "startup", "args": [echo]}]
    steps += warmup(url(f"/push/{max(1, cfg.recv_n // 10)}/{cfg.recv_size}"), RECV) + rounds(comparisons)
    fault: list[Step] = [
        {"id": "dead_peer", "py": "dead_peer", "args": [echo, cfg.dead_heart, cfg.dead_pong, cfg.dead_trials]},
        {
            "id": "reconnect",
            "py": "reconnect",
            "args": [echo, cfg.reconnect_drops, cfg.reconnect_restarts, cfg.reconnect_down],
        },
        {"id": "many", "variant": "idle", "hold": cfg.idle_seconds},
    ]
    fault += many_steps("many", cfg, echo, cfg.many_n)
    fault += [
        {"id": "trace_proxies", "js": "traceProxies", "args": []},
        {"id": "soak_warmup", "py": "soak", "args": [echo, cfg.soak_warmup]},
        {"id": "memory_before", "js": "memory", "args": []},
        {"id": "soak", "py": "soak", "args": [echo, cfg.soak_cycles]},
        {"id": "memory_after", "js": "memory", "args": []},
    ]
    return steps + fault


class Pages:
    """Loads pages, each in a fresh Chromium, and collects what they post."""

    def __init__(self, http: BenchHttp, server: BenchServer) -> None:
        self.server = server
        self.http = http
        self.pages: dict[str, dict[str, Any]] = {}
        self.current: list[str] = []
        self._cpu_at_mark: dict[tuple[str, int], tuple[int | None, float, dict[str, int]]] = {}
        self._barriers: dict[str, threading.Barrier] = {}
        self._finished = threading.Event()
        for name in ("plan", "mark", "step", "done", "error", "cpu", "barrier"):
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

    def _barrier(self, q: dict[str, Any]) -> Any:
        """Wait until every page running now asked for the barrier ``q["name"]``."""
        barrier = self._barriers.setdefault(q["name"], threading.Barrier(len(self.current)))
        return barrier.wait(300)

    def _counters(self) -> tuple[int | None, float, dict[str, int]]:
        return renderer_main_cpu_ns(), self.server.cpu(), self.server.call(self.server.wire_bytes)

    def _mark(self, q: dict[str, Any]) -> Any:
        self._cpu_at_mark[(q["page"], int(q["i"]))] = self._counters()
        return True

    def _step(self, q: dict[str, Any]) -> Any:
        cpu, server_cpu, wire = self._counters()
        page, i = self.pages[q["page"]], int(q["i"])
        step = {**page["plan"][i], **q["body"]}
        cpu0, server0, wire0 = self._cpu_at_mark.pop((q["page"], i), (None, 0.0, {}))
        if cpu is not None and cpu0 is not None:
            step["cpu_ms"] = (cpu - cpu0) / 1e6
        step["server_cpu_ms"] = (server_cpu - server0) * 1000
        if wire != wire0:
            step["wire"] = {k: v - wire0.get(k, 0) for k, v in wire.items()}
        page["steps"].append(step)
        status = f"error: {str(step['error'])[:300]}" if step.get("error") else f"{step['ms'] / 1000:.1f}s"
        say(f"  [{q['page']} {i + 1}/{len(page['plan'])}] {step['id']} {step.get('variant', '')}: {status}")
        return True

    def _done(self, q: dict[str, Any]) -> Any:
        self.pages[q["page"]]["done"] = q["body"]
        if all(self.pages[k].get("done") or self.pages[k]["error"] for k in self.current):
            self._finished.set()
        return True

    def _error(self, q: dict[str, Any]) -> Any:
        error = (q.get("body") or {}).get("error", "unknown error")
        page = self.pages[q.get("page") or self.current[0]]
        page["error"] = page["error"] or error
        say(f"  page error: {error}")
        self._finished.set()
        return True

    def run(self, path: str, plans: dict[str, list[Step]], devtools: bool = False, stall: float = 120.0) -> None:
        """Load ``path`` once per ``{key: steps}``, all at once, each in its own Chromium (a plain
        subprocess; with ``devtools``, one page in a Chromium that Playwright drives); return
        when every page is done, or one fails or stalls."""
        self.current = list(plans)
        self._barriers.clear()
        self._finished.clear()
        for key, steps in plans.items():
            self.pages[key] = {"plan": steps, "steps": [], "error": None}
        urls = [f"{self.http.url}{path}?page={key}" for key in plans]
        if devtools:
            with chromium([f for f in CHROMIUM_FLAGS if f not in FLAGS and f != "--headless"]) as browser:
                tab = browser.new_page()
                tab.goto(urls[0])  # Playwright's DevTools session watches the page (its Network domain too)
                self._wait(lambda: tab.wait_for_timeout(200), lambda: None, stall)
            return
        profiles = [tempfile.mkdtemp(prefix="hsbench-chromium-") for _ in urls]
        procs = [
            subprocess.Popen(
                [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for profile, url in zip(profiles, urls, strict=True)
        ]
        try:
            exited = lambda: next((p.returncode for p in procs if p.poll() is not None), None)  # noqa: E731
            self._wait(lambda: self._finished.wait(0.2), exited, stall)
        finally:
            for proc, profile in zip(procs, profiles, strict=True):
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                shutil.rmtree(profile, ignore_errors=True)

    def _wait(self, pause: Any, exited: Any, stall: float) -> None:
        pages = [self.pages[k] for k in self.current]
        progress, last = -1, time.monotonic()
        while not self._finished.is_set():
            pause()
            steps = sum(len(p["steps"]) for p in pages)
            if steps != progress:
                progress, last = steps, time.monotonic()
            elif time.monotonic() - last > stall and not self._finished.is_set():
                pages[0]["error"] = f"no progress for {stall:.0f}s (steps done: {steps})"
                break
            code = exited()
            if code is not None and not self._finished.is_set():
                pages[0]["error"] = pages[0]["error"] or f"Chromium exited with {code}"
                break
        for key in self.current:
            if self.pages[key]["error"]:
                say(f"  {key}: {self.pages[key]['error']}")


def run(cfg: Config, storm_png: Path | None) -> dict[str, Any]:
    """Run every benchmark; return the raw results."""
    check_assets()
    t0 = time.monotonic()
    load_start = os.getloadavg()
    say(f"heartsock bench ({'smoke' if cfg.smoke else 'full'}); load average {load_start[0]:.2f}")
    server = BenchServer()
    http = BenchHttp(Mounts.standard(extra={"/bench/": WEB}))
    startup = [{"id": "startup", "py": "startup", "args": [server.url("/echo")]}]
    try:
        pages = Pages(http, server)
        say("pages: the PyScript page runs the plan (no DevTools)")
        pages.run("/bench/pyscript.html", {"pyscript": plan(cfg, server.url, server.sessions)})
        say("the receive benchmarks again, in a page that Playwright drives (DevTools attached)")
        pages.run("/bench/pyscript.html", {"devtools": devtools_plan(cfg, server.url)}, devtools=True)
        k = cfg.many_large_pages
        say(f"{cfg.many_large_n} heartbeating sockets: {k} browsers at once (no DevTools)")
        idle = {"id": "many_large", "variant": "idle", "hold": cfg.idle_seconds, "barrier": True}
        large = [idle, *many_steps("many_large", cfg, server.url("/echo"), cfg.many_large_n // k, barrier=True)]
        pages.run("/bench/pyodide.html", {f"large{i + 1}": large for i in range(k)})
        for i in range(cfg.cold_pages):
            say(f"cold page {i + 1}/{cfg.cold_pages}")
            server.reset()
            pages.run("/bench/pyodide.html", {f"cold{i + 1}": startup})
    finally:
        http.close()
        server.close()
    say(f"shared sockets: {cfg.shared_rounds} hand-overs between tabs, relay costs")
    try:
        shared_result: dict[str, Any] = shared.run(cfg.shared_rounds, cfg.shared_text_n, cfg.shared_binary_n)
    except Exception as exc:  # noqa: BLE001 - reported with the run's errors
        shared_result = {"error": f"{type(exc).__name__}: {exc}"}
    t1 = time.monotonic()
    say(f"storm simulation, {cfg.storm_clients} clients (CPython)")
    storm_result = storm.run(cfg.storm_clients, storm_png)
    return {
        "config": asdict(cfg),
        "pages": {k: {"steps": p["steps"], "done": p.get("done"), "error": p["error"]} for k, p in pages.pages.items()},
        "storm": storm_result,
        "shared": shared_result,
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
