"""What differs between the two Pythons heartsock runs on: CPython (and Pyodide) and MicroPython.

Rule: one codebase. heartsock's modules are written in the Python both interpreters
accept; the few things MicroPython (PyScript's ``<script type="mpy">``) lacks are
bridged here, in one place, rather than by a second copy of any logic:

- :func:`install` (run when this module is imported, which ``heartsock/__init__.py``
  does first) registers minimal
  stand-ins for the standard modules heartsock imports and MicroPython does not ship
  (``__future__``, ``typing``, ``collections.abc``, ``dataclasses``, ``enum``; see
  ``heartsock._mpy_stdlib``) — only under MicroPython, and only for a module that
  cannot be imported there. Under CPython it does nothing.
- :data:`deque` is ``collections.deque`` under CPython; MicroPython's deque needs a
  fixed ``maxlen`` (allocated up front) and has no ``clear()``, so there it is a small
  growable FIFO with the methods heartsock uses.
- :func:`isawaitable` and :func:`ensure_future`: MicroPython's coroutines are plain
  generators and its ``asyncio`` has ``create_task`` only, whose tasks take no done
  callbacks (``heartsock._mpy_stdlib.Task`` adds them).
- :data:`MICROPYTHON` says which interpreter this is.

This module imports nothing from ``typing`` at run time (``TYPE_CHECKING`` is spelled
out), so it can run before the stand-ins exist.
"""

import sys

TYPE_CHECKING = False
MICROPYTHON: bool = sys.implementation.name == "micropython"
"""Whether this interpreter is MicroPython (PyScript's ``mpy``)."""

if TYPE_CHECKING:
    from collections.abc import Coroutine, Generator
    from typing import Any, TypeVar

    T = TypeVar("T")

if TYPE_CHECKING or not MICROPYTHON:
    from asyncio import ensure_future
    from collections import deque
    from inspect import isawaitable
else:  # pragma: no cover - MicroPython only
    from ._mpy_stdlib import Fifo as deque
    from ._mpy_stdlib import ensure_future, isawaitable

__all__ = ["MICROPYTHON", "coroutine_steps", "deque", "ensure_future", "install", "isawaitable"]


def coroutine_steps(coro: "Coroutine[Any, Any, T]") -> "Generator[Any, None, T]":
    """What an ``__await__`` returns for ``coro``: its ``__await__()`` (MicroPython: ``coro`` itself)."""
    if MICROPYTHON:  # pragma: no cover - MicroPython's coroutines are generators
        return coro  # type: ignore[return-value]
    return coro.__await__()


def install() -> None:
    """Register the MicroPython stand-ins for missing standard modules (no-op on CPython)."""
    if MICROPYTHON:  # pragma: no cover - MicroPython only
        from ._mpy_stdlib import install as install_stdlib

        install_stdlib()


install()
