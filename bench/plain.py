"""Run benchmark pages in a Chromium that no DevTools client is attached to.

Playwright drives Chromium over the DevTools protocol with the Network domain enabled,
so the renderer reports every WebSocket frame to it (``Network.webSocketFrameReceived``):
that halves the raw browser's small-message receive rate and would compress every ratio
towards 1. The throughput and latency benchmarks therefore run in a plain headless
Chromium started by path, with no remote debugging: each page fetches its plan from
``/ctl/plan``, posts every step's result to ``/ctl/step`` and reports ``/ctl/done``. Every page gets
a fresh Chromium (so a cold page is really cold, and a page that hangs costs only itself).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any

from devtools.browser import CHROMIUM, FLAGS

from .cpu import renderer_main_cpu_ns
from .servers import BenchHttp, FastServer

# What Playwright adds for every launch too, so both kinds of run see the same timers.
PLAIN_FLAGS = [
    *FLAGS,
    "--headless",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--disable-extensions",
    "--mute-audio",
]


@dataclass
class PageRun:
    """One page load: its plan and what came back."""

    key: str
    path: str
    plan: list[dict[str, Any]]
    steps: list[dict[str, Any]] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class PlainChromium:
    """Loads a sequence of pages in one CDP-free Chromium and collects their results."""

    def __init__(self, http: BenchHttp, fast: FastServer, *, log: Any = sys.stderr) -> None:
        self.http = http
        self.fast = fast
        self.log = log
        self.pages: list[PageRun] = []
        self._index: dict[str, int] = {}
        self._cpu_at_mark: dict[tuple[str, int], int | None] = {}
        self._current: PageRun | None = None
        self._finished = threading.Event()
        self._progress = threading.Event()
        http.control("plan", self._plan)
        http.control("mark", self._mark)
        http.control("step", self._step)
        http.control("done", self._done)
        http.control("error", self._error)

    def add(self, key: str, path: str, plan: list[dict[str, Any]]) -> PageRun:
        run = PageRun(key, path, plan)
        self._index[key] = len(self.pages)
        self.pages.append(run)
        return run

    def _url(self, run: PageRun) -> str:
        sep = "&" if "?" in run.path else "?"
        return f"{self.http.url}{run.path}{sep}page={run.key}"

    # ---- control endpoints (called on the HTTP server's threads) ----
    def _plan(self, query: dict[str, Any]) -> Any:
        return self.pages[self._index[query["page"]]].plan

    def _mark(self, query: dict[str, Any]) -> Any:
        """A step is about to start: note the renderer main thread's CPU time."""
        self._cpu_at_mark[(query["page"], int(query["i"]))] = renderer_main_cpu_ns()
        return True

    def _step(self, query: dict[str, Any]) -> Any:
        cpu_end = renderer_main_cpu_ns()
        run = self.pages[self._index[query["page"]]]
        i = int(query["i"])
        body = query["body"] or {}
        cpu_start = self._cpu_at_mark.pop((query["page"], i), None)
        if cpu_start is not None and cpu_end is not None:
            body["cpu_ms"] = (cpu_end - cpu_start) / 1e6
        stats, self.fast.stats = self.fast.stats, {}
        step = {**run.plan[i], **body, "server": stats}
        run.steps.append(step)
        status = "error: " + str(body.get("error"))[:300] if body.get("error") else f"{body.get('ms', 0) / 1000:.1f}s"
        print(
            f"  [{run.key} {i + 1}/{len(run.plan)}] {step.get('id')} {step.get('variant', '')}: {status}", file=self.log
        )
        self._progress.set()
        return True

    def _done(self, query: dict[str, Any]) -> Any:
        run = self.pages[self._index[query["page"]]]
        body = query["body"] or {}
        run.marks = body.get("marks", {})
        run.versions = body.get("versions", {})
        self._finished.set()
        self._progress.set()
        return {"next": None}

    def _error(self, query: dict[str, Any]) -> Any:
        error = (query.get("body") or {}).get("error", "unknown error")
        if self._current is not None and self._current.error is None:
            self._current.error = error
        print(f"  page error: {error}", file=self.log)
        self._finished.set()
        self._progress.set()
        return True

    # ---- running ----
    def run(self, stall_timeout: float = 120.0) -> list[PageRun]:
        """Load every page in its own Chromium; move on when it is done, fails or stalls."""
        for run in self.pages:
            self._run_page(run, stall_timeout)
        return self.pages

    def _run_page(self, run: PageRun, stall_timeout: float) -> None:
        self._current = run
        self._finished.clear()
        profile = tempfile.mkdtemp(prefix="hsbench-chromium-")
        cmd = [str(CHROMIUM), *PLAIN_FLAGS, f"--user-data-dir={profile}", self._url(run)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not self._finished.is_set():
                self._progress.clear()
                if not self._progress.wait(stall_timeout) and not self._finished.is_set():
                    run.error = run.error or f"no progress for {stall_timeout:.0f}s (step {len(run.steps) + 1})"
                    print(f"  {run.key}: {run.error}", file=self.log)
                    break
                if proc.poll() is not None:
                    run.error = run.error or f"Chromium exited with {proc.returncode}"
                    break
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            shutil.rmtree(profile, ignore_errors=True)
            self._current = None


def chromium_version() -> str:
    try:
        out = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.strip().splitlines()[-1] if out.strip() else "unknown"
