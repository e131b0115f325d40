"""Headless Debian Chromium through Playwright, kept off the network.

``playwright install`` is never used: the browser is Debian's ``chromium`` at
``/usr/bin/chromium``, launched by path. :class:`PyPage` wraps a page that booted
Pyodide (``devtools/pages/harness.html``) and runs Python in it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Playwright, sync_playwright

CHROMIUM = Path(os.environ.get("HEARTSOCK_CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-default-apps",
]


class MissingBrowser(RuntimeError):
    """Debian's chromium is not installed (run `make setup`)."""


def launch(playwright: Playwright, extra_args: list[str] | None = None) -> Browser:
    """Launch headless Chromium from :data:`CHROMIUM`; raise :class:`MissingBrowser` if absent."""
    if not CHROMIUM.exists():
        raise MissingBrowser(f"{CHROMIUM} not found: install Debian's chromium (`make setup`)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS + (extra_args or []), headless=True)


@contextlib.contextmanager
def chromium(extra_args: list[str] | None = None) -> Iterator[Browser]:
    """Playwright and headless Chromium for a ``with`` block (one per test session)."""
    with sync_playwright() as playwright:
        browser = launch(playwright, extra_args)
        try:
            yield browser
        finally:
            browser.close()


_RUN = """async (code) => {
  try {
    const result = await window.pyodide.runPythonAsync(code);
    return [0, result === undefined ? null : String(result)];
  } catch (e) {
    return [1, String(e)];
  }
}"""


class PythonError(AssertionError):
    """Python code run in the page raised; the message holds its traceback."""


class PyPage:
    """A page running Pyodide with heartsock's sources importable.

    ``run(code)`` executes ``code`` with ``runPythonAsync`` (top-level ``await`` works)
    and returns the value of its last expression, which must be a ``str`` (use
    :meth:`run_json` to get ``json.dumps`` of a value back).
    """

    def __init__(self, page: Page, base_url: str, query: str = "") -> None:
        self.page = page
        self.console: list[str] = []
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda err: self.console.append(f"pageerror: {err}"))
        page.goto(f"{base_url}/devtools/pages/harness.html{query}")
        page.wait_for_function("document.documentElement.dataset.ready || document.documentElement.dataset.error")
        error = page.evaluate("document.documentElement.dataset.error")
        if error:
            raise RuntimeError(f"the harness page failed to boot Pyodide: {error}")

    def run(self, code: str) -> str | None:
        status, value = self.page.evaluate(_RUN, code)
        if status:
            tail = "\n".join(self.console[-20:])
            raise PythonError(f"{value}\n--- browser console (last lines) ---\n{tail}")
        return value  # type: ignore[no-any-return]

    def run_json(self, code: str) -> Any:
        """Run ``code`` whose last line is an expression; return that value via JSON."""
        lines = code.rstrip().splitlines()
        last = lines.pop()
        body = "\n".join(lines)
        result = self.run(f"{body}\nimport json as _json\n_json.dumps({last.strip()})")
        return json.loads(result or "null")

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)
