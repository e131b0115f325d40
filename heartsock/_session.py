"""The client's half of a heartsock session (``resume=True``): numbering, acks, resend, resume.

Rules (the wire format is in :mod:`heartsock.wire`, the protocol in PROTOCOL.md):

1. Every message the app sends gets the next sequence number and stays in the *outbox*
   until the server acknowledges it; on every new connection, after the server's welcome
   says what it already has, the rest of the outbox is sent again, in order. So a message
   in flight when a connection died is not lost, and none arrives twice.
2. Every data frame from the server carries a sequence number; one that is not the next
   is a duplicate of a replay (dropped) or a gap (a protocol error: the connection is
   abandoned and the session resumed, which replays from the last one delivered).
3. Acks are cumulative and batched: after :data:`ACK_EVERY` messages, or
   :data:`ACK_DELAY` seconds after the first unacknowledged one — never one per message.
4. Pure: no I/O, no clock; the core calls it with ``now``.
"""

from __future__ import annotations

from ._compat import deque  # MicroPython's deque is fixed-size
from .wire import Data, ack_frame, data_frame, hello_frame

__all__ = ["ACK_DELAY", "ACK_EVERY", "ClientSession"]

ACK_EVERY = 32
"""Messages received before an ack goes out at once."""
ACK_DELAY = 0.05
"""Seconds an ack may wait for more messages to acknowledge together."""


class ClientSession:
    """Sequence numbers, outbox, acks and the session id of one ``resume=True`` socket."""

    __slots__ = ("ack_due", "acked", "id", "in_seq", "out_seq", "outbox", "owed", "resets", "sent_at")

    def __init__(self) -> None:
        self.id = ""  # the session's id, from the first welcome ("" before)
        self.out_seq = 0  # the last sequence number given to an outgoing message
        self.outbox: deque[tuple[int, Data]] = deque()  # (seq, payload), not acknowledged yet
        self.acked = 0  # the highest seq the server acknowledged
        self.in_seq = 0  # the last seq delivered to the app, in order
        self.owed = 0  # messages delivered since the last ack this client sent
        self.ack_due: float | None = None  # when the batched ack must go out
        self.sent_at: tuple[int, float] | None = None  # (seq, time) of a send awaiting its ack: latency
        self.resets = 0

    def push(self, payload: Data) -> int:
        """Number a new outgoing message and keep it until acknowledged; return its seq."""
        self.out_seq += 1
        self.outbox.append((self.out_seq, payload))
        return self.out_seq

    def frame(self, seq: int, payload: Data, now: float) -> Data:
        """The data frame for ``payload``, noting when it went out (for latency)."""
        if self.sent_at is None:
            self.sent_at = (seq, now)
        return data_frame(seq, payload)

    def hello(self) -> str:
        """The first frame on a new connection."""
        return hello_frame(self.id, self.in_seq)

    def acknowledged(self, seq: int, now: float) -> float | None:
        """The server has everything up to ``seq``; return a round-trip time if this ack measured one."""
        if seq <= self.acked:
            return None
        self.acked = seq
        outbox = self.outbox
        while outbox and outbox[0][0] <= seq:
            outbox.popleft()
        if self.sent_at is not None and self.sent_at[0] <= seq:
            rtt, self.sent_at = now - self.sent_at[1], None
            return rtt
        return None

    def unacked_after(self, seq: int) -> list[tuple[int, Data]]:
        """The outbox after the server's ack ``seq`` (what to send again), dropping the rest."""
        self.acknowledged(seq, 0.0)
        self.sent_at = None
        return list(self.outbox)

    def renumber(self) -> list[tuple[int, Data]]:
        """A new session: the unacknowledged messages get new numbers, from 1."""
        payloads = [payload for _, payload in self.outbox]
        self.outbox.clear()
        self.out_seq = self.acked = self.in_seq = self.owed = 0
        self.ack_due = None
        self.sent_at = None
        for payload in payloads:
            self.push(payload)
        return list(self.outbox)

    def received(self, seq: int, now: float) -> str:
        """A data frame numbered ``seq`` arrived: ``"deliver"``, ``"duplicate"`` or ``"gap"``."""
        if seq == self.in_seq + 1:
            self.in_seq = seq
            self.owed += 1
            if self.ack_due is None:
                self.ack_due = now + ACK_DELAY
            return "deliver"
        return "duplicate" if seq <= self.in_seq else "gap"

    def ack_now(self) -> bool:
        """Whether enough messages await an ack for it to go out at once."""
        return self.owed >= ACK_EVERY

    def take_ack(self) -> str:
        """The ack frame for everything delivered so far; resets the batch."""
        self.owed = 0
        self.ack_due = None
        return ack_frame(self.in_seq)
