"""``heartsock.server`` under ASGI: a Starlette (and so FastAPI) WebSocket as its connection.

ASGI gives the application text and binary messages and a close, nothing below: no Ping
frames and no transport. So under ASGI a silent connection is closed without a Ping
probe (``probe_timeout`` does not apply), and the stalled-writer rule is left to the
ASGI server (uvicorn has its own write limits). Everything else — heartbeats answered and
hidden, the silence watchdog, inbound rate limits — works as with ``websockets``.

The ``ConnectionClosed`` exceptions a handler sees are ``websockets``' own, as with the
``websockets`` server, so one handler serves both (``pip install heartsock[server]``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from .wire import Data

__all__ = ["AsgiConnection"]


class AsgiConnection:
    """An accepted ASGI WebSocket (Starlette's ``WebSocket``) seen as a ``websockets`` connection.

    Args:
        websocket: the framework's WebSocket, already accepted.
        subprotocol: the subprotocol it was accepted with, if any.

    Attributes:
        websocket: the framework's WebSocket.
        subprotocol: the subprotocol it was accepted with (``None``: none), as
            ``websockets``' ``ServerConnection.subprotocol``.
        close_code: the close code, once closed (by either side); ``None`` before.
    """

    def __init__(self, websocket: Any, subprotocol: str | None = None) -> None:
        self.websocket = websocket
        self.subprotocol = subprotocol
        self.close_code: int | None = None
        self._closed = asyncio.Event()

    @property
    def request(self) -> Any:
        """The framework's WebSocket (its ``url``, ``headers``, ``client`` …)."""
        return self.websocket

    async def recv(self) -> Data:
        """The next message, text or binary.

        Raises:
            websockets.exceptions.ConnectionClosed: the client disconnected.
        """
        if self.close_code is not None:
            raise self._closed_error()
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            self._ended(int(message.get("code", 1005)))
            raise self._closed_error()
        text = message.get("text")
        if text is not None:
            return str(text)
        return bytes(message.get("bytes") or b"")

    def __aiter__(self) -> AsyncIterator[Data]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Data]:
        """Yield messages; stop at a normal close (1000, 1001), raise at any other, as ``websockets`` does."""
        from websockets.exceptions import ConnectionClosedOK

        while True:
            try:
                yield await self.recv()
            except ConnectionClosedOK:
                return

    async def send(self, message: Data) -> None:
        """Send a text (``str``) or binary (``bytes``) message.

        Raises:
            websockets.exceptions.ConnectionClosed: the connection is closed.
        """
        if self.close_code is not None:
            raise self._closed_error()
        try:
            if isinstance(message, str):
                await self.websocket.send_text(message)
            else:
                await self.websocket.send_bytes(message)
        except Exception as exc:
            self._ended(1006)
            raise self._closed_error() from exc

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code`` and ``reason`` (once; later calls do nothing)."""
        if self.close_code is None:
            self._ended(code)
            try:
                await self.websocket.close(code, reason)
            except Exception:  # already gone: the close is what we wanted anyway
                pass

    async def wait_closed(self) -> None:
        """Return once the connection is closed."""
        await self._closed.wait()

    def _ended(self, code: int) -> None:
        self.close_code = code
        self._closed.set()

    def _closed_error(self) -> Exception:
        from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK
        from websockets.frames import Close

        code = self.close_code if self.close_code is not None else 1006
        cls = ConnectionClosedOK if code in (1000, 1001) else ConnectionClosedError
        return cls(Close(code, ""), None)
