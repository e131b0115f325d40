"""Socket options: one validated, immutable record, built from any of the three forms.

``Socket`` accepts its options as Python keywords (snake_case, seconds), as ``url=``,
or as the reference library's option dict (camelCase, milliseconds) so JavaScript code
ports line by line. All three land in :class:`Options` through :func:`parse_options`,
which validates every value before any connection is attempted: a bad option raises
:class:`~heartsock.ConfigError` (a ``ValueError``) or
:class:`~heartsock.ConfigTypeError` (a ``TypeError``) naming the option.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from .backoff import BackoffPolicy
from .errors import ConfigError, ConfigTypeError
from .wire import DEFAULT_HEART_TIME, HEARTBEAT_PING, parse_frame

__all__ = ["Options", "SEED_KEYS", "UrlProvider", "parse_options", "validate_url"]

UrlProvider = Callable[[], Union[str, Awaitable[str]]]
"""A callable (plain or ``async``) returning the ``ws://``/``wss://`` URL to connect to.

Given as ``url``, it is called before every connection attempt, so each attempt can use
a fresh token or another server.
"""
PongMatcher = Union[str, bytes, Callable[[Union[str, bytes]], bool]]
"""What ``pong_msg`` accepts: the reply itself, or a predicate ``(data) -> bool``."""

SEED_KEYS: Mapping[str, str] = {
    "url": "url",
    "heartTime": "heart_time",
    "heartMsg": "heart_msg",
    "isReconnect": "is_reconnect",
    "isRestory": "is_restory",
    "reconnectTime": "reconnect_time",
    "reconnectCount": "reconnect_count",
    "openCb": "open_cb",
    "closeCb": "close_cb",
    "messageCb": "message_cb",
    "errorCb": "error_cb",
}
"""The reference library's option names, mapped to heartsock's keyword names.

These are the only keys the option dict accepts. Times in the dict
(``heartTime``, ``reconnectTime``) are milliseconds; ``isRestory`` has no keyword: a
true value turns reconnection off.
"""
_SEED_MILLISECONDS = frozenset({"heartTime", "reconnectTime"})
_CALLBACKS = (
    "open_cb",
    "close_cb",
    "message_cb",
    "error_cb",
    "reconnect_cb",
    "state_cb",
    "reset_cb",
    "should_reconnect",
)


@dataclass(frozen=True, slots=True)
class Options:
    """Every option of a :class:`~heartsock.Socket`, validated; times in seconds.

    ``Socket(url, **options)`` builds one with :func:`parse_options` and keeps it in
    :attr:`Socket.options <heartsock.Socket.options>`; it never changes afterwards. Each
    field is an option of the same name. The ones the reference library's option dict
    also accepts are listed in :data:`SEED_KEYS` (there in camelCase and milliseconds).
    """

    __match_args__ = (
        "url",
        "protocols",
        "heart_time",
        "heart_msg",
        "is_reconnect",
        "reconnect_time",
        "reconnect_count",
        "open_cb",
        "close_cb",
        "message_cb",
        "error_cb",
        "pong_timeout",
        "pong_msg",
        "backoff",
        "reconnect_max_time",
        "min_uptime",
        "connect_timeout",
        "max_queue",
        "max_recv_queue",
        "should_reconnect",
        "reconnect_cb",
        "state_cb",
        "queue_overflow",
        "resume",
        "reset_cb",
        "shared",
    )  # the fields, in order (MicroPython: heartsock._mpy_stdlib)

    url: str | UrlProvider
    """The ``ws://`` or ``wss://`` URL to connect to, or a :data:`UrlProvider` called
    before every attempt (fresh tokens, server rotation). An exception from the
    provider, or a result that is not a ws/wss URL, is an ``error`` event and a failed
    attempt. Required. Dict key ``url``."""
    protocols: tuple[str, ...] = ()
    """Subprotocol names offered in the handshake (the ``WebSocket`` constructor's
    second argument). The option takes one name or a list of names; ``()``: none."""
    heart_time: float = DEFAULT_HEART_TIME
    """Seconds of inbound silence before a heartbeat (:attr:`heart_msg`) is sent; every
    inbound message restarts the count. Dict key ``heartTime`` (milliseconds)."""
    heart_msg: str | bytes = HEARTBEAT_PING
    """The heartbeat: ``str`` goes out as a text frame, ``bytes`` as a binary frame.
    Sent only on an open connection, never queued. Dict key ``heartMsg``."""
    is_reconnect: bool = True
    """Reconnect after a connection is lost or fails. ``False``: the first such close
    sends the socket to :attr:`State.CLOSED <heartsock.State.CLOSED>`. Dict key
    ``isReconnect``; ``isRestory: true`` in the dict also turns it off."""
    reconnect_time: float = 5.0
    """The base of the backoff, in seconds: the upper bound of the first exponential
    delay, or the delay itself with ``backoff="fixed"``. Dict key ``reconnectTime``
    (milliseconds)."""
    reconnect_count: int = 5
    """Retries allowed after a connection is lost or fails (the first attempt is not
    one); ``-1``: unlimited. When they are spent the socket goes to ``CLOSED``. The count
    starts over after a connection stays up :attr:`min_uptime`. Dict key
    ``reconnectCount``."""
    open_cb: Callable[..., Any] | None = None
    """Called as ``open_cb(event)`` with a :class:`~heartsock.SocketEvent` each time a
    connection opens, after the offline queue was flushed to it. Dict key ``openCb``."""
    close_cb: Callable[..., Any] | None = None
    """Called as ``close_cb(event)`` once for every underlying socket that ends,
    including those heartsock ends itself (codes 4000 and 4001) and the last one at
    ``destroy()``. Dict key ``closeCb``."""
    message_cb: Callable[..., Any] | None = None
    """Called as ``message_cb(data)`` for every message: ``str`` for a text frame,
    ``bytes`` for a binary one (never a matched :attr:`pong_msg`). Dict key
    ``messageCb``."""
    error_cb: Callable[..., Any] | None = None
    """Called as ``error_cb(event)`` when the browser reports an error, or heartsock
    raises one itself (a URL provider that failed, a full receive buffer: the event's
    ``error``). Dict key ``errorCb``."""
    pong_timeout: float | None = None
    """Seconds to wait, after a heartbeat, for proof of life (see :attr:`pong_msg`)
    before the socket is abandoned with close code 4000 and replaced. ``None``: the
    same as :attr:`heart_time` (see :attr:`effective_pong_timeout`)."""
    pong_msg: PongMatcher | None = None
    """What answers a heartbeat. ``None``: any inbound message does, and is delivered.
    A ``str`` or ``bytes``: only an equal message does, and it is not delivered. A
    predicate ``(data) -> bool``: the messages it accepts do, and are not delivered.
    Any message still restarts the :attr:`heart_time` count."""
    backoff: str | BackoffPolicy = "exponential"
    """The delay before each retry. ``"exponential"``: full jitter,
    :func:`exponential(reconnect_time, reconnect_max_time) <heartsock.exponential>`;
    ``"fixed"``: :attr:`reconnect_time` every time (:func:`~heartsock.fixed`); or a
    :data:`~heartsock.backoff.BackoffPolicy` ``(n) -> seconds``. ``n`` counts from 0:
    the delay before retry ``n + 1``, the ``attempt`` that :attr:`reconnect_cb`
    receives."""
    reconnect_max_time: float = 60.0
    """The cap, in seconds, of the exponential backoff's interval."""
    min_uptime: float = 5.0
    """Seconds a connection must stay open, and not in doubt (no heartbeat unanswered),
    before the retry count starts over. A server that accepts and drops at once, or
    accepts and never answers a heartbeat, is still backed off and its budget spent."""
    connect_timeout: float = 10.0
    """Seconds a socket may stay connecting; then it is abandoned with close code 4001
    and counts as a failed attempt."""
    max_queue: int = 1000
    """Messages the offline queue holds while not open; one more makes ``send()`` raise
    :class:`~heartsock.QueueFull`. ``0``: every send while not open raises."""
    max_recv_queue: int = 10000
    """Messages buffered for ``recv()`` and ``async for``. Past it, messages still reach
    :attr:`message_cb` and listeners; the first drop of each overflow is an ``error``
    event, and every drop is counted in
    :attr:`Socket.recv_dropped <heartsock.Socket.recv_dropped>`."""
    should_reconnect: Callable[..., Any] | None = None
    """Called as ``should_reconnect(event)`` with the close event of a lost connection;
    its truth decides whether to reconnect, instead of the default rule (reconnect
    after any close but 1008, policy violation). An exception from it falls back to
    the default rule."""
    reconnect_cb: Callable[..., Any] | None = None
    """Called as ``reconnect_cb(attempt, delay)`` when retry number ``attempt``
    (1, 2, …) is scheduled ``delay`` seconds ahead."""
    state_cb: Callable[..., Any] | None = None
    """Called as ``state_cb(old, new)`` with two :class:`~heartsock.State` values on every
    state change."""
    queue_overflow: str = "raise"
    """What ``send()`` does when the offline queue holds ``max_queue`` messages:
    ``"raise"`` :class:`~heartsock.QueueFull`, ``"drop_oldest"`` queued message, or
    ``"drop_newest"`` (the one being sent); each drop is counted and reported as an
    ``error`` event. ``"raise"`` only, with ``resume=True``."""
    resume: bool = False
    """Open a heartsock session (the ``heartsock.v1`` subprotocol, with a
    :mod:`heartsock.server` that has ``resume=True``): every message reaches the other
    side exactly once, in order, across reconnects, and ``drain()`` waits for the server's
    acknowledgement. See PROTOCOL.md."""
    reset_cb: Callable[..., Any] | None = None
    """Called as ``reset_cb(reset)`` with a :class:`~heartsock.SessionReset` when the
    server no longer had the session (``resume=True`` only)."""
    shared: str | None = None
    """Share one underlying WebSocket with every tab of this origin that opens a socket
    with the same name: one tab (the leader, elected with Web Locks) holds the
    connection, the others relay through a ``BroadcastChannel``. Where either API is
    missing (and under CPython) the socket falls back to a private one and says so in
    :attr:`Socket.sharing <heartsock.Socket.sharing>`. ``None``: a private socket. See
    the README's "Sharing one socket across tabs"."""

    @property
    def effective_pong_timeout(self) -> float:
        """``pong_timeout``, or ``heart_time`` when it was left unset."""
        return self.heart_time if self.pong_timeout is None else self.pong_timeout


_FIELDS = frozenset(Options.__dataclass_fields__) | {"is_restory"}


def validate_url(url: object, option: str = "url") -> str:
    """Return ``url`` if it is a ``ws://`` or ``wss://`` URL string, else raise.

    Raises:
        ConfigTypeError: ``url`` is not a string.
        ConfigError: it is empty or has another scheme.
    """
    if not isinstance(url, str):
        raise ConfigTypeError(f"{option} must be a ws:// or wss:// URL string, got {type(url).__name__}")
    if not url:
        raise ConfigError(f"{option} is missing: give the ws:// or wss:// URL to connect to")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("ws", "wss") or not rest or rest.startswith("/"):
        raise ConfigError(f"{option} must start with ws:// or wss:// and name a host, got {url!r}")
    return url


def _number(name: str, value: object, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigTypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if number < 0 or (positive and number == 0):
        need = "greater than 0" if positive else "0 or more"
        raise ConfigError(f"{name} must be {need}, got {value!r}")
    return number


def positive_seconds(name: str, value: object) -> float:
    """Validate a positive, finite number of seconds named ``name``."""
    return _number(name, value, positive=True)


def message(name: str, value: object) -> str | bytes:
    """Validate a message option named ``name``: ``str`` or ``bytes``."""
    if not isinstance(value, (str, bytes)):
        raise ConfigTypeError(f"{name} must be str or bytes, got {type(value).__name__}")
    return value


def integer(name: str, value: object, *, minimum: int) -> int:
    """Validate an integer named ``name`` of at least ``minimum``."""
    return _integer(name, value, minimum=minimum)


def _integer(name: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigTypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ConfigError(f"{name} must be {minimum} or more, got {value!r}")
    return value


def _boolean(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigTypeError(f"{name} must be True or False, got {type(value).__name__}")
    return value


def _from_seed_dict(seed: Mapping[object, object]) -> dict[str, object]:
    """Map the reference's camelCase, millisecond dict to heartsock keywords."""
    out: dict[str, object] = {}
    for key, value in seed.items():
        if key not in SEED_KEYS:
            known = ", ".join(SEED_KEYS)
            raise ConfigTypeError(
                f"unknown option {key!r} in the option dict (it accepts the reference's keys: "
                f"{known}; heartsock's other options are keyword arguments)"
            )
        assert isinstance(key, str)
        if key in _SEED_MILLISECONDS:
            ms = _number(key, value, positive=key == "heartTime")
            value = ms / 1000.0
        elif key.endswith("Cb") and value is None:
            continue
        out[SEED_KEYS[key]] = value
    return out


def parse_options(url_or_options: object, keywords: Mapping[str, object]) -> Options:
    """Build validated :class:`Options` from ``Socket``'s positional and keyword arguments.

    Args:
        url_or_options: ``None``, a URL string, a URL provider callable, or the
            reference's option dict.
        keywords: heartsock's keyword options; they override the dict's values.

    Raises:
        ConfigError: a value is out of range, or the URL is missing or not ws/wss.
        ConfigTypeError: a value has the wrong type, or an option name is unknown.
    """
    merged: dict[str, object] = {}
    if isinstance(url_or_options, Mapping):
        merged.update(_from_seed_dict(url_or_options))
    elif url_or_options is not None:
        if "url" in keywords:
            raise ConfigTypeError("url given twice: positionally and as url=")
        merged["url"] = url_or_options
    for name, value in keywords.items():
        if name not in _FIELDS or name == "is_restory":
            raise ConfigTypeError(f"unknown option {name!r}")
        merged[name] = value
    return _validate(merged)


def _validate(raw: dict[str, object]) -> Options:
    values: dict[str, Any] = {}
    url = raw.pop("url", None)
    if url is None:
        raise ConfigError("url is missing: give the ws:// or wss:// URL to connect to")
    values["url"] = url if callable(url) else validate_url(url)

    is_restory = _boolean("isRestory", raw.pop("is_restory", False))
    for name in ("heart_time", "connect_timeout"):
        if name in raw:
            values[name] = _number(name, raw.pop(name), positive=True)
    for name in ("reconnect_time", "reconnect_max_time", "min_uptime"):
        if name in raw:
            values[name] = _number(name, raw.pop(name), positive=False)
    if (pong_timeout := raw.pop("pong_timeout", None)) is not None:
        values["pong_timeout"] = _number("pong_timeout", pong_timeout, positive=True)
    if "reconnect_count" in raw:
        values["reconnect_count"] = _integer("reconnect_count", raw.pop("reconnect_count"), minimum=-1)
    for name in ("max_queue", "max_recv_queue"):
        if name in raw:
            values[name] = _integer(name, raw.pop(name), minimum=0)
    values["resume"] = resume = _boolean("resume", raw.pop("resume", False))
    if "queue_overflow" in raw:
        overflow = raw.pop("queue_overflow")
        if overflow not in ("raise", "drop_oldest", "drop_newest"):
            raise ConfigError(f"queue_overflow must be 'raise', 'drop_oldest' or 'drop_newest', got {overflow!r}")
        if resume and overflow != "raise":
            raise ConfigError("queue_overflow must be 'raise' with resume=True: a session drops nothing silently")
        values["queue_overflow"] = overflow
    if (shared := raw.pop("shared", None)) is not None:
        values["shared"] = _shared_name(shared)
    is_reconnect = _boolean("is_reconnect", raw.pop("is_reconnect", True))
    values["is_reconnect"] = is_reconnect and not is_restory

    if "heart_msg" in raw:
        values["heart_msg"] = message("heart_msg", raw.pop("heart_msg"))
    if resume and parse_frame(values.get("heart_msg", HEARTBEAT_PING))[0]:
        raise ConfigError("heart_msg must not look like a session frame (m…, a…, h…, w…, x) with resume=True")
    if (pong_msg := raw.pop("pong_msg", None)) is not None:
        if not (isinstance(pong_msg, (str, bytes)) or callable(pong_msg)):
            raise ConfigTypeError(
                f"pong_msg must be None, str, bytes or a callable(data) -> bool, got {type(pong_msg).__name__}"
            )
        values["pong_msg"] = pong_msg
    if (protocols := raw.pop("protocols", None)) is not None:
        values["protocols"] = _protocols(protocols)
    if "backoff" in raw:
        backoff = raw.pop("backoff")
        if not (backoff in ("exponential", "fixed") or callable(backoff)):
            raise ConfigError(
                f"backoff must be 'exponential', 'fixed' or a callable(attempt) -> seconds, got {backoff!r}"
            )
        values["backoff"] = backoff
    for name in _CALLBACKS:
        cb = raw.pop(name, None)
        if cb is not None and not callable(cb):
            raise ConfigTypeError(f"{name} must be None or a callable, got {type(cb).__name__}")
        values[name] = cb
    assert not raw, f"unhandled options {sorted(raw)}"
    return Options(**values)


_MAX_SHARED_NAME = 200


def _shared_name(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigTypeError(f"shared must be None or a non-empty name (str), got {type(value).__name__}")
    if not value or value.isspace():
        raise ConfigError("shared must be a non-empty name: tabs opening sockets with the same name share one")
    if len(value) > _MAX_SHARED_NAME:
        raise ConfigError(f"shared must be at most {_MAX_SHARED_NAME} characters, got {len(value)}")
    if not value.isprintable():
        raise ConfigError(f"shared must be printable text (no control characters), got {value!r}")
    return value


def _protocols(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(p, str) and p for p in items):
        raise ConfigTypeError("protocols must be a non-empty string or a list of non-empty strings")
    if len(set(items)) != len(items):
        raise ConfigError(f"protocols must not repeat a name, got {list(items)!r}")
    return tuple(items)
