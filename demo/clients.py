"""One accepted WebSocket as the demo sees it: a bounded outbox, a sender task, a ring of recent messages.

Nothing a client does can make the server wait on it or keep more than a bounded
amount for it:

- every message to a client goes into its outbox (at most :data:`OUTBOX_MESSAGES`
  messages and :data:`OUTBOX_BYTES` bytes), which its own sender task drains; a
  broadcast only appends, so it never waits on a slow member. A client whose outbox
  overflows is closed with :data:`CLOSE_TOO_SLOW` (1013, "try again later": heartsock
  clients reconnect), or aborted if even the close cannot get through;
- outgoing messages are capped like incoming ones: one larger than ``max_size`` bytes
  is refused with :class:`MessageTooBig`;
- the messages it sent are kept for ``/api/status`` in a ring of :data:`RECENT`,
  each cut to :data:`SHOWN` characters, and forgotten with the client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from heartsock.server import HeartbeatConnection
from heartsock.wire import Data

from .listener import WebSocketProtocol

__all__ = ["CLOSE_TOO_SLOW", "OUTBOX_BYTES", "OUTBOX_MESSAGES", "RECENT", "SHOWN", "Client", "MessageTooBig"]

log = logging.getLogger("demo")

#: Messages waiting for a client at most; one more closes it.
OUTBOX_MESSAGES = 256
#: Bytes waiting for a client at most; more closes it.
OUTBOX_BYTES = 1024 * 1024
#: The close code for a client that does not read fast enough (1013 "try again later").
CLOSE_TOO_SLOW = 1013
#: Messages of each client kept for ``/api/status``.
RECENT = 32
#: Characters of each kept message.
SHOWN = 1000
#: Seconds a close may take before the connection is aborted instead.
CLOSE_TIMEOUT = 1.0


class MessageTooBig(ValueError):
    """An outgoing message larger than the cap (``max_size`` bytes, as for incoming ones)."""


@dataclass(frozen=True)
class Received:
    """One application message a client sent, as ``/api/status`` reports it."""

    at: float
    peer: int
    route: str
    data: str

    def as_json(self) -> dict[str, Any]:
        """The record as ``/api/status`` shows it."""
        return {"at": round(self.at, 3), "peer": self.peer, "route": self.route, "data": self.data}


class Client:
    """One accepted connection of a demo endpoint.

    Args:
        id: the peer number ``/api/status`` shows.
        route: the endpoint (``echo``, ``chat``, ``feed``).
        path: the request path.
        conn: the connection behind heartsock.server's heartbeat.
        protocol: uvicorn's protocol under it (flow control, abort), if known.
        max_size: the largest message sent, in bytes.
    """

    def __init__(
        self,
        id: int,
        route: str,
        path: str,
        conn: HeartbeatConnection,
        protocol: WebSocketProtocol | None,
        max_size: int,
    ) -> None:
        self.id = id
        self.route = route
        self.path = path
        self.conn = conn
        self.protocol = protocol
        self.max_size = max_size
        self.opened_at = asyncio.get_running_loop().time()
        self.muted = False
        self.messages = 0
        self.recent: deque[Received] = deque(maxlen=RECENT)
        self.closing = False
        #: Since when flow control has held this client's writes (``None``: it does not).
        self.paused_since: float | None = None
        self._outbox: deque[Data] = deque()
        self._outbox_bytes = 0
        self._ready = asyncio.Event()
        self._sender: asyncio.Task[None] | None = asyncio.create_task(self._send_all(), name=f"demo-sender-{id}")
        self._closer: asyncio.Task[None] | None = None

    # ---- what it sent ----------------------------------------------------------------------
    def heard(self, message: Data) -> None:
        """Record an application message from the client."""
        self.messages += 1
        data = message if isinstance(message, str) else f"<{len(message)} bytes>"
        if len(data) > SHOWN:
            data = data[: SHOWN - 1] + "…"
        self.recent.append(Received(time.time(), self.id, self.route, data))

    # ---- what it gets ----------------------------------------------------------------------
    def send(self, message: Data) -> None:
        """Queue ``message`` for the client; never waits.

        Nothing goes out once the client is muted or closing. A client whose outbox is
        full is closed with :data:`CLOSE_TOO_SLOW`.

        Raises:
            MessageTooBig: ``message`` is larger than ``max_size`` bytes.
        """
        size = len(message.encode()) if isinstance(message, str) else len(message)
        if size > self.max_size:
            raise MessageTooBig(f"{size} bytes, over the {self.max_size}-byte cap")
        if self.muted or self.closing:
            return
        if len(self._outbox) >= OUTBOX_MESSAGES or self._outbox_bytes + size > OUTBOX_BYTES:
            waiting = f"{len(self._outbox)} messages, {self._outbox_bytes} bytes"
            log.info("peer %d reads too slowly (%s waiting); closing with %d", self.id, waiting, CLOSE_TOO_SLOW)
            self.close(CLOSE_TOO_SLOW, "too slow: your messages piled up on the server")
            return
        self._outbox.append(message)
        self._outbox_bytes += size
        self._ready.set()

    @property
    def queued(self) -> int:
        """Messages waiting in the outbox."""
        return len(self._outbox)

    async def _send_all(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                while not self._outbox:
                    self._ready.clear()
                    await self._ready.wait()
                message = self._outbox.popleft()
                self._outbox_bytes -= len(message.encode()) if isinstance(message, str) else len(message)
                await self.conn.send(message)
        except ConnectionClosed:
            pass

    # ---- the end -----------------------------------------------------------------------------
    def mute(self) -> None:
        """Go half-open: keep TCP, send nothing, answer no heartbeat."""
        self.muted = True
        self.conn.answering = False
        self._outbox.clear()
        self._outbox_bytes = 0

    def abort(self) -> bool:
        """Abort the TCP connection (the client sees 1006); whether there was one to abort."""
        if self.protocol is None:
            return False
        self.closing = True
        self.protocol.abort()
        return True

    def close(self, code: int, reason: str) -> asyncio.Task[None]:
        """Close with ``code`` (dropping what is queued); abort if that takes over :data:`CLOSE_TIMEOUT`."""
        if self._closer is None:
            self.closing = True
            if self._sender is not None:
                self._sender.cancel()
            self._outbox.clear()
            self._outbox_bytes = 0
            self._closer = asyncio.create_task(self._close(code, reason), name=f"demo-close-{self.id}")
        return self._closer

    async def _close(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.conn.close(code, reason), CLOSE_TIMEOUT)
        except TimeoutError:
            self.abort()

    async def finish(self) -> None:
        """Stop the sender (the connection ended)."""
        self.closing = True
        # Let go of the task: it keeps its CancelledError, whose traceback holds this object,
        # a cycle only a full garbage collection would free (demo.memory).
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
