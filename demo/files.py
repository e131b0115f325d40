"""The demo's files over HTTP: the mounts of :class:`devtools.static.Mounts`, streamed by Starlette.

Rules: ``GET``/``HEAD`` only; a path with a control character (``/%00``) is a 400; a
path with a dot-segment (``/.secret``, ``/x/.git/config``) is a 404, as is anything
outside the mounts (:meth:`~devtools.static.Mounts.resolve` also refuses ``..`` and
symlinks leading out). Files are sent by :class:`starlette.responses.FileResponse`, in
64 KiB chunks read off the event loop: a large file costs a chunk of memory per
download, not the file. The big versioned assets (Pyodide, PyScript, MicroPython) are
cached and revalidated by ETag (304); everything else is ``no-store``.
"""

from __future__ import annotations

import json
import mimetypes
import os
from pathlib import Path
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from devtools.static import _TYPES, Mounts, heartsock_modules

__all__ = ["FileServer"]

_REVALIDATE = ("/pyodide/", "/pyscript/", "/micropython/")


def _bad_path(path: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path)


def _hidden(path: str) -> bool:
    return any(part.startswith(".") for part in path.split("/"))


class FileServer:
    """The HTTP endpoint for files: ``await files(request)`` returns the response."""

    def __init__(self, mounts: Mounts) -> None:
        self.mounts = mounts

    async def __call__(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return PlainTextResponse("files are read with GET\n", 405, headers={"Allow": "GET, HEAD"})
        raw = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        path = unquote(raw)
        if _bad_path(path):
            return PlainTextResponse("bad path: control characters\n", 400)
        if _hidden(path):
            return PlainTextResponse("not found\n", 404)
        if path == "/heartsock/index.json":
            body = json.dumps(heartsock_modules()).encode()
            return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})
        found = await run_in_threadpool(self._find, raw)
        if found is None:
            return PlainTextResponse("not found\n", 404)
        file, stat = found
        ctype = _TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        response = FileResponse(file, media_type=ctype, stat_result=stat)
        if path.startswith(_REVALIDATE):
            etag = response.headers["etag"]
            response.headers["Cache-Control"] = "no-cache"
            if etag in (tag.strip() for tag in request.headers.get("if-none-match", "").split(",")):
                return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
        else:
            response.headers["Cache-Control"] = "no-store"
        return response

    def _find(self, raw_path: str) -> tuple[Path, os.stat_result] | None:
        """The file and its ``stat`` (on a worker thread: it touches the disk)."""
        file = self.mounts.resolve(raw_path)
        if file is None:
            return None
        try:
            return file, file.stat()
        except OSError:
            return None
