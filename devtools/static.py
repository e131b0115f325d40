"""Which URL path serves which local file, for every page heartsock's tools serve.

Everything a page loads comes from this machine: Pyodide, PyScript and MicroPython from the npm
packages in ``node_modules`` (pinned by ``package-lock.json``), heartsock from the
repository's own ``heartsock/`` sources, wheels from ``dist/`` and ``vendor/wheels``.
``/heartsock/index.json`` lists heartsock's modules, for pages that copy them into
Pyodide's file system.
"""

from __future__ import annotations

import http.server
import json
import mimetypes
import os
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
#: Where ``npm ci`` put the packages (``HEARTSOCK_NODE_MODULES`` overrides it, for the guard tests).
NODE_MODULES = Path(os.environ.get("HEARTSOCK_NODE_MODULES", ROOT / "node_modules"))
PYODIDE_DIR = NODE_MODULES / "pyodide"
PYSCRIPT_DIR = NODE_MODULES / "@pyscript" / "core" / "dist"
#: MicroPython for PyScript's ``<script type="mpy">`` pages, at the version ``@pyscript/core`` names.
MICROPYTHON_DIR = NODE_MODULES / "@micropython" / "micropython-webassembly-pyscript"
HEARTSOCK_DIR = ROOT / "heartsock"
MICROPIP_DIR = ROOT / "vendor" / "wheels"
PYODIDE_OVERLAY = ROOT / "vendor" / "pyodide"  # micropip + a lock recording its hash (devtools/vendor.py)

_TYPES = {
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".py": "text/x-python; charset=utf-8",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}


class MissingAssets(RuntimeError):
    """The vendored Pyodide/PyScript/MicroPython files are not installed (run `make setup`)."""


def check_assets() -> None:
    """Raise :class:`MissingAssets` unless Pyodide, PyScript and MicroPython are installed."""
    needed = [
        PYODIDE_DIR / "pyodide.mjs",
        PYODIDE_DIR / "pyodide.asm.wasm",
        PYSCRIPT_DIR / "core.js",
        MICROPYTHON_DIR / "micropython.mjs",
        MICROPYTHON_DIR / "micropython.wasm",
    ]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise MissingAssets(f"missing vendored browser files: {', '.join(missing)}; run `make setup` (npm ci)")


def heartsock_modules() -> list[str]:
    """The file names of heartsock's package (``*.py`` and ``py.typed``)."""
    return sorted(p.name for p in HEARTSOCK_DIR.iterdir() if p.suffix == ".py" or p.name == "py.typed")


@dataclass(frozen=True)
class Mounts:
    """URL prefix → local directories (searched in order), longest prefix first.

    Nothing outside them is served.
    """

    table: tuple[tuple[str, tuple[Path, ...]], ...]

    @classmethod
    def standard(cls, www: Path | None = None, extra: dict[str, Path] | None = None) -> Mounts:
        table: dict[str, Path | tuple[Path, ...]] = {
            "/pyodide/": (PYODIDE_OVERLAY, PYODIDE_DIR),
            "/pyscript/": PYSCRIPT_DIR,
            "/micropython/": MICROPYTHON_DIR,
            "/heartsock/": HEARTSOCK_DIR,
            "/wheels/": ROOT / "dist",
            "/vendor/wheels/": MICROPIP_DIR,
            "/devtools/pages/": ROOT / "devtools" / "pages",
            "/examples/runtimes/": ROOT / "examples" / "runtimes",  # one app, three runtimes
        }
        table.update(extra or {})
        if www is not None:
            table["/"] = www
        normal = {k: v if isinstance(v, tuple) else (v,) for k, v in table.items()}
        return cls(tuple(sorted(normal.items(), key=lambda kv: -len(kv[0]))))

    def resolve(self, url_path: str) -> Path | None:
        """The file for ``url_path``, or ``None`` (unknown, a directory, or escaping its mount)."""
        path = unquote(urlsplit(url_path).path)
        for prefix, directories in self.table:
            if path.startswith(prefix) or path + "/" == prefix:
                rest = PurePosixPath(path[len(prefix) :])
                if any(part in ("..", "") for part in rest.parts) or rest.is_absolute():
                    return None
                for directory in directories:
                    found = _inside(directory, rest)
                    if found is not None:
                        return found
                return None
        return None

    def body(self, url_path: str) -> tuple[bytes, str] | None:
        """``(content, content_type)`` for ``url_path``, or ``None`` for 404."""
        if unquote(urlsplit(url_path).path) == "/heartsock/index.json":
            return json.dumps(heartsock_modules()).encode(), "application/json"
        path = self.resolve(url_path)
        if path is None:
            return None
        ctype = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return path.read_bytes(), ctype


def _inside(directory: Path, rest: PurePosixPath) -> Path | None:
    base = directory.resolve()
    candidate = (base / rest).resolve() if rest.parts else base / "index.html"
    if candidate.is_dir():
        candidate = candidate / "index.html"
    if base != candidate and base not in candidate.parents:
        return None  # a symlink or similar escaping the mount
    return candidate if candidate.is_file() else None


class MountsHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``mounts`` (a class attribute); subclasses add routes and headers."""

    mounts: Mounts

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        found = self.mounts.body(self.path)
        if found is None:
            self.send_error(404)
            return
        self.reply(*found)

    def reply(self, content: bytes, ctype: str) -> None:
        """Send a 200 with ``content``, uncached, plus :meth:`extra_headers`."""
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Cache-Control", "no-store")
        self.extra_headers()
        self.end_headers()
        self.wfile.write(content)

    def extra_headers(self) -> None:
        """Headers a subclass adds to every reply (none here)."""

    def log_message(self, format: str, *args: object) -> None:
        pass


class StaticServer:
    """A threaded HTTP server on 127.0.0.1 serving :class:`Mounts`; ``with`` closes it."""

    def __init__(self, mounts: Mounts, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("Handler", (MountsHandler,), {"mounts": mounts})
        self._server = http.server.ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="static", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StaticServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
