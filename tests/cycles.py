"""What code leaves in reference cycles: the types of the objects only a full collection frees.

Standard library only, for every test tier. Use::

    with cyclic_garbage() as collect:
        ...  # open and close connections
        left = collect()  # sorted "module.QualName" of every object freed by the collection
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def cyclic_garbage() -> Iterator[Callable[[], list[str]]]:
    """Collect now, then keep automatic collection off and what collections free in
    ``gc.garbage``; the function yielded collects and names what it found."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)

    def collect() -> list[str]:
        gc.collect()
        return sorted({type(o).__module__ + "." + type(o).__qualname__ for o in gc.garbage})

    try:
        yield collect
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
