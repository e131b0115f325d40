"""Runs every benchmark of issue 6 and collects the raw results.

Phases, in this order (so no phase competes with another for the two cores):

1. **CDP-free Chromium** (:mod:`bench.plain`): items 1, 2, 3 and 9 plus the receive-path
   profile, in two pages: a PyScript page, where raw JS, a bare ``create_proxy`` handler,
   ``pyscript.WebSocket`` and heartsock share one interpreter, and a bare-Pyodide page
   (the same minus PyScript) as a cross-check; then a few fresh pages for cold imports.
   Variants alternate inside every round, and the first variant rotates each round.
2. **Playwright** (items 4–7): fault injection through ``/ctl/``, the live PyProxy count,
   the JS heap through the DevTools protocol, and main-thread busy time from
   ``Performance.getMetrics``; plus one raw-JS receive run, to record what DevTools costs.
3. **CPython** (item 8): the storm simulation and its plot.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from devtools.browser import PyPage, launch
from devtools.faults import ThreadedFaultServer
from devtools.static import ROOT, Mounts, check_assets, heartsock_modules

from . import storm
from .cpu import renderer_main_cpu_ns
from .plain import PageRun, PlainChromium, chromium_version
from .servers import BenchHttp, FastServer, loopback_push_rate

WEB = Path(__file__).resolve().parent / "web"
PATCHED = "heartsock_patched"


@dataclass(frozen=True)
class Config:
    """Counts and durations; :data:`FULL` is the issue's, :data:`SMOKE` a few seconds' worth."""

    smoke: bool = False
    rounds_pyscript: int = 5
    rounds_bare: int = 3
    send_rounds_pyscript: int = 3  # the send rate is the browser's in every variant: fewer rounds
    send_rounds_bare: int = 2
    recv_n: int = 100_000
    recv_size: int = 16
    bin_n: int = 1000
    bin_size: int = 65536
    send_n: int = 100_000
    flush_n: int = 10_000
    echo_n: int = 2000
    echo_size: int = 16
    first_opens: int = 3
    profile_n: int = 100_000
    cold_pages: int = 3
    cdp_check_runs: int = 2
    dead_trials: int = 10
    dead_heart: float = 1.0
    dead_pong: float = 1.0
    reconnect_drops: int = 10
    reconnect_restarts: int = 5
    reconnect_down: float = 1.0
    soak_cycles: int = 1000
    soak_warmup: int = 20
    many_n: int = 200
    many_heart: float = 1.0
    many_seconds: float = 30.0
    many_baseline_seconds: float = 15.0
    default_queue_n: int = 30_000
    idle_seconds: float = 5.0
    storm_clients: int = 10_000


FULL = Config()
SMOKE = replace(
    FULL,
    smoke=True,
    rounds_pyscript=1,
    rounds_bare=1,
    send_rounds_pyscript=1,
    send_rounds_bare=1,
    recv_n=300,
    bin_n=5,
    send_n=300,
    flush_n=50,
    echo_n=30,
    first_opens=1,
    profile_n=2000,
    cold_pages=0,
    cdp_check_runs=1,
    dead_trials=1,
    dead_heart=0.3,
    dead_pong=0.3,
    reconnect_drops=1,
    reconnect_restarts=1,
    reconnect_down=0.2,
    soak_cycles=10,
    soak_warmup=2,
    many_n=5,
    many_heart=0.5,
    many_seconds=1.5,
    many_baseline_seconds=1.0,
    default_queue_n=300,
    idle_seconds=0.5,
    storm_clients=500,
)


def _say(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def prepare_patch(patch: Path, into: Path) -> Path:
    """Copy heartsock's sources into ``into/heartsock`` and apply ``patch`` (``-p1``) there."""
    target = into / "heartsock"
    target.mkdir(parents=True)
    for name in heartsock_modules():
        shutil.copy2(ROOT / "heartsock" / name, target / name)
    with patch.open("rb") as fh:
        done = subprocess.run(
            ["patch", "-p1", "--batch", "--forward", "-d", str(into)], stdin=fh, capture_output=True, text=True
        )
    if done.returncode:
        raise RuntimeError(f"could not apply {patch} to a copy of heartsock/:\n{done.stdout}{done.stderr}")
    return target


class Bench:
    """Servers, pages and phases of one benchmark run."""

    def __init__(self, cfg: Config, patch: Path | None = None) -> None:
        check_assets()
        self.cfg = cfg
        self.patch = patch
        self._tmp = Path(tempfile.mkdtemp(prefix="hsbench-"))
        extra = {"/bench/": WEB}
        self.patched_dir: Path | None = None
        if patch is not None:
            self.patched_dir = prepare_patch(patch, self._tmp)
            extra["/heartsock-patched/"] = self.patched_dir
        self.fast = FastServer()
        self.fault = ThreadedFaultServer()
        self.http = BenchHttp(Mounts.standard(extra=extra))
        self._controls()

    def close(self) -> None:
        self.http.close()
        self.fault.close()
        self.fast.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    # ---- /ctl/: faults for the pages ----
    def _controls(self) -> None:
        fault = self.fault

        def silent(q: dict[str, Any]) -> bool:
            fault.call(fault.server.set_silent, q.get("on") == "1")
            return True

        self.http.control("faults/silent", silent)
        self.http.control("faults/drop", lambda q: fault.call(fault.server.drop_all))
        self.http.control("faults/stop", lambda q: fault.call(fault.server.stop) or True)
        self.http.control("faults/start", lambda q: fault.call(fault.server.start) or True)
        if self.patched_dir is not None:
            names = sorted(p.name for p in self.patched_dir.iterdir() if p.suffix == ".py" or p.name == "py.typed")
            self.http.control("patched_index", lambda q: names)

    # ---- phase 1: plain Chromium ----
    def _rounds(self, rounds: int, send_rounds: int, pyscript: bool) -> list[dict[str, Any]]:
        cfg, fast = self.cfg, self.fast
        text_url = fast.url(f"/push/{cfg.recv_n}/{cfg.recv_size}")
        bin_url = fast.url(f"/pushbin/{cfg.bin_n}/{cfg.bin_size}")
        send_url = fast.url(f"/count/{cfg.send_n}")
        flush_url = fast.url(f"/count/{cfg.flush_n}")
        echo_url = fast.url("/echo")
        patched = self.patch is not None

        def recv(url: str, n: int) -> list[tuple[str, dict[str, Any]]]:
            v = [("raw_js", {"js": "recv", "args": [url]}), ("bare", {"py": "recv_bare", "args": [url]})]
            if pyscript:
                v.append(("pyscript", {"py": "recv_pyscript", "args": [url]}))
            v.append(("heartsock_cb", {"py": "recv_heartsock_cb", "args": [url]}))
            v.append(("heartsock_iter", {"py": "recv_heartsock_iter", "args": [url, n + 16]}))
            if patched:
                v.append(("heartsock_cb+patch", {"py": "recv_heartsock_cb", "args": [url, PATCHED]}))
                v.append(("heartsock_iter+patch", {"py": "recv_heartsock_iter", "args": [url, n + 16, PATCHED]}))
            return v

        send = [("raw_js", {"js": "send", "args": [send_url, cfg.send_n]})]
        send.append(("bare", {"py": "send_bare", "args": [send_url, cfg.send_n]}))
        if pyscript:
            send.append(("pyscript", {"py": "send_pyscript", "args": [send_url, cfg.send_n]}))
        send.append(("heartsock", {"py": "send_heartsock", "args": [send_url, cfg.send_n]}))
        flush = [
            ("raw_js", {"js": "flush", "args": [flush_url, cfg.flush_n]}),
            ("heartsock", {"py": "flush_heartsock", "args": [flush_url, cfg.flush_n]}),
        ]
        echo_args = [echo_url, cfg.echo_n, cfg.echo_size]
        echo = [("raw_js", {"js": "echo", "args": echo_args}), ("bare", {"py": "echo_bare", "args": echo_args})]
        if pyscript:
            echo.append(("pyscript", {"py": "echo_pyscript", "args": echo_args}))
        echo.append(("heartsock_cb", {"py": "echo_heartsock_cb", "args": echo_args}))
        echo.append(("heartsock_recv", {"py": "echo_heartsock_recv", "args": echo_args}))
        if patched:
            send.append(("heartsock+patch", {"py": "send_heartsock", "args": [send_url, cfg.send_n, PATCHED]}))
            flush.append(("heartsock+patch", {"py": "flush_heartsock", "args": [flush_url, cfg.flush_n, PATCHED]}))
            echo.append(("heartsock_cb+patch", {"py": "echo_heartsock_cb", "args": [*echo_args, PATCHED]}))
            echo.append(("heartsock_recv+patch", {"py": "echo_heartsock_recv", "args": [*echo_args, PATCHED]}))
        benches = {
            "recv_text": recv(text_url, cfg.recv_n),
            "recv_bin": recv(bin_url, cfg.bin_n),
            "send": send,
            "flush": flush,
            "echo": echo,
        }
        steps = []
        for r in range(rounds):
            for bench, variants in benches.items():
                if bench == "send" and r >= send_rounds:
                    continue
                k = r % len(variants)
                for variant, call in variants[k:] + variants[:k]:
                    steps.append({"id": bench, "variant": variant, "round": r, **call})
        return steps

    def _page_plan(self, pyscript: bool) -> list[dict[str, Any]]:
        cfg = self.cfg
        echo_url = self.fast.url("/echo")
        plan: list[dict[str, Any]] = [{"id": "startup", "variant": "heartsock", "py": "startup", "args": [echo_url]}]
        for i in range(cfg.first_opens):
            plan.append({"id": "first_open", "variant": "raw_js", "round": i, "js": "firstOpen", "args": [echo_url]})
            plan.append(
                {"id": "first_open", "variant": "heartsock", "round": i, "py": "first_open", "args": [echo_url]}
            )
        if self.patch is not None:
            plan.append({"id": "install_patched", "js": "installPatched", "args": []})
        # A short, unrecorded receive run of every variant first: the first run of each
        # code path in a page is slower (V8 and the wasm interpreter warm up).
        warm_url = self.fast.url(f"/push/{max(1, cfg.recv_n // 10)}/{cfg.recv_size}")
        for step in self._rounds(1, 0, pyscript):
            if step["id"] == "recv_text":
                plan.append({**step, "id": "warmup", "args": [warm_url, *step["args"][1:]]})
        if pyscript:
            plan += self._rounds(cfg.rounds_pyscript, cfg.send_rounds_pyscript, pyscript)
        else:
            plan += self._rounds(cfg.rounds_bare, cfg.send_rounds_bare, pyscript)
        if pyscript:
            url = self.fast.url(f"/push/{cfg.default_queue_n}/{cfg.recv_size}")
            plan.append(
                {
                    "id": "recv_text_default_queue",
                    "variant": "heartsock_iter",
                    "py": "recv_heartsock_iter",
                    "args": [url],
                }
            )
        plan.append({"id": "profile", "variant": "heartsock", "py": "profile", "args": [echo_url, cfg.profile_n]})
        if self.patch is not None:
            plan.append(
                {
                    "id": "profile",
                    "variant": "heartsock+patch",
                    "py": "profile",
                    "args": [echo_url, cfg.profile_n, PATCHED],
                }
            )
        return plan

    def plain_phase(self) -> list[PageRun]:
        _say("phase 1: CDP-free Chromium (items 1, 2, 3, 9)")
        chromium = PlainChromium(self.http, self.fast)
        chromium.add("pyscript", "/bench/pyscript.html", self._page_plan(pyscript=True))
        chromium.add("pyodide", "/bench/pyodide.html", self._page_plan(pyscript=False))
        echo_url = self.fast.url("/echo")
        for i in range(self.cfg.cold_pages):
            chromium.add(
                f"cold{i + 1}",
                "/bench/pyodide.html",
                [{"id": "startup", "variant": "heartsock", "py": "startup", "args": [echo_url]}],
            )
        return chromium.run()

    # ---- phase 2: Playwright ----
    def playwright_phase(self, browser: Any) -> dict[str, Any]:
        _say("phase 2: Playwright (items 4-7)")
        cfg, fault = self.cfg, self.fault
        out: dict[str, Any] = {"browser_version": browser.version}
        page = browser.new_page()
        try:
            py = PyPage(page, self.http.url)
            page.add_script_tag(path=str(WEB / "inpage.js"))
            page.evaluate(
                "(src) => window.pyodide.FS.writeFile('/home/pyodide/hsbench.py', src)", (WEB / "inpage.py").read_text()
            )
            py.run("import hsbench, heartsock\n''")
            cdp = page.context.new_cdp_session(page)

            _say("  raw JS receive under DevTools (what the DevTools connection costs)")
            url = self.fast.url(f"/push/{cfg.recv_n}/{cfg.recv_size}")
            out["cdp_recv_raw_js"] = [page.evaluate("(u) => hsb.recv(u)", url) for _ in range(cfg.cdp_check_runs)]

            fault.reset()
            _say(f"  item 4: dead-peer detection, {cfg.dead_trials} trials")
            out["dead_peer"] = py.run_json(
                f"import hsbench\nawait hsbench.dead_peer({fault.url('/echo')!r}, {cfg.dead_heart}, {cfg.dead_pong}, "
                f"{cfg.dead_trials})"
            )

            fault.reset()
            _say(f"  item 5: reconnect latency, {cfg.reconnect_drops} drops + {cfg.reconnect_restarts} restarts")
            out["reconnect"] = py.run_json(
                f"import hsbench\nawait hsbench.reconnect_latency({fault.url('/echo')!r}, {cfg.reconnect_drops}, "
                f"{cfg.reconnect_restarts}, {cfg.reconnect_down})"
            )

            fault.reset()
            _say(f"  item 6: leak soak, {cfg.soak_cycles} forced reconnect cycles")
            out["soak"] = self._soak(py, cdp)

            fault.reset()
            _say(f"  item 7: {cfg.many_n} sockets heartbeating every {cfg.many_heart}s for {cfg.many_seconds}s")
            out["many"] = self._many(py, cdp)
            out["console_errors"] = [line for line in py.console if line.startswith(("error", "pageerror"))][-20:]
        finally:
            page.close()
        return out

    def _memory(self, py: PyPage, cdp: Any) -> dict[str, Any]:
        py.run("import gc\ngc.collect()\n''")
        for _ in range(2):
            cdp.send("HeapProfiler.collectGarbage")
        heap = cdp.send("Runtime.getHeapUsage")
        return {
            "pyproxies": py.js("() => window.pyodide._module.pyproxy_alloc_map.size"),
            "js_heap_used": heap["usedSize"],
            "js_heap_total": heap["totalSize"],
            "wasm_memory": py.js("() => window.pyodide._module.HEAP8.length"),
            "py_objects": py.run_json("import gc\nlen(gc.get_objects())"),
        }

    def _soak(self, py: PyPage, cdp: Any) -> dict[str, Any]:
        cfg = self.cfg
        url = self.fault.url("/echo")
        py.js("() => window.pyodide._module.enable_pyproxy_allocation_tracing()")
        warm = py.run_json(f"import hsbench\nawait hsbench.soak({url!r}, {cfg.soak_warmup})")
        before = self._memory(py, cdp)
        result = py.run_json(f"import hsbench\nawait hsbench.soak({url!r}, {cfg.soak_cycles})")
        after = self._memory(py, cdp)
        leaked: list[str] = []
        if after["pyproxies"] != before["pyproxies"]:
            leaked = py.js("() => Array.from(window.pyodide._module.pyproxy_alloc_map.values()).slice(-3).map(String)")
        return {"warmup": warm, "result": result, "before": before, "after": after, "newest_live_proxies": leaked}

    def _many(self, py: PyPage, cdp: Any) -> dict[str, Any]:
        cfg, fault = self.cfg, self.fault
        cdp.send("Performance.enable")

        def metrics() -> dict[str, float]:
            return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}

        def pings() -> int:
            return sum(len(p.pings) for p in fault.peers())

        def window(seconds: float) -> dict[str, Any]:
            m0, p0, c0, t0 = metrics(), pings(), renderer_main_cpu_ns(), time.monotonic()
            time.sleep(seconds)
            m1, p1, c1, t1 = metrics(), pings(), renderer_main_cpu_ns(), time.monotonic()
            span = t1 - t0
            return {
                "cpu_ms_per_s": (c1 - c0) / 1e6 / span if c0 is not None and c1 is not None else None,
                "seconds": span,
                "task_ms_per_s": (m1["TaskDuration"] - m0["TaskDuration"]) * 1000 / span,
                "script_ms_per_s": (m1["ScriptDuration"] - m0["ScriptDuration"]) * 1000 / span,
                "pings_received": p1 - p0,
            }

        url = fault.url("/echo")
        idle = window(cfg.idle_seconds)
        opened_raw = py.js("([u, n, i]) => hsb.manyStart(u, n, i)", [url, cfg.many_n, cfg.many_heart * 1000])
        raw = window(cfg.many_baseline_seconds)
        raw["end"] = py.js("() => hsb.manyStop()")
        raw["opened"] = opened_raw
        time.sleep(0.5)
        fault.reset()
        opened_bare = py.run_json(
            f"import hsbench\nawait hsbench.many_bare_start({url!r}, {cfg.many_n}, {cfg.many_heart})"
        )
        bare = window(cfg.many_baseline_seconds)
        bare["end"] = py.run_json("import hsbench\nhsbench.many_bare_stop()")
        bare["opened"] = opened_bare
        time.sleep(0.5)
        fault.reset()
        opened_hs = py.run_json(f"import hsbench\nawait hsbench.many_start({url!r}, {cfg.many_n}, {cfg.many_heart})")
        hs = window(cfg.many_seconds)
        hs["end"] = py.run_json("import hsbench\nhsbench.many_stop()")
        hs["opened"] = opened_hs
        patched: dict[str, Any] | None = None
        if self.patch is not None:
            time.sleep(0.5)
            fault.reset()
            py.js("() => hsb.installPatched()")
            opened_p = py.run_json(
                f"import hsbench\nawait hsbench.many_start({url!r}, {cfg.many_n}, {cfg.many_heart}, {PATCHED!r})"
            )
            patched = window(cfg.many_baseline_seconds)
            patched["end"] = py.run_json(f"import hsbench\nhsbench.many_stop({PATCHED!r})")
            patched["opened"] = opened_p
        return {
            "idle": idle,
            "raw_js": raw,
            "bare": bare,
            "heartsock": hs,
            **({"heartsock+patch": patched} if patched else {}),
            "sockets": cfg.many_n,
            "heart_s": cfg.many_heart,
        }

    # ---- everything ----
    def run(self, browser: Any = None, storm_png: Path | None = None) -> dict[str, Any]:
        t0 = time.monotonic()
        load_start = os.getloadavg()
        _say(f"heartsock bench ({'smoke' if self.cfg.smoke else 'full'}): servers up; load average {load_start[0]:.2f}")
        if load_start[0] > 0.7 * (os.cpu_count() or 1) and not self.cfg.smoke:
            _say("  warning: the machine is busy; ratios stay meaningful, absolute numbers will be low and noisy")
        loopback = {
            "text": [loopback_push_rate(self.fast, self.cfg.recv_n, self.cfg.recv_size) for _ in range(3)][-1],
            "binary": [loopback_push_rate(self.fast, self.cfg.bin_n, self.cfg.bin_size, "pushbin") for _ in range(3)][
                -1
            ],
        }
        pages = self.plain_phase()
        t1 = time.monotonic()
        if browser is None:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as playwright:
                chromium = launch(playwright)
                try:
                    pw = self.playwright_phase(chromium)
                finally:
                    chromium.close()
        else:
            pw = self.playwright_phase(browser)
        t2 = time.monotonic()
        _say(f"phase 3: storm simulation, {self.cfg.storm_clients} clients (CPython)")
        storm_result = storm.run(self.cfg.storm_clients, storm_png)
        t3 = time.monotonic()
        return {
            "config": asdict(self.cfg),
            "patch": str(self.patch) if self.patch else None,
            "loopback": loopback,
            "pages": [asdict(p) for p in pages],
            "playwright": pw,
            "storm": storm_result,
            "phase_seconds": {"plain": t1 - t0, "playwright": t2 - t1, "storm": t3 - t2},
            "environment": {**environment(), "loadavg_start": load_start, "loadavg_end": os.getloadavg()},
        }


def environment() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    pyscript_version = json.loads((ROOT / "node_modules" / "@pyscript" / "core" / "package.json").read_text())[
        "version"
    ]
    pyodide_version = json.loads((ROOT / "node_modules" / "pyodide" / "package.json").read_text())["version"]
    return {
        "chromium": chromium_version(),
        "pyscript": pyscript_version,
        "pyodide": pyodide_version,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem / 2**30, 1),
        "os": platform.platform(),
        "host_python": platform.python_version(),
    }
