"""Headless Debian Chromium through Playwright, kept off the network.

``playwright install`` is never used: the browser is Debian's ``chromium`` at
``/usr/bin/chromium``, launched by path. :class:`PyPage` wraps a page that booted
Pyodide (``devtools/pages/harness.html``) and runs Python in it: source text with
:meth:`PyPage.run`, or a function of a real module (one ruff and mypy check) with
:meth:`PyPage.call`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
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


PAGE_HOME = "/home/pyodide"  # Pyodide's working directory, first on its sys.path

_INSTALL = """\
import importlib as _importlib, os as _os
_os.makedirs({directory!r}, exist_ok=True)
for _name, _text in {files!r}.items():
    with open({directory!r} + "/" + _name, "w", encoding="utf-8") as _file:
        _file.write(_text)
_importlib.invalidate_caches()
"""

_CALL = """\
import importlib as _importlib, inspect as _inspect, json as _json
_result = getattr(_importlib.import_module({module!r}), {function!r})(*_json.loads({args!r}), **_json.loads({kwargs!r}))
if _inspect.isawaitable(_result):
    _result = await _result
_json.dumps(_result)
"""


def install_source(package: Path) -> str:
    """Python source that copies the package ``package`` (its ``*.py`` files) into the page.

    It lands in ``/home/pyodide/<package.name>/``, importable as ``package.name``. The
    source writes the files itself, so it works wherever Pyodide runs code it is sent
    (a page, a Web Worker).
    """
    files = {path.name: path.read_text(encoding="utf-8") for path in sorted(package.glob("*.py"))}
    return _INSTALL.format(directory=f"{PAGE_HOME}/{package.name}", files=files)


def call_source(module: str, function: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None) -> str:
    """Python source that calls ``module.function(*args, **kwargs)`` and awaits it if need be.

    Arguments travel as JSON; the source's last expression is ``json.dumps`` of the result.
    """
    return _CALL.format(module=module, function=function, args=json.dumps(list(args)), kwargs=json.dumps(kwargs or {}))


class PyPage:
    """A page running Pyodide with heartsock's sources importable.

    ``run(code)`` executes ``code`` with ``runPythonAsync`` (top-level ``await`` works)
    and returns the value of its last expression, which must be a ``str`` (use
    :meth:`run_json` to get ``json.dumps`` of a value back).

    ``call("module.function", *args, **kwargs)`` runs a function of the ``scenarios``
    package instead: page-side code in real modules, with typed parameters.
    """

    def __init__(self, page: Page, base_url: str, query: str = "", scenarios: Path | None = None) -> None:
        self.page = page
        self.scenarios = scenarios
        self._installed = False
        self.console: list[str] = []
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda err: self.console.append(f"pageerror: {err}"))
        page.goto(f"{base_url}/devtools/pages/harness.html{query}")
        # Booting Pyodide takes 3-5 s here, 20-30 s on a loaded 2-core machine: allow for that
        # (scaled like every interval, by HEARTSOCK_TIME_SCALE); what is tested comes after.
        boot_ms = 90_000 * float(os.environ.get("HEARTSOCK_TIME_SCALE", "1.0"))
        page.wait_for_function(
            "document.documentElement.dataset.ready || document.documentElement.dataset.error", timeout=boot_ms
        )
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

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Await ``<scenarios>.<module>.<function>(*args, **kwargs)`` in the page; return its result.

        ``name`` is ``"module.function"`` inside the package given as ``scenarios``, which
        is copied into the page's file system on the first call. Arguments and the result
        travel as JSON, so both must be JSON-able (tuples come back as lists).

        Raises:
            PythonError: the function raised; the message holds the page's traceback
                and the last lines of the browser console.
        """
        if self.scenarios is None:
            raise ValueError("PyPage.call() needs the scenarios package: PyPage(..., scenarios=directory)")
        module, _, function = name.rpartition(".")
        if not module:
            raise ValueError(f"call() takes 'module.function', not {name!r}")
        if not self._installed:
            self.run(install_source(self.scenarios) + "''")
            self._installed = True
        result = self.run(call_source(f"{self.scenarios.name}.{module}", function, args, kwargs))
        return json.loads(result or "null")

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)
