"""heartsock: a WebSocket for Python in the browser that stays alive.

A heartbeat that notices a dead connection, reconnection with jittered backoff, and an
offline queue that loses nothing — over the browser's own ``WebSocket`` through
Pyodide's FFI (PyScript pages, Pyodide apps, Web Workers).

Three ways to use it (see the README)::

    sock = heartsock.Socket("ws://127.0.0.1:8000/ws", message_cb=print)   # callbacks
    sock.on("message", print)                                             # listeners
    async with heartsock.connect("ws://127.0.0.1:8000/ws") as sock:       # asyncio
        async for message in sock: ...
"""

# No `from __future__ import annotations` here: MicroPython has no __future__ module until
# _compat (imported first) registers its stand-in; the other modules may use it.
import logging

from . import _compat  # noqa: F401 - first: under MicroPython, registers the standard-module stand-ins
from ._connect import Connecting, connect
from .backoff import exponential, fixed
from .errors import (
    ConfigError,
    ConfigTypeError,
    ConnectionFailed,
    DecodeError,
    HeartsockError,
    MessageExpired,
    QueueFull,
    SocketClosed,
    UnsupportedError,
)
from .events import SessionReset, SocketEvent
from .heart import Heart
from .options import Options
from .socket import Socket
from .state import State
from .stats import Stats
from .wire import CLOSE_CONNECT_TIMEOUT, CLOSE_HEARTBEAT_TIMEOUT, Data


def runtime(sock: Socket | None = None) -> str:
    """Which runtime ``sock`` uses, or (without one) the runtime a new ``Socket`` uses here.

    One of ``"pyodide"`` (a Pyodide page, PyScript ``py``), ``"pyodide-worker"`` (Pyodide
    in a Web Worker), ``"micropython"`` (PyScript ``mpy``), ``"cpython"`` (an asyncio
    program over ``websockets``), or ``"fake"`` (:class:`heartsock.testing.FakeRuntime`).
    The README's runtime table says what each one supports.
    """
    from ._runtime import runtime_name

    return runtime_name(None if sock is None else sock._driver.runtime)


__version__ = "0.1.0"
"""The version of heartsock (PEP 440), as in the name of its wheel."""

# A library logs, the app decides where records go: without this, Python's last-resort
# handler would print heartsock's records to stderr, which PyScript shows as an error box.
logging.getLogger("heartsock").addHandler(logging.NullHandler())

__all__ = [
    "CLOSE_CONNECT_TIMEOUT",
    "CLOSE_HEARTBEAT_TIMEOUT",
    "ConfigError",
    "ConfigTypeError",
    "Connecting",
    "ConnectionFailed",
    "Data",
    "DecodeError",
    "Heart",
    "HeartsockError",
    "MessageExpired",
    "Options",
    "QueueFull",
    "Socket",
    "SessionReset",
    "SocketClosed",
    "SocketEvent",
    "State",
    "Stats",
    "UnsupportedError",
    "__version__",
    "connect",
    "exponential",
    "fixed",
    "runtime",
]
