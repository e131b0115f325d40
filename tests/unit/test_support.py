"""Running on plain CPython: the package imports, and Socket explains why it cannot connect."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import types
from collections.abc import Callable

import pytest

import heartsock
import heartsock._json
from heartsock import (
    ConfigError,
    ConfigTypeError,
    ConnectionFailed,
    DecodeError,
    HeartsockError,
    QueueFull,
    Socket,
    SocketClosed,
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


def test_socket_on_cpython_without_websockets_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Socket() on CPython without websockets raises UnsupportedError naming the extra to install"""
    monkeypatch.setitem(sys.modules, "websockets", None)  # as if it were not installed

    async def main() -> None:
        Socket(URL)

    with pytest.raises(UnsupportedError, match=r"pip install 'heartsock\[cpython\]'") as info:
        asyncio.run(main())
    assert "browser" in str(info.value)


def test_socket_on_cpython_outside_a_loop_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """Socket() on CPython with no running asyncio loop raises UnsupportedError saying how to run it"""
    monkeypatch.setitem(sys.modules, "websockets", types.ModuleType("websockets"))  # installed, for this test
    with pytest.raises(UnsupportedError, match="running asyncio event loop"):
        Socket(URL)


def test_connect_on_cpython_without_websockets_raises_unsupported_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """heartsock.connect() on CPython without websockets raises UnsupportedError when awaited"""
    monkeypatch.setitem(sys.modules, "websockets", None)

    async def main() -> None:
        await heartsock.connect(URL)

    with pytest.raises(UnsupportedError):
        asyncio.run(main())


def test_connection_failed_carries_code_and_reason() -> None:
    """ConnectionFailed exposes .code and .reason"""
    exc = ConnectionFailed("gave up", 1008, "bad token")
    assert (exc.code, exc.reason) == (1008, "bad token")


def test_all_lists_only_real_names() -> None:
    """every name in heartsock.__all__ exists"""
    for name in heartsock.__all__:
        assert hasattr(heartsock, name), name


def test_every_failure_is_catchable_as_heartsock_error_and_as_its_builtin() -> None:
    """what the API raises can be caught as HeartsockError and as the matching builtin exception"""
    from heartsock.testing import FakeRuntime

    def raised(call: Callable[[], object]) -> BaseException:
        try:
            call()
        except BaseException as exc:
            return exc
        raise AssertionError("nothing was raised")

    rt = FakeRuntime()
    sock = Socket(URL, runtime=rt, max_queue=0)
    cases = [
        (raised(lambda: Socket(URL)), UnsupportedError, RuntimeError),
        (raised(lambda: Socket("http://x/", runtime=FakeRuntime())), ConfigError, ValueError),
        (raised(lambda: Socket(URL, heart_time="5", runtime=FakeRuntime())), ConfigTypeError, TypeError),
        (raised(lambda: sock.send("while connecting")), QueueFull, HeartsockError),
        (raised(lambda: heartsock._json.decode_json("{", "recv_json()")), DecodeError, ValueError),
    ]
    sock.destroy()
    cases.append((raised(lambda: sock.send("after destroy")), SocketClosed, ConnectionError))
    for exc, cls, builtin in cases:
        assert isinstance(exc, cls) and isinstance(exc, HeartsockError) and isinstance(exc, builtin), exc
