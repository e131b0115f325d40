"""Running on plain CPython: the package imports, and Socket explains why it cannot connect."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

import heartsock
from heartsock import (
    ConfigError,
    ConfigTypeError,
    ConnectionFailed,
    DecodeError,
    HeartsockError,
    QueueFull,
    Socket,
    SocketClosed,
    State,
    UnsupportedError,
)

from .helpers import URL


def test_import_works_on_cpython_without_js() -> None:
    """import heartsock works on plain CPython and imports neither js nor pyodide"""
    code = (
        "import sys, heartsock, heartsock.testing;"
        "bad = [m for m in sys.modules if m == 'js' or m.startswith('pyodide')];"
        "assert not bad, bad; print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_socket_without_runtime_raises_unsupported_error() -> None:
    """Socket() on CPython raises UnsupportedError saying why and where heartsock runs"""
    with pytest.raises(UnsupportedError) as info:
        Socket(URL)
    message = str(info.value)
    assert "WebSocket" in message
    assert "Pyodide" in message or "browser" in message


def test_unsupported_error_is_a_heartsock_and_runtime_error() -> None:
    """UnsupportedError is catchable as HeartsockError and as RuntimeError"""
    assert issubclass(UnsupportedError, HeartsockError)
    assert issubclass(UnsupportedError, RuntimeError)


def test_connect_without_runtime_raises_unsupported_error() -> None:
    """heartsock.connect() on CPython raises UnsupportedError when awaited"""

    async def main() -> None:
        await heartsock.connect(URL)

    with pytest.raises(UnsupportedError):
        asyncio.run(main())


def test_exception_tree() -> None:
    """every heartsock exception derives from HeartsockError, misuse ones from the matching builtin"""
    for cls in (UnsupportedError, ConfigError, ConfigTypeError, QueueFull, SocketClosed, ConnectionFailed, DecodeError):
        assert issubclass(cls, HeartsockError), cls
    assert issubclass(ConfigError, ValueError)
    assert issubclass(ConfigTypeError, TypeError)
    assert issubclass(DecodeError, ValueError)


def test_connection_failed_carries_code_and_reason() -> None:
    """ConnectionFailed exposes .code and .reason"""
    exc = ConnectionFailed("gave up", 1008, "bad token")
    assert (exc.code, exc.reason) == (1008, "bad token")


def test_ready_state_constants_match_the_browser() -> None:
    """Socket.CONNECTING/OPEN/CLOSING/CLOSED are the browser's 0..3"""
    assert (Socket.CONNECTING, Socket.OPEN, Socket.CLOSING, Socket.CLOSED) == (0, 1, 2, 3)


def test_state_enum_has_the_contract_members() -> None:
    """State has at least CONNECTING, OPEN, RECONNECTING, CLOSED and DESTROYED"""
    for name in ("CONNECTING", "OPEN", "RECONNECTING", "CLOSED", "DESTROYED"):
        assert isinstance(getattr(State, name), State)


def test_all_lists_only_real_names() -> None:
    """every name in heartsock.__all__ exists"""
    for name in heartsock.__all__:
        assert hasattr(heartsock, name), name
