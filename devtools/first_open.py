"""Measure the time to first OPEN of a PyScript page under Pyodide and under MicroPython.

``python -m devtools.first_open [--loads N]`` serves ``examples/runtimes/`` (the same
application, ``app.py``, in a ``<script type="py">`` page and a ``<script type="mpy">``
page) from 127.0.0.1, starts an echo server, and loads each page ``N`` times in headless
Chromium, each in a fresh browser context (nothing cached; the static server also sends
``no-store``). A script injected before the page's own records ``performance.now()`` when
the app's first ``open`` line is added to the page: milliseconds from navigation start to
heartsock's first OPEN, interpreter download and boot included. Prints every load and the
median per interpreter, with the machine's load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
from typing import Any

from devtools.browser import chromium
from devtools.faults import ThreadedFaultServer
from devtools.static import ROOT, Mounts, StaticServer

PAGES = {"pyodide": "index.html", "micropython": "index-mpy.html"}

_OBSERVE = """
new MutationObserver((records, observer) => {
  for (const record of records) for (const node of record.addedNodes) {
    if (node.textContent && node.textContent.startsWith("open ") && !window.__firstOpen) {
      window.__firstOpen = performance.now();
      observer.disconnect();
    }
  }
}).observe(document, {childList: true, subtree: true});
"""


def first_open_ms(browser: Any, url: str, timeout_ms: float = 120_000) -> float:
    """Milliseconds from navigation start to the app's first ``open`` line, in a fresh context."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(_OBSERVE)
        page.goto(url)
        page.wait_for_function("window.__firstOpen !== undefined", timeout=timeout_ms)
        return float(page.evaluate("window.__firstOpen"))
    finally:
        context.close()


def measure(loads: int) -> dict[str, list[float]]:
    """``{interpreter: [ms, ...]}``: ``loads`` loads of each page, interleaved."""
    results: dict[str, list[float]] = {name: [] for name in PAGES}
    echo = ThreadedFaultServer()
    try:
        with StaticServer(Mounts.standard(www=ROOT / "www")) as static, chromium() as browser:
            for _ in range(loads):
                for name, page in PAGES.items():
                    url = f"{static.url}/examples/runtimes/{page}?url={echo.url('/echo')}"
                    results[name].append(first_open_ms(browser, url))
    finally:
        echo.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=7, help="loads of each page (default 7)")
    args = parser.parse_args()
    results = measure(args.loads)
    print(f"load average (1 min) after the loads: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, times in results.items():
        listed = ", ".join(f"{t:.0f}" for t in times)
        print(f"{name:12s} median {statistics.median(times):6.0f} ms  (loads: {listed})")


if __name__ == "__main__":
    main()
