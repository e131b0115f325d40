"""A hostile peer cannot kill the page's Python (issue 15, client)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from devtools.browser import PyPage
from heartsock.server import HeartbeatConnection, serve

pytestmark = pytest.mark.browser

DEPTH = 1_000_000


@pytest.fixture
def bomb_server() -> Iterator[str]:
    """heartsock.server on its own loop: greets each client with a DEPTH-deep JSON array, then echoes."""

    async def handler(ws: HeartbeatConnection) -> None:
        await ws.send("[" * DEPTH + "]" * DEPTH)
        async for message in ws:
            await ws.send(message)

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> object:
        return await serve(handler, "127.0.0.1", 0, max_size=None)

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    yield f"ws://127.0.0.1:{port}/"

    async def stop() -> None:
        server.close()  # type: ignore[attr-defined]
        await server.wait_closed()  # type: ignore[attr-defined]

    asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_a_million_deep_json_array_is_a_decode_error_and_the_page_keeps_working(py: PyPage, bomb_server: str) -> None:
    """recv_json() of a 1 000 000-deep array raises DecodeError (it used to exhaust the JS stack for good)"""
    result = py.call("hostile.json_bomb", bomb_server)
    assert result["outcome"].startswith("recv_json(): the message is not JSON (nested deeper than 500 levels)")
    assert result["after"] == {"after": "the bomb"}
    assert py.run("str(1 + 1)") == "2"  # the interpreter is alive
