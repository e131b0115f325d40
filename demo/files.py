"""The demo's files over HTTP: the mounts of :class:`devtools.static.Mounts`, streamed by Starlette.

Rules: ``GET``/``HEAD`` only; a path with a control character (``/%00``) is a 400; a
path with a dot-segment (``/.secret``, ``/x/.git/config``) is a 404, as is anything
outside the mounts (:meth:`~devtools.static.Mounts.resolve` also refuses ``..`` and
symlinks leading out). Files are sent by :class:`starlette.responses.FileResponse`, in
64 KiB chunks read off the event loop: a large file costs a chunk of memory per
download, not the file. Under the demo's listener, downloads share :data:`CHUNK_SLOTS`
slots a chunk at a time (:class:`PacedFile`): 300 concurrent downloads no longer fill
every turn of the event loop (the soak's take 22 s instead of 15, with the other
clients' echo p99 31 ms instead of 62), and a client that stops reading waits for its
buffer to drain holding no slot, so it blocks nobody. The big versioned
assets (Pyodide, PyScript, MicroPython) are cached and revalidated by ETag (304);
everything else is ``no-store``.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

from devtools.static import _TYPES, Mounts, heartsock_modules

from .listener import flow_of

__all__ = ["CHUNK_SLOTS", "FileServer", "PacedFile"]

#: Chunks of file being read or written at once, across every download.
CHUNK_SLOTS = 8

_REVALIDATE = ("/pyodide/", "/pyscript/", "/micropython/")


def _bad_path(path: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path)


def _hidden(path: str) -> bool:
    return any(part.startswith(".") for part in path.split("/"))


class PacedFile(FileResponse):
    """A :class:`~starlette.responses.FileResponse` whose chunks take turns.

    Each body chunk waits until the client has read what was sent before (uvicorn's flow
    control, :func:`demo.listener.flow_of`), then takes one of ``slots``, and keeps it
    while it is written and the next chunk is read from disk. So at most ``slots``
    chunks are in flight at once, however many downloads run, and a stalled reader
    holds no slot. Under another server (no flow control in the scope) it is a plain
    :class:`~starlette.responses.FileResponse`.
    """

    def __init__(self, *args: Any, slots: asyncio.Semaphore, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slots = slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        flow = flow_of(scope)
        if flow is None:
            await super().__call__(scope, receive, send)
            return
        held = False

        async def paced(message: Message) -> None:
            nonlocal held
            if message["type"] != "http.response.body":
                await send(message)
                return
            if held:
                self.slots.release()
                held = False
            await flow.drain()  # the client has read what went before (or is gone)
            await self.slots.acquire()
            held = True
            await send(message)  # writable: this does not wait
            if not message.get("more_body", False):
                self.slots.release()
                held = False

        try:
            await super().__call__(scope, receive, paced)
        finally:
            if held:
                self.slots.release()


class FileServer:
    """The HTTP endpoint for files: ``await files(request)`` returns the response."""

    def __init__(self, mounts: Mounts) -> None:
        self.mounts = mounts
        self.slots = asyncio.Semaphore(CHUNK_SLOTS)

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
        response = PacedFile(file, media_type=ctype, stat_result=stat, slots=self.slots)
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
