"""What the core hands the driver: actions to perform and events to deliver.

Rule 1: actions and events are kept apart. An *action* (:class:`Open`, :class:`Send`,
:class:`Abandon`) is something the driver must do to the transport; an *event* is
something user code must hear about. The driver performs every pending action before
it delivers the next event, so when a user callback runs, everything the core decided
before it has already happened to the network.

Rule 2: nothing queued is ever rewritten. A callback that calls back into the socket
(``create()`` from ``state_cb``, ``destroy()`` from ``message_cb``) only adds inputs,
from which the core makes new actions and events, queued after the old ones.

Rule 3: a message for the user is its own event: the ``str`` or ``bytes`` itself, with
no wrapper object, so the hot path (every received message) allocates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .events import SessionReset, SocketEvent
from .state import State
from .wire import Data

__all__ = [
    "Abandon",
    "Acknowledged",
    "SessionWasReset",
    "Action",
    "ErrorRaised",
    "Event",
    "GaveUp",
    "Open",
    "Opened",
    "Retrying",
    "Send",
    "SocketEnded",
    "StateChanged",
    "UserCodeFailed",
]


# ---- actions: what the driver must do to the transport ---------------------------------
@dataclass(frozen=True, slots=True)
class Open:
    """Open a new underlying WebSocket with this id."""

    __match_args__ = ("socket_id",)  # the fields, in order (MicroPython: heartsock._mpy_stdlib)

    socket_id: int


@dataclass(frozen=True, slots=True)
class Send:
    """Write ``data`` to the open socket ``socket_id`` (``heartbeat``: it is a ping)."""

    __match_args__ = ("socket_id", "data", "heartbeat")  # the fields, in order (MicroPython: heartsock._mpy_stdlib)

    socket_id: int
    data: Data
    heartbeat: bool = False


@dataclass(frozen=True, slots=True)
class Abandon:
    """Detach the socket's handlers, try ``close(code, reason)`` and forget it."""

    __match_args__ = ("socket_id", "code", "reason")  # the fields, in order (MicroPython: heartsock._mpy_stdlib)

    socket_id: int
    code: int
    reason: str


Action = Union[Open, Send, Abandon]


# ---- events: what the driver must tell user code -----------------------------------------
@dataclass(frozen=True, slots=True)
class Opened:
    """A connection opened (after the offline queue was flushed into it)."""

    __match_args__ = ("event",)  # the fields, in order (MicroPython: heartsock._mpy_stdlib)

    event: SocketEvent


@dataclass(frozen=True, slots=True)
class SocketEnded:
    """An underlying socket ended: the browser closed it, or heartsock abandoned it."""

    __match_args__ = ("event",)  # the fields, in order (MicroPython: heartsock._mpy_stdlib)

    event: SocketEvent


@dataclass(frozen=True, slots=True)
class ErrorRaised:
    """The browser reported an error on the current socket."""

    __match_args__ = ("event",)  # the fields, in order (MicroPython: heartsock._mpy_stdlib)

    event: SocketEvent


@dataclass(frozen=True, slots=True)
class Retrying:
    """Retry number ``attempt`` (1-based) will start in ``delay`` seconds."""

    __match_args__ = ("attempt", "delay")  # the fields, in order (MicroPython: heartsock._mpy_stdlib)

    attempt: int
    delay: float


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The state moved from ``old`` to ``new``."""

    __match_args__ = ("old", "new")  # the fields, in order (MicroPython: heartsock._mpy_stdlib)

    old: State
    new: State


@dataclass(frozen=True, slots=True)
class GaveUp:
    """The socket stopped reconnecting (now ``CLOSED``); ``why`` says which rule."""

    __match_args__ = ("code", "reason", "why")  # the fields, in order (MicroPython: heartsock._mpy_stdlib)

    code: int | None
    reason: str
    why: str


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """The server acknowledged messages up to ``seq`` (``resume=True``): ``drain()`` may return."""

    __match_args__ = ("seq",)  # the fields, in order (MicroPython: heartsock._mpy_stdlib)

    seq: int


@dataclass(frozen=True, slots=True)
class SessionWasReset:
    """The server no longer had the session; a new one began (``resume=True``)."""

    __match_args__ = ("reset",)  # the fields, in order (MicroPython: heartsock._mpy_stdlib)

    reset: SessionReset


@dataclass(frozen=True, slots=True)
class UserCodeFailed:
    """User code the core called (a ``pong_msg`` predicate, ``should_reconnect``, a backoff
    policy) raised ``error``; the core went on as ``what`` says."""

    __match_args__ = ("what", "error")  # the fields, in order (MicroPython: heartsock._mpy_stdlib)

    what: str
    error: Exception


#: An event: one of the classes above, or a message for the user (``str``/``bytes``).
Event = Union[
    Data,
    Opened,
    SocketEnded,
    ErrorRaised,
    Retrying,
    StateChanged,
    GaveUp,
    UserCodeFailed,
    Acknowledged,
    SessionWasReset,
]
