"""Small, documented helpers for the CPython unit tier.

Everything here is deterministic: time only moves when a test says so, either as an
explicit ``now`` handed to :class:`heartsock._core.Machine`, or through
:meth:`heartsock.testing.FakeRuntime.advance` / ``jump`` for a :class:`heartsock.Socket`.

Conventions used by the tests:

* ``URL`` is a syntactically valid address that is never dialled (FakeRuntime only
  records it).
* :class:`Recorder` collects every callback a socket makes, in order, so a test can
  assert on sequences (``rec.states``, ``rec.closes`` …) or on interleavings (``rec.log``).
* :func:`make_socket` builds a socket on a fresh FakeRuntime with a Recorder wired to
  every ``*_cb`` option; the socket has started connecting (socket id 1) on return.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from heartsock import Socket, SocketEvent, State
from heartsock._core import Machine
from heartsock._outputs import Action, Event
from heartsock.options import parse_options
from heartsock.testing import FakeRuntime

URL = "ws://127.0.0.1:9/ws"


@dataclass
class Recorder:
    """Records every callback of a socket, in call order.

    ``log`` holds ``(kind, *args)`` tuples in the order the callbacks ran; the
    properties below are per-kind views of it.
    """

    log: list[tuple[Any, ...]] = field(default_factory=list)

    def callbacks(self) -> dict[str, Callable[..., None]]:
        """The ``*_cb`` keyword options that feed this recorder."""
        return {
            "open_cb": lambda event: self.log.append(("open", event)),
            "close_cb": lambda event: self.log.append(("close", event)),
            "message_cb": lambda data: self.log.append(("message", data)),
            "error_cb": lambda event: self.log.append(("error", event)),
            "reconnect_cb": lambda attempt, delay: self.log.append(("reconnect", attempt, delay)),
            "state_cb": lambda old, new: self.log.append(("state", old, new)),
        }

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        """The argument tuples of every ``kind`` callback, in order."""
        return [entry[1:] for entry in self.log if entry[0] == kind]

    @property
    def opens(self) -> list[SocketEvent]:
        return [args[0] for args in self.of("open")]

    @property
    def closes(self) -> list[SocketEvent]:
        return [args[0] for args in self.of("close")]

    @property
    def close_codes(self) -> list[int | None]:
        return [event.code for event in self.closes]

    @property
    def messages(self) -> list[Any]:
        return [args[0] for args in self.of("message")]

    @property
    def errors(self) -> list[SocketEvent]:
        return [args[0] for args in self.of("error")]

    @property
    def reconnects(self) -> list[tuple[int, float]]:
        return [(args[0], args[1]) for args in self.of("reconnect")]

    @property
    def delays(self) -> list[float]:
        return [delay for _, delay in self.reconnects]

    @property
    def states(self) -> list[tuple[State, State]]:
        return [(args[0], args[1]) for args in self.of("state")]


def make_socket(
    url: object = URL, *, rt: FakeRuntime | None = None, **options: Any
) -> tuple[Socket, FakeRuntime, Recorder]:
    """A Socket on a FakeRuntime (a new one unless given), every callback recorded.

    Callbacks passed in ``options`` replace the recorder's for that kind.
    """
    rt = rt if rt is not None else FakeRuntime()
    rec = Recorder()
    sock = Socket(url, runtime=rt, **{**rec.callbacks(), **options})
    return sock, rt, rec


def opened_ids(rt: FakeRuntime) -> list[int]:
    """Ids of every underlying socket the transport was asked to open, in order."""
    return [entry[1] for entry in rt.net.log if entry[0] == "open"]


def attempts(rt: FakeRuntime) -> int:
    """How many connection attempts reached the transport."""
    return len(opened_ids(rt))


def writes(rt: FakeRuntime) -> list[tuple[int, Any]]:
    """Every ``(socket_id, data)`` written to any socket, in global order."""
    return [(entry[1], entry[2]) for entry in rt.net.log if entry[0] == "send"]


def run_until_next_attempt(rt: FakeRuntime, limit: float = 10_000.0) -> bool:
    """Advance the clock, timer by timer, until a new socket is opened; ``False`` if none."""
    before = attempts(rt)
    while rt.armed:
        rt.advance(max(0.0, min(rt.armed) - rt.now))
        if attempts(rt) > before:
            return True
        if rt.now > limit:
            break
    return False


def const(value: float) -> Callable[[], float]:
    """A "random" source that always returns ``value``."""
    return lambda: value


def sequence(values: Iterable[float]) -> Callable[[], float]:
    """A "random" source that returns ``values`` in order, then fails loudly."""
    it = iter(values)

    def rand() -> float:
        try:
            return next(it)
        except StopIteration:
            raise AssertionError("the test's random sequence ran out") from None

    return rand


def machine(rand: Callable[[], float] | None = None, url: str = URL, **options: Any) -> Machine:
    """A bare core ``Machine`` with validated keyword options (seconds); ``rand`` is 0.5 unless given."""
    return Machine(parse_options(url, options), rand if rand is not None else const(0.5))


def drain(m: Machine) -> list[Action | Event]:
    """Take every pending action of ``m``, then pop every pending event, in order."""
    out: list[Action | Event] = list(m.take_actions())
    while (item := m.pop_event()) is not None:
        out.append(item)
    return out


def of_type(outputs: Iterable[Action | Event], kind: type) -> list[Any]:
    """The outputs of one type, in order."""
    return [o for o in outputs if isinstance(o, kind)]


def mentions(message: str, option: str) -> bool:
    """Whether an error ``message`` names ``option`` (snake_case or camelCase both count)."""

    def norm(text: str) -> str:
        return text.replace("_", "").lower()

    return norm(option) in norm(message)


def refuse_every_attempt(rt: FakeRuntime, limit: int = 1000) -> int:
    """Play a server that refuses everything until the socket stops retrying; return the attempt count.

    Refuses the current attempt (close 1006), then advances the clock to the next
    attempt; stops when no further attempt is scheduled or after ``limit`` attempts.
    """
    while attempts(rt) < limit:
        rt.net.closed_by_peer(rt.net.last_id, 1006)
        if not run_until_next_attempt(rt):
            break
    return attempts(rt)


def hang_every_attempt(rt: FakeRuntime, limit: int = 1000) -> int:
    """Play a server whose handshakes never finish: only the clock moves; return the attempt count."""
    while attempts(rt) < limit and run_until_next_attempt(rt):
        pass
    return attempts(rt)
