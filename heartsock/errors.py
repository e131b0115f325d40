"""The exceptions heartsock raises, all under one base.

::

    HeartsockError
    ├── UnsupportedError (RuntimeError)    no global WebSocket here (plain CPython, a page that deleted it)
    ├── ConfigError (ValueError)           a bad option value, or a bad argument to a method
    │   └── ConfigTypeError (TypeError)    an option or argument of the wrong type, or an unknown option name
    ├── QueueFull                          send() while not open would overflow max_queue
    ├── MessageExpired (TimeoutError)      (in error events) queued messages outlived their ttl
    ├── SocketClosed (ConnectionError)     send()/create()/recv()… after destroy(); send() after it gave up
    ├── ConnectionFailed (ConnectionError) connect()/recv()/wait_open()/drain(): the socket gave up; .code, .reason
    └── DecodeError (ValueError)           recv_json() received a message that is not JSON

Catch :class:`HeartsockError` to catch everything heartsock raises on purpose.
Misuse errors also subclass the builtin that names their kind (``ValueError``,
``TypeError``), so code written against plain Python conventions keeps working.

Under MicroPython (PyScript's ``mpy``) a class cannot have two built-in exception
bases, so there each of them derives from :class:`HeartsockError` alone: catch
``HeartsockError`` (or the class itself), not the builtin, in code meant for both.
"""

from __future__ import annotations

from ._compat import MICROPYTHON

TYPE_CHECKING = False
if TYPE_CHECKING or not MICROPYTHON:
    _RuntimeError = RuntimeError
    _ValueError = ValueError
    _TypeError = TypeError
    _ConnectionError = ConnectionError
    _TimeoutError = TimeoutError
else:  # pragma: no cover - MicroPython: one built-in exception base per class
    _RuntimeError = _ValueError = _TypeError = _ConnectionError = _TimeoutError = object

__all__ = [
    "ConfigError",
    "ConfigTypeError",
    "ConnectionFailed",
    "DecodeError",
    "HeartsockError",
    "MessageExpired",
    "QueueFull",
    "SocketClosed",
    "UnsupportedError",
]


class HeartsockError(Exception):
    """Base class of every exception heartsock raises on purpose."""


class UnsupportedError(HeartsockError, _RuntimeError):
    """The JavaScript runtime has no global ``WebSocket`` (or this is not a browser at all)."""


class ConfigError(HeartsockError, _ValueError):
    """An option or argument has a value heartsock cannot use; the message names it."""


class ConfigTypeError(ConfigError, _TypeError):
    """An option or argument has the wrong type, or an option name is unknown."""


class QueueFull(HeartsockError):
    """The offline queue holds ``max_queue`` messages already; this message was not queued.

    Also the ``error`` of the ``"error"`` event that reports a full receive buffer
    (``max_recv_queue``); that one is reported, not raised.
    """


class SocketClosed(HeartsockError, _ConnectionError):
    """The socket cannot do this any more: it was destroyed, or it gave up and this is a send.

    Raised by ``send()``, ``create()``, ``onreconnect()``, ``recv()``, ``wait_open()`` and
    ``drain()`` after ``destroy()`` (``async for`` just ends then), and by ``send()``
    once the socket gave up reconnecting (``CLOSED``; ``create()`` starts it again). A
    socket that gave up makes ``recv()``, ``wait_open()``, ``drain()`` and ``connect()``
    raise :class:`ConnectionFailed` instead.
    """


class ConnectionFailed(HeartsockError, _ConnectionError):
    """The socket gave up: every permitted attempt failed, the close code was final, or
    reconnection is off.

    Raised by ``connect()``, and by ``recv()`` (once no buffered message is left),
    ``async for``, ``wait_open()`` and ``drain()`` (with messages still queued) on a
    socket in ``CLOSED``. The socket's ``closed_reason`` says why it gave up.

    Attributes:
        code: the close code of the last connection attempt (``None`` if none closed).
        reason: the close reason of the last attempt (may be empty).
    """

    def __init__(self, message: str, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class DecodeError(HeartsockError, _ValueError):
    """``recv_json()`` received a message that is not JSON (the text is quoted, truncated)."""


class MessageExpired(HeartsockError, _TimeoutError):
    """Queued messages outlived the ``ttl`` given to ``send()`` before a connection opened.

    Not raised: it is the ``.error`` of the ``error`` event that reports the drop.
    """
