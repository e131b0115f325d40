"""``connect()``: a :class:`~heartsock.Socket` for asyncio code, open before you use it."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from ._compat import MICROPYTHON, coroutine_steps
from ._runtime import Runtime
from .socket import Socket

__all__ = ["Connecting", "connect"]


class Connecting:
    """What :func:`connect` returns: ``await`` it, or use it with ``async with``."""

    def __init__(self, url_or_options: object, runtime: Runtime | None, options: Mapping[str, Any]) -> None:
        self._args = (url_or_options, runtime, dict(options))
        self._socket: Socket | None = None

    async def _open(self) -> Socket:
        url_or_options, runtime, options = self._args
        sock = Socket(url_or_options, runtime=runtime, **options)
        sock._buffer_from_the_start()  # recv() gets every message, from the first
        try:
            await sock.wait_open()
        except BaseException:
            sock.destroy()
            raise
        return sock

    def __await__(self) -> Generator[Any, None, Socket]:
        return coroutine_steps(self._open())

    if MICROPYTHON:  # pragma: no cover - MicroPython's ``await`` iterates its operand
        __iter__ = __await__

    async def __aenter__(self) -> Socket:
        self._socket = await self._open()
        return self._socket

    async def __aexit__(self, *exc_info: object) -> None:
        if self._socket is not None:
            self._socket.destroy()


def connect(url_or_options: object = None, *, runtime: Runtime | None = None, **options: Any) -> Connecting:
    """Open a :class:`Socket` and wait until its first connection is open.

    ``sock = await connect(url, ...)`` or ``async with connect(url, ...) as sock:``
    (the socket is destroyed when the block exits, also on errors and cancellation).
    Takes the same arguments as :class:`Socket`.

    Raises:
        ConnectionFailed: the socket gave up before it ever opened (``.code`` and
            ``.reason`` of the last close).
    """
    return Connecting(url_or_options, runtime, options)
