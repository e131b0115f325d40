"""The demo server without a browser: its endpoints, its safe defaults, the page config.

Real ``websockets`` clients and ``urllib`` against ``python -m demo`` (the ``demo``
fixture); no Chromium needed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from devtools.static import ROOT, heartsock_modules
from tests.e2e.conftest import Demo

WWW = ROOT / "www"


def request(demo: Demo, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """A raw HTTP request (no normalisation of ``path``); returns status and body."""
    address = urlsplit(demo.url)
    conn = http.client.HTTPConnection(address.hostname or "", address.port, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def run(demo: Demo, scenario: Callable[[str], Awaitable[Any]]) -> Any:
    """Run ``scenario(ws_base_url)`` with a 10 s limit, on a worker thread's event loop
    (Playwright's sync API may own the main thread's loop when browser tests ran first)."""

    async def main() -> Any:
        return await asyncio.wait_for(scenario(demo.ws), 10)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result(timeout=20)


def client(url: str, **kwargs: Any) -> connect:
    """A ``websockets`` client without its own keepalive (``async with client(url) as conn``)."""
    return connect(url, ping_interval=None, close_timeout=1, **kwargs)


async def next_json(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next JSON message of ``type`` ``kind`` (skipping ticks and others)."""
    while True:
        message = json.loads(await ws.recv())
        if message.get("type") == kind:
            return message  # type: ignore[no-any-return]


# ---- the pages' configuration ------------------------------------------------------------
def test_pyscript_config_lists_every_heartsock_module() -> None:
    """www/pyscript.json copies exactly heartsock's modules, from /heartsock/, without packages."""
    config = json.loads((WWW / "pyscript.json").read_text())
    assert config["interpreter"] == "/pyodide/pyodide.mjs"
    assert "packages" not in config
    expected = {f"/heartsock/{name}": f"./heartsock/{name}" for name in heartsock_modules()}
    assert config["files"] == expected


def test_pages_reference_no_other_host() -> None:
    """no page, script or stylesheet in www/ names a URL (no CDN)."""
    for path in sorted(WWW.iterdir()):
        found = re.findall(r"(?:https?|wss?)://[^\s\"'<>]+", path.read_text())
        assert not [u for u in found if not u.startswith(("ws://{", "wss://{"))], (path.name, found)


# ---- HTTP and safe defaults -----------------------------------------------------------------
def test_serves_the_pages_and_the_vendored_assets(demo: Demo) -> None:
    """/, the dashboard, PyScript, Pyodide and heartsock's sources are served."""
    for path, fragment in [
        ("/", b"heartsock chat"),
        ("/dashboard.html", b"dashboard.py"),
        ("/heartsock/socket.py", b"class Socket"),
        ("/pyscript/core.js", b""),
        ("/pyodide/pyodide.mjs", b""),
    ]:
        status, body = request(demo, "GET", path)
        assert status == 200 and fragment in body, path


@pytest.mark.parametrize(
    "path",
    ["/../Makefile", "/%2e%2e/Makefile", "/heartsock/../Makefile", "/heartsock/%2e%2e/demo/app.py", "//etc/passwd"],
)
def test_no_path_traversal(demo: Demo, path: str) -> None:
    """nothing outside the mounts is served, however the path is spelled."""
    status, _ = request(demo, "GET", path)
    assert status == 404


def test_foreign_host_header_is_refused(demo: Demo) -> None:
    """a Host that is not this server (DNS rebinding) gets 421."""
    status, _ = request(demo, "GET", "/", {"Host": "attacker.example:8000"})
    assert status == 421


def test_controls_take_post_from_this_origin_only(demo: Demo) -> None:
    """GET cannot trigger a fault, another origin cannot either; bad input is a 400."""
    assert request(demo, "GET", "/api/drop")[0] == 405
    assert request(demo, "POST", "/api/drop", {"Origin": "http://attacker.example"})[0] == 403
    before = len(demo.output)
    assert request(demo, "POST", "/api/drop", {"Origin": "http://127.0.0.1:8731"})[0] == 403  # another port
    demo.wait_output("403: Origin http://127.0.0.1:8731 may not use the fault controls (POST /api/drop)", before)
    own = demo.url.rstrip("/")
    assert request(demo, "POST", "/api/drop", {"Origin": own})[0] == 200
    assert request(demo, "POST", "/api/drop", {"Origin": own.replace("127.0.0.1", "localhost")})[0] == 200
    assert request(demo, "POST", "/api/close?code=1006")[0] == 400
    assert request(demo, "POST", "/api/refuse?n=999")[0] == 400
    assert request(demo, "POST", "/api/nothing")[0] == 404
    assert json.loads(request(demo, "GET", "/api/status")[1])["listening"] is True


def test_websocket_handshakes_check_the_origin(demo: Demo) -> None:
    """a browser page from another site cannot open a socket; this server's pages can
    (the rule in full: test_handshakes.py)."""

    async def scenario(ws: str) -> None:
        with pytest.raises(InvalidStatus) as refused:
            async with client(ws + "ws/echo", origin="http://attacker.example"):
                pass
        assert refused.value.response.status_code == 403
        async with client(ws + "ws/echo", origin=demo.url.rstrip("/")) as conn:
            await conn.send("same origin")
            assert await conn.recv() == "same origin"

    run(demo, scenario)


def test_messages_over_max_size_are_refused(demo: Demo) -> None:
    """a message larger than the cap (64 KiB) closes the connection with 1009."""

    async def scenario(ws: str) -> int | None:
        async with client(ws + "ws/echo") as conn:
            await conn.send("x" * (64 * 1024 + 1))
            with pytest.raises(ConnectionClosed):
                await conn.recv()
            return conn.close_code

    assert run(demo, scenario) == 1009


# ---- the endpoints ----------------------------------------------------------------------------
def test_echo_answers_the_heartbeat_and_echoes(demo: Demo) -> None:
    """/ws/echo answers "ping" with "pong" (heartsock.server) and echoes everything else."""

    async def scenario(ws: str) -> list[str | bytes]:
        async with client(ws + "ws/echo") as conn:
            await conn.send("ping")
            first = await conn.recv()
            await conn.send(b"\x00\xff")
            return [first, await conn.recv()]

    assert run(demo, scenario) == ["pong", b"\x00\xff"]


def test_chat_room_broadcasts_to_every_member(demo: Demo) -> None:
    """/ws/chat sends each message to every member, the sender included."""

    async def scenario(ws: str) -> tuple[dict[str, Any], dict[str, Any]]:
        async with client(ws + "ws/chat") as alice, client(ws + "ws/chat") as bob:
            await next_json(bob, "joined")
            await alice.send("hi bob")
            return await next_json(alice, "chat"), await next_json(bob, "chat")

    to_alice, to_bob = run(demo, scenario)
    assert to_alice == to_bob
    assert to_bob["text"] == "hi bob"


def test_feed_streams_ticks_and_acknowledges_notes(demo: Demo) -> None:
    """/ws/feed says hello, streams rounds of ticks, and acks what the client sends."""

    async def scenario(ws: str) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        async with client(ws + "ws/feed") as conn:
            hello = await next_json(conn, "hello")
            ticks = [await next_json(conn, "tick") for _ in range(10)]  # holds a whole round
            await conn.send(json.dumps({"type": "note", "seq": 7, "text": "buy"}))
            return hello, ticks, await next_json(conn, "ack")

    hello, ticks, ack = run(demo, scenario)
    assert set(hello["quotes"]) == {t["symbol"] for t in ticks}  # every symbol ticks
    assert all(t["price"] > 0 for t in ticks)
    assert (ack["seq"], ack["text"]) == (7, "buy")


def test_unknown_endpoint_is_closed_with_1008(demo: Demo) -> None:
    """/ws/<unknown> is closed with 1008, which heartsock treats as final."""

    async def scenario(ws: str) -> int | None:
        async with client(ws + "ws/nowhere") as conn:
            with pytest.raises(ConnectionClosed):
                await conn.recv()
            return conn.close_code

    assert run(demo, scenario) == 1008
