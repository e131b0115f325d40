"""The exceptions heartsock raises, all under one base.

::

    HeartsockError
    ├── UnsupportedError (RuntimeError)    no global WebSocket here (plain CPython, a page that deleted it)
    ├── ConfigError (ValueError)           a bad option value, or a bad argument to a method
    │   └── ConfigTypeError (TypeError)    an option or argument of the wrong type, or an unknown option name
    ├── QueueFull                          send() while not open would overflow ``max_queue``
    ├── SocketClosed (ConnectionError)     send()/recv() after destroy(), or after the socket gave up
    ├── ConnectionFailed (ConnectionError) connect()/recv()/wait_open(): the socket gave up; ``.code``/``.reason``
    └── DecodeError (ValueError)           recv_json() received a message that is not JSON

Catch :class:`HeartsockError` to catch everything heartsock raises on purpose.
Misuse errors also subclass the builtin that names their kind (``ValueError``,
``TypeError``), so code written against plain Python conventions keeps working.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConfigTypeError",
    "ConnectionFailed",
    "DecodeError",
    "HeartsockError",
    "QueueFull",
    "SocketClosed",
    "UnsupportedError",
]


class HeartsockError(Exception):
    """Base class of every exception heartsock raises on purpose."""


class UnsupportedError(HeartsockError, RuntimeError):
    """The JavaScript runtime has no global ``WebSocket`` (or this is not a browser at all)."""


class ConfigError(HeartsockError, ValueError):
    """An option or argument has a value heartsock cannot use; the message names it."""


class ConfigTypeError(ConfigError, TypeError):
    """An option or argument has the wrong type, or an option name is unknown."""


class QueueFull(HeartsockError):
    """The offline queue holds ``max_queue`` messages already; this message was not queued."""


class SocketClosed(HeartsockError, ConnectionError):
    """The socket was destroyed or gave up reconnecting; it can no longer send or receive."""


class ConnectionFailed(HeartsockError, ConnectionError):
    """The socket gave up: every permitted attempt failed, or the close code was final.

    Attributes:
        code: the close code of the last connection attempt (``None`` if none closed).
        reason: the close reason of the last attempt (may be empty).
    """

    def __init__(self, message: str, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class DecodeError(HeartsockError, ValueError):
    """``recv_json()`` received a message that is not JSON (the text is quoted, truncated)."""
