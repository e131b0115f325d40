"""recv_json()'s decoder: hostile nesting is a DecodeError, never a crash (a JSON bomb must not kill the page)."""

from __future__ import annotations

import json

import pytest

from heartsock import DecodeError
from heartsock._json import MAX_DEPTH, decode_json


def test_nesting_up_to_the_limit_decodes() -> None:
    """arrays nested exactly MAX_DEPTH deep decode as usual"""
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert decode_json(text, "t") == json.loads(text)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 10_000, 200_000])
def test_deeper_nesting_is_a_decode_error(depth: int) -> None:
    """a message nested deeper than MAX_DEPTH raises DecodeError (not RecursionError), naming the limit"""
    text = '{"a":' * depth + "1" + "}" * depth
    with pytest.raises(DecodeError, match=f"nested deeper than {MAX_DEPTH} levels"):
        decode_json(text, "recv_json()")


def test_brackets_inside_strings_do_not_count() -> None:
    """many brackets inside a string (escaped quotes included) are text, not nesting"""
    value = {"s": '[[[{{{ \\" ' * MAX_DEPTH}
    assert decode_json(json.dumps(value), "t") == value


def test_bad_json_and_bad_utf8_are_decode_errors_quoting_the_start() -> None:
    """not-JSON text and undecodable bytes both raise DecodeError (a ValueError) with the start of the message"""
    with pytest.raises(DecodeError, match="recv_json\\(\\): the message is not JSON") as info:
        decode_json("x" * 500, "recv_json()")
    assert "… (500 characters)" in str(info.value) and isinstance(info.value, ValueError)
    with pytest.raises(DecodeError):
        decode_json(b"\xff\xfe{", "recv_json()")
    assert decode_json(b'{"ok": true}', "t") == {"ok": True}
