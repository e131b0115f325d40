"""A page running MicroPython (``devtools/pages/harness-mpy.html``), driven like :class:`~devtools.browser.PyPage`.

MicroPython is the interpreter of PyScript's ``<script type="mpy">``, from the npm package
``@micropython/micropython-webassembly-pyscript`` (served at ``/micropython/``). heartsock's
sources are in ``/lib/heartsock``; :meth:`MpyPage.call` copies the ``scenarios`` package to
``/lib/<name>`` and awaits one of its functions, with JSON arguments and result, as
``PyPage.call`` does in Pyodide.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from devtools.browser import PythonError

_RUN = """async (code) => {
  try {
    window.mpy.globals.set("_hs_result", null);
    await window.mpy.runPythonAsync(code);
    const result = window.mpy.globals.get("_hs_result");
    return [0, result === null || result === undefined ? null : String(result)];
  } catch (e) {
    return [1, String(e)];
  }
}"""

_WRITE = """([directory, files]) => {
  window.mpy.FS.mkdirTree(directory);
  for (const [name, text] of Object.entries(files)) window.mpy.FS.writeFile(directory + "/" + name, text);
}"""

_CALL = """\
import json as _json
from {package}.{module} import {function} as _fn
_r = _fn(*_json.loads({args!r}), **_json.loads({kwargs!r}))
if type(_r).__name__ == "generator":
    _r = await _r
_hs_result = _json.dumps(_r)
"""


class MpyPage:
    """A MicroPython page with heartsock importable; ``call("module.function", ...)`` like ``PyPage``."""

    def __init__(self, page: Page, base_url: str, scenarios: Path | None = None) -> None:
        self.page = page
        self.scenarios = scenarios
        self._installed = False
        self.console: list[str] = []
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda err: self.console.append(f"pageerror: {err}"))
        page.goto(f"{base_url}/devtools/pages/harness-mpy.html")
        boot_ms = 90_000 * float(os.environ.get("HEARTSOCK_TIME_SCALE", "1.0"))
        page.wait_for_function(
            "document.documentElement.dataset.ready || document.documentElement.dataset.error", timeout=boot_ms
        )
        error = page.evaluate("document.documentElement.dataset.error")
        if error:
            raise RuntimeError(f"the MicroPython harness page failed to boot: {error}")
        self.run("import heartsock")  # registers heartsock's stand-ins (typing, __future__, …) first

    def run(self, code: str) -> str | None:
        """Run ``code`` (top-level ``await`` works); return ``str(_hs_result)`` if it set that global."""
        status, value = self.page.evaluate(_RUN, code)
        if status:
            tail = "\n".join(self.console[-20:])
            raise PythonError(f"{value}\n--- browser console (last lines) ---\n{tail}")
        return value  # type: ignore[no-any-return]

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Await ``<scenarios>.<module>.<function>(*args, **kwargs)`` in MicroPython; return its JSON result."""
        if self.scenarios is None:
            raise ValueError("MpyPage.call() needs the scenarios package: MpyPage(..., scenarios=directory)")
        module, _, function = name.rpartition(".")
        if not module:
            raise ValueError(f"call() takes 'module.function', not {name!r}")
        if not self._installed:
            files = {p.name: p.read_text(encoding="utf-8") for p in sorted(self.scenarios.glob("*.py"))}
            self.page.evaluate(_WRITE, [f"/lib/{self.scenarios.name}", files])
            self._installed = True
        code = _CALL.format(
            package=self.scenarios.name,
            module=module,
            function=function,
            args=json.dumps(list(args)),
            kwargs=json.dumps(kwargs),
        )
        return json.loads(self.run(code) or "null")
