"""heartsock under MicroPython without a browser: every module a PyScript ``mpy`` page imports compiles and imports.

MicroPython (from npm, the one PyScript's ``mpy`` uses) runs in Node.js through
``devtools/mpy_node.mjs``: a change that MicroPython cannot compile (``match``, a ``/`` in a
signature, ``(*a, b)``) or import (a standard module it lacks) fails here in seconds. The
browser tier (tests/browser/test_runtimes.py) runs the sockets themselves.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from devtools.static import ROOT

# Server side (websockets, ASGI, Redis) and the CPython runtime: never imported in a page.
SERVER_SIDE = {"server", "_server_connection", "_asgi", "_cpython", "redis_store", "testing"}
SERVER_SIDE |= {p.stem for p in (ROOT / "heartsock").glob("_store*.py")} | {"_sessions"}
# Pyodide's adapter (``pyodide.ffi``, ``traceback``): MicroPython pages use heartsock._mpy instead.
# ``_shared`` (``shared=``): Pyodide only; under MicroPython its import fails and Socket
# falls back to a private socket, saying why in ``sharing_reason``.
PYODIDE_ONLY = {"_browser", "_page", "_shared", "_shared_browser"}

CHECK = """\
import sys
import heartsock
assert sys.implementation.name == "micropython"
for name in {modules!r}:
    __import__("heartsock." + name)
from heartsock.options import parse_options
options = parse_options({{"url": "ws://127.0.0.1:1/x", "heartTime": 2500, "isRestory": True}}, {{"max_queue": 3}})
assert (options.heart_time, options.is_reconnect, options.max_queue) == (2.5, False, 3), options
assert heartsock.State("open") is heartsock.State.OPEN and heartsock.State.OPEN.name == "OPEN"
event = heartsock.SocketEvent("close", 2, code=4000)
assert event == heartsock.SocketEvent("close", 2, 4000) and hash(event) == hash(heartsock.SocketEvent("close", 2, 4000))
try:
    parse_options("http://nope", {{}})
except heartsock.ConfigError as exc:
    assert "ws://" in str(exc)
else:
    raise AssertionError("an http:// URL was accepted")
print("ok", len({modules!r}), "modules")
"""


def client_modules() -> list[str]:
    names = sorted(p.stem for p in (ROOT / "heartsock").glob("*.py") if p.stem != "__init__")
    return [n for n in names if n not in SERVER_SIDE | PYODIDE_ONLY]


def test_every_client_module_imports_under_micropython(tmp_path: Path) -> None:
    """MicroPython 1.28 imports heartsock and each client module; options, State and events behave."""
    node = shutil.which("node")
    assert node, "node is missing: run `make setup` (npm ci needs Node.js)"
    script = tmp_path / "check.py"
    modules = client_modules()
    script.write_text(CHECK.format(modules=modules))
    result = subprocess.run(
        [node, str(ROOT / "devtools" / "mpy_node.mjs"), str(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"ok {len(modules)} modules", result.stdout + result.stderr
