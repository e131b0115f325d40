"""heartsock's wire contract: what the client and a heartsock server agree on.

Everything both ends of a heartsock connection must agree on lives here, once: the
message types, the close codes heartsock uses, and the heartbeat's defaults. The client
(:class:`~heartsock.Socket`), the server companion (:mod:`heartsock.server`), the demo,
the test servers and the benchmarks import it instead of restating it.

Rules:

1. A heartbeat is an ordinary WebSocket message: the client sends :data:`HEARTBEAT_PING`
   after :data:`DEFAULT_HEART_TIME` seconds without inbound traffic, and a heartsock
   server answers :data:`HEARTBEAT_PONG`. Any inbound message proves the peer alive.
2. Close codes in the 4000–4999 range are heartsock's own (RFC 6455 leaves that range
   to applications); the others are the RFC's.
"""

from __future__ import annotations

from typing import Union

__all__ = [
    "CLOSE_CONNECT_TIMEOUT",
    "CLOSE_HEARTBEAT_TIMEOUT",
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_NORMAL",
    "CLOSE_POLICY_VIOLATION",
    "DEFAULT_HEART_TIME",
    "HEARTBEAT_PING",
    "HEARTBEAT_PONG",
    "Data",
    "SUBPROTOCOL",
    "CLOSE_PROTOCOL_MISMATCH",
    "CLOSE_PROTOCOL_ERROR",
    "CLOSE_SESSION_TAKEN_OVER",
    "ack_frame",
    "data_frame",
    "hello_frame",
    "parse_frame",
    "welcome_frame",
]

Data = Union[str, bytes]
"""One WebSocket message: ``str`` for a text frame, ``bytes`` for a binary frame."""

CLOSE_NORMAL = 1000
"""Close code for sockets ended on the user's request (``destroy()``, ``create()``, ``onreconnect()``)."""
CLOSE_POLICY_VIOLATION = 1008
"""Close code after which the default policy does not reconnect (policy violation)."""
CLOSE_INTERNAL_ERROR = 1011
"""Close code a server uses when its handler failed."""
CLOSE_HEARTBEAT_TIMEOUT = 4000
"""Close code for a connection whose heartbeat went unanswered (either end)."""
CLOSE_CONNECT_TIMEOUT = 4001
"""Close code the client uses when it abandons a socket still connecting after ``connect_timeout``."""

HEARTBEAT_PING = "ping"
"""The heartbeat the client sends by default (``heart_msg``)."""
HEARTBEAT_PONG = "pong"
"""The reply a heartsock server sends to a heartbeat."""
DEFAULT_HEART_TIME = 5.0
"""Seconds of inbound silence after which the client sends a heartbeat, by default."""


# ---- sessions (resume=True): the heartsock.v1 subprotocol; see PROTOCOL.md -------------------

SUBPROTOCOL = "heartsock.v1"
"""The subprotocol both ends negotiate for sessions (``resume=True``)."""
CLOSE_PROTOCOL_MISMATCH = 4400
"""Close code when one end speaks heartsock sessions and the other does not; final."""
CLOSE_PROTOCOL_ERROR = 4401
"""Close code for a malformed or out-of-order session frame; the client resumes."""
CLOSE_SESSION_TAKEN_OVER = 4402
"""Close code the server sends a session's old connection when a newer one resumes it."""

DATA, ACK, HELLO, WELCOME, BYE = "m", "a", "h", "w", "x"
"""The first character of each session frame: data, ack, hello, welcome, goodbye."""
_SEP = "|"
_BSEP = b"|"


def data_frame(seq: int, payload: Data) -> Data:
    """A data frame: ``m<seq>|<payload>``, in the payload's own frame type (text or binary)."""
    if isinstance(payload, str):
        return f"{DATA}{seq}{_SEP}{payload}"
    return b"%s%d|%s" % (DATA.encode(), seq, payload)


def ack_frame(seq: int) -> str:
    """A cumulative ack: every data frame up to ``seq`` arrived."""
    return f"{ACK}{seq}"


def hello_frame(session: str, ack: int) -> str:
    """The client's first frame: the session to resume (``""``: a new one) and the last seq it received."""
    return f"{HELLO}{ack}{_SEP}{session}"


def welcome_frame(session: str, ack: int, resumed: bool, missing: int) -> str:
    """The server's answer to a hello: the session, the last seq it received from the client,
    whether the client's session was resumed, and how many of the server's messages the
    client can no longer get (a reset session, or a replay buffer that overflowed)."""
    return f"{WELCOME}{ack}{_SEP}{int(resumed)}{_SEP}{missing}{_SEP}{session}"


def parse_frame(frame: Data) -> tuple[str, int, Data]:
    """Split a session frame into ``(kind, number, rest)``.

    ``kind`` is one of :data:`DATA`, :data:`ACK`, :data:`HELLO`, :data:`WELCOME`,
    :data:`BYE`, or ``""`` for anything else (a heartbeat). ``number`` is the frame's
    sequence number or ack (0 when it has none); ``rest`` the payload or the fields after it.

    Raises:
        ValueError: a session frame whose number is malformed.
    """
    if isinstance(frame, str):
        kind = frame[:1]
        if kind not in (DATA, ACK, HELLO, WELCOME, BYE):
            return "", 0, frame
        if kind == BYE:
            return kind, 0, ""
        if kind == ACK:
            return kind, _number(frame[1:]), ""
        head, sep, rest = frame[1:].partition(_SEP)
        if not sep:
            raise ValueError(f"session frame without '|': {frame[:40]!r}")
        return kind, _number(head), rest
    if frame[:1] != DATA.encode():
        return "", 0, frame
    bhead, bsep, _ = frame[1:24].partition(_BSEP)
    if not bsep:
        raise ValueError(f"binary session frame without '|': {frame[:40]!r}")
    return DATA, _number(bhead.decode("ascii", "replace")), frame[len(bhead) + 2 :]


def _number(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise ValueError(f"bad sequence number {text[:20]!r}")
    return int(text)
