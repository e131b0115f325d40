"""Decoding JSON messages without letting a hostile one crash the interpreter.

Python's decoder recurses once per nesting level. In Pyodide a message nested ~10 000
deep exhausts the JavaScript stack and kills the interpreter for good ("Pyodide already
fatally failed"); under CPython it raises ``RecursionError``. So depth is checked first,
in a loop, and anything deeper than :data:`MAX_DEPTH` is a :class:`~heartsock.DecodeError`
like any other message that is not JSON.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import DecodeError
from .wire import Data

__all__ = ["MAX_DEPTH", "decode_json"]

MAX_DEPTH = 500
"""The deepest nesting of arrays and objects decoded."""
_SHOWN = 200  # characters of a bad message quoted in DecodeError


def decode_json(data: Data, what: str) -> Any:
    """Decode ``data`` as JSON.

    Raises:
        DecodeError: (a ``ValueError``) ``data`` is not JSON, not UTF-8, or nests deeper
            than :data:`MAX_DEPTH`; the message names ``what`` and quotes the start.
    """
    try:
        text = data if isinstance(data, str) else data.decode("utf-8")
        _check_depth(text)
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        text = data if isinstance(data, str) else data.decode("utf-8", "replace")
        shown = text if len(text) <= _SHOWN else text[:_SHOWN] + f"… ({len(text)} characters)"
        raise DecodeError(f"{what}: the message is not JSON ({exc}): {shown!r}") from None


def _check_depth(text: str) -> None:
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return  # cannot nest deeper: the common case costs two C-speed counts
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        elif ch in "]}":
            depth -= 1
