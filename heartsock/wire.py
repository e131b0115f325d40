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
