"""heartsock.server under ASGI: Starlette and FastAPI apps served by uvicorn (issue 15, item 3)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from websockets.asyncio.client import connect

from devtools.static import ROOT
from heartsock.server import Heartbeat, HeartbeatConnection, asgi


@contextlib.asynccontextmanager
async def uvicorn_serving(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yield its ws:// base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def load_fastapi_example() -> Any:
    """The app of examples/fastapi/app.py (the README quotes it)."""
    spec = importlib.util.spec_from_file_location("fastapi_example", ROOT / "examples" / "fastapi" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def test_fastapi_example_answers_heartbeats_and_echoes_under_uvicorn() -> None:
    """the README's FastAPI app: "ping" gets "pong", other messages come back, heartbeats stay hidden"""

    async def main() -> list[str | bytes]:
        async with uvicorn_serving(load_fastapi_example()) as base, connect(f"{base}/ws/echo") as ws:
            await ws.send("ping")
            await ws.send("hello")
            await ws.send(b"\x00\x01")
            return [await asyncio.wait_for(ws.recv(), 5) for _ in range(3)]

    assert asyncio.run(main()) == ["pong", "hello", b"\x00\x01"]


def test_a_silent_asgi_client_is_closed_with_4000() -> None:
    """under Starlette, a connection silent for `timeout` is closed with heartsock's 4000 (no Ping probe in ASGI)"""
    conns: list[HeartbeatConnection] = []

    async def handler(ws: HeartbeatConnection) -> None:
        conns.append(ws)
        async for _ in ws:
            pass

    app = Starlette(routes=[WebSocketRoute("/ws", asgi(handler, Heartbeat(timeout=0.5)))])

    async def main() -> tuple[int | None, float]:
        async with uvicorn_serving(app) as base, connect(f"{base}/ws", ping_interval=None) as ws:
            started = asyncio.get_running_loop().time()
            await asyncio.wait_for(ws.wait_closed(), 5)
            return ws.close_code, asyncio.get_running_loop().time() - started

    code, took = asyncio.run(main())
    assert code == 4000 and conns[0].timed_out
    assert 0.4 <= took < 3.0, took


def test_asgi_rate_limit_closes_a_flood_with_1008() -> None:
    """the inbound rate limit works under ASGI too"""

    async def handler(ws: HeartbeatConnection) -> None:
        async for _ in ws:
            pass

    app = Starlette(routes=[WebSocketRoute("/ws", asgi(handler, Heartbeat(max_messages_per_second=50)))])

    async def main() -> int | None:
        async with uvicorn_serving(app) as base, connect(f"{base}/ws", ping_interval=None) as ws:
            with contextlib.suppress(Exception):
                for i in range(5_000):
                    await ws.send(f"m{i}")
                    await asyncio.sleep(0)
            await asyncio.wait_for(ws.wait_closed(), 5)
            return ws.close_code

    assert asyncio.run(main()) == 1008
