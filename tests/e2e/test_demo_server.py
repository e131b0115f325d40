"""The demo server without a browser: its endpoints, its safe defaults, the page config.

Real ``websockets`` clients and ``urllib`` against ``python -m demo`` (the ``demo``
fixture); no Chromium needed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import http.client
import json
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import heartsock
from demo.feed import MAX_SESSIONS
from demo.files import CHUNK_SLOTS
from devtools.static import ROOT, heartsock_modules
from heartsock.wire import SUBPROTOCOL, hello_frame, parse_frame
from tests.e2e.conftest import Demo, running_demo

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
    return run_for(demo, scenario, 10)


def run_for(demo: Demo, scenario: Callable[[str], Awaitable[Any]], limit: float) -> Any:
    """:func:`run` with a limit of ``limit`` seconds."""

    async def main() -> Any:
        return await asyncio.wait_for(scenario(demo.ws), limit)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result(timeout=limit + 10)


def handshake_status(demo: Demo, path: str = "ws/echo", open_timeout: float = 5, **kwargs: Any) -> int | str:
    """The HTTP status of a handshake for ``path`` (101 when it opens), or ``"timeout"``."""

    async def scenario(ws: str) -> int | str:
        try:
            async with client(ws + path, open_timeout=open_timeout, **kwargs):
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code
        except TimeoutError:
            return "timeout"

    return run(demo, scenario)  # type: ignore[no-any-return]


def client(url: str, **kwargs: Any) -> connect:
    """A ``websockets`` client without its own keepalive (``async with client(url) as conn``)."""
    return connect(url, **{"ping_interval": None, "close_timeout": 1, **kwargs})


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


def test_feed_is_a_session_for_a_client_that_offers_heartsock_v1(demo: Demo) -> None:
    """/ws/feed with Socket(resume=True), as the dashboard: a heartsock session — the hello first, then
    ticks and a round's session info; a note acknowledged by the session itself, with no hand-made ack"""

    async def scenario(ws: str) -> tuple[list[dict[str, Any]], int, list[str]]:
        got: list[dict[str, Any]] = []
        sock = heartsock.Socket(ws + "ws/feed", resume=True, message_cb=lambda m: got.append(json.loads(m)))
        try:
            await sock.wait_open(5)
            sock.send(json.dumps({"type": "note", "seq": 1, "text": "sell in a session"}))
            await sock.drain()  # returns once the server's session acknowledged the note
            while not {"tick", "session"} <= {m["type"] for m in got}:
                await asyncio.sleep(0.01)
            # Read while the session lives: its records are forgotten when it ends.
            return got, sock.stats().queued, await asyncio.to_thread(demo.received, "feed")
        finally:
            sock.destroy()

    got, unacknowledged, received = run(demo, scenario)
    kinds = [m["type"] for m in got]
    assert kinds[0] == "hello" and "tick" in kinds and "ack" not in kinds
    assert unacknowledged == 0
    assert got[kinds.index("session")]["replayed"] == 0  # nothing was lost, so nothing replayed
    assert {"type": "note", "seq": 1, "text": "sell in a session"} in [json.loads(d) for d in received]


def test_feed_sessions_are_bounded(demo: Demo) -> None:
    """feed sessions outlive their connections (for SESSION_TTL), so they are capped: of 300 sessions
    opened and left without a goodbye, the demo keeps at most MAX_SESSIONS, ending the oldest"""

    async def scenario(ws: str) -> None:
        for _ in range(MAX_SESSIONS + 44):
            async with client(ws + "ws/feed", subprotocols=[SUBPROTOCOL]) as conn:  # type: ignore[list-item]
                await conn.send(hello_frame("", 0))
                assert parse_frame(await conn.recv())[0] == "w"  # welcomed: a new session

    run_for(demo, scenario, 60)
    assert MAX_SESSIONS - 5 <= demo.status()["feed_sessions"] <= MAX_SESSIONS


def test_unknown_endpoint_is_closed_with_1008(demo: Demo) -> None:
    """/ws/<unknown> is closed with 1008, which heartsock treats as final."""

    async def scenario(ws: str) -> int | None:
        async with client(ws + "ws/nowhere") as conn:
            with pytest.raises(ConnectionClosed):
                await conn.recv()
            return conn.close_code

    assert run(demo, scenario) == 1008


# ---- holding its ground (issue 15): limits, timeouts, bounded records, slow clients ------------
TIGHT_CONNECTIONS = 16
TIGHT_TICK = 0.2


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A second demo with small limits (16 connections, 1 s for a request head, ticks every
    0.2 s) serving a www/ with dotfiles in it."""
    www = tmp_path_factory.mktemp("www")
    (www / "index.html").write_text("<p>tight</p>")
    (www / "ok.txt").write_text("visible")
    (www / ".secret").write_text("do not serve")
    (www / ".hidden").mkdir()
    (www / ".hidden" / "page.html").write_text("do not serve either")
    args = ["--max-connections", str(TIGHT_CONNECTIONS), "--header-timeout", "1", "--tick-period", str(TIGHT_TICK)]
    with running_demo(*args, "--www", str(www)) as server:
        yield server


def rss_kib(demo: Demo) -> int:
    """The demo process's resident memory, in KiB (Linux)."""
    for line in Path(f"/proc/{demo.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc")


def raw(demo: Demo) -> socket.socket:
    """A plain TCP connection to the demo."""
    address = urlsplit(demo.url)
    return socket.create_connection((address.hostname or "", address.port or 0), timeout=5)


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame, masked, with no validation (for frames websockets refuses to build)."""
    mask = b"\x01\x02\x03\x04"
    length = len(payload)
    head = bytes([0x80 | opcode]) + (
        bytes([0x80 | length]) if length < 126 else bytes([0x80 | 126]) + length.to_bytes(2, "big")
    )
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_dotfiles_are_never_served(tight: Demo) -> None:
    """a dotfile or a dot-directory inside a mount is a 404, however it is spelled."""
    assert request(tight, "GET", "/ok.txt") == (200, b"visible")
    for path in ("/.secret", "/%2esecret", "/.hidden/page.html", "/x/../.secret", "/heartsock/.secret"):
        assert request(tight, "GET", path)[0] == 404, path


def test_large_files_are_streamed_not_buffered_whole(tight: Demo) -> None:
    """12 downloads of the 9 MB wasm that stop reading cost the server chunks, not 12 copies,
    and do not hold up a 13th."""
    wasm = ROOT / "node_modules" / "pyodide" / "pyodide.asm.wasm"
    assert wasm.stat().st_size > 5_000_000
    before = rss_kib(tight)
    readers = []
    try:
        for _ in range(12):
            sock = raw(tight)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /pyodide/pyodide.asm.wasm HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert sock.recv(12) == b"HTTP/1.1 200"
            readers.append(sock)
        time.sleep(1.0)  # a whole-file read would be in memory by now
        grown = rss_kib(tight) - before
        # The stalled downloads outnumber the file server's chunk slots, and hold none.
        assert len(readers) > CHUNK_SLOTS
        assert request(tight, "GET", "/pyodide/pyodide.asm.wasm") == (200, wasm.read_bytes())
    finally:
        for sock in readers:
            sock.close()
    assert grown < 12 * wasm.stat().st_size // 1024 // 3, f"RSS grew {grown} KiB"


def closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> bool:
    """Whether the server closes ``sock`` within ``seconds`` (sending ``trickle`` every 0.1 s meanwhile)."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.1)
    try:
        while time.monotonic() < deadline:
            if trickle:
                sock.sendall(trickle)
            try:
                if sock.recv(100) == b"":
                    return True
            except TimeoutError:
                pass
    except OSError:  # reset (aborted) by the server
        return True
    return False


def test_a_stalled_request_head_is_disconnected(tight: Demo) -> None:
    """half a request line, or headers trickled a byte at a time, are cut off after the
    header timeout (1 s here); the old server kept them forever."""
    with raw(tight) as sock:
        sock.sendall(b"GET /ok.txt HT")
        assert closed_within(sock, 4)
    with raw(tight) as sock:
        sock.sendall(b"GET /ws/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert closed_within(sock, 4, trickle=b"x")
    with raw(tight) as sock:  # the deadline starts again after each response (keep-alive)
        sock.sendall(b"GET /ok.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(12) == b"HTTP/1.1 200"
        sock.sendall(b"GET /ok.txt HTTP/1.1\r\nHo")
        assert closed_within(sock, 4)


def test_connections_beyond_the_limit_get_503(tight: Demo) -> None:
    """with --max-connections 16 open, the next request is answered 503; once they close, 200 again."""

    async def scenario(ws: str) -> tuple[int, bytes]:
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(TIGHT_CONNECTIONS):
                await stack.enter_async_context(client(ws + "ws/echo"))
            return await asyncio.to_thread(request, tight, "GET", "/ok.txt")

    assert run(tight, scenario) == (503, b"too many connections\n")
    tight.wait_output(f"503: {TIGHT_CONNECTIONS} connections open already")
    deadline = time.monotonic() + 5
    while (status := request(tight, "GET", "/ok.txt")[0]) != 200:  # the server sees the closes
        assert status == 503 and time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("raw_request", "status"),
    [
        (b"GET /%00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
        (b"GET /" + b"a" * 4000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414),
        (
            b"GET /ws/echo?" + b"a" * 4000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            414,
        ),
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Big: " + b"a" * 20000 + b"\r\n" * 2, (400, 431)),
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Big: a\r\n" * 3000 + b"\r\n", (400, 431)),
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: attacker.example\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
    ],
    ids=["nul", "long-path", "long-handshake", "big-header", "many-headers", "two-hosts", "no-host", "garbage"],
)
def test_malformed_and_oversized_requests_get_4xx_without_a_traceback(
    demo: Demo, raw_request: bytes, status: int | tuple[int, int]
) -> None:
    """/%00, a 4,000-character path, 20 KB of headers (431, or 400 from the parser when they
    arrive in pieces), two Host headers, garbage: a 4xx, never a 500 or a traceback."""
    before = len(demo.output)
    with raw(demo) as sock:
        sock.sendall(raw_request)
        head = sock.recv(4096).split(b"\r\n", 1)[0]
    expected = status if isinstance(status, tuple) else (status,)
    assert head[:12] in [b"HTTP/1.1 %d" % s for s in expected], head
    assert request(demo, "GET", "/ok-after-that")[0] == 404  # still serving
    assert not [line for line in demo.output[before:] if "Traceback" in line or "Exception" in line]


def test_records_of_a_peer_are_bounded_and_forgotten_when_it_leaves(demo: Demo) -> None:
    """/api/status keeps a ring of a peer's recent messages, each cut short, and nothing once it left."""

    async def scenario(ws: str) -> int:
        async with client(ws + "ws/echo") as conn:
            for i in range(100):
                await conn.send(f"{i:03d}" + "x" * 5000)
                await conn.recv()
            status = await asyncio.to_thread(demo.status)
            mine = [c for c in status["connections"] if c["messages"] == 100]
            assert len(mine) == 1
            peer = mine[0]["peer"]
            kept = [r["data"] for r in status["received"] if r["peer"] == peer]
            assert 0 < len(kept) <= 32
            assert kept[-1].startswith("099") and all(len(d) <= 1000 for d in kept)
            return int(peer)

    peer = run(demo, scenario)
    deadline = time.monotonic() + 5
    while True:
        status = demo.status()
        gone = peer not in [c["peer"] for c in status["connections"]]
        if gone and not [r for r in status["received"] if r["peer"] == peer]:
            break
        assert time.monotonic() < deadline, "the peer's records outlived it"
        time.sleep(0.05)


def test_a_chat_member_that_stops_reading_does_not_slow_the_others(tight: Demo) -> None:
    """one member stops reading: each of another member's 300 messages of 60 KB comes back
    to it in well under the second the old server waited on the slow member per message
    (it took 11 s in all there), and the slow member is closed."""

    async def scenario(ws: str) -> float:
        slow_sock = socket.create_connection(("127.0.0.1", int(urlsplit(tight.url).port or 0)))
        slow_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        async with connect(ws + "ws/chat", sock=slow_sock, max_queue=1, ping_interval=None, close_timeout=1):
            slow = [c["peer"] for c in (await asyncio.to_thread(tight.status))["connections"]]
            async with client(ws + "ws/chat") as fast:
                await next_json(fast, "joined")
                slowest = 0.0
                for i in range(300):
                    sent = time.monotonic()
                    await fast.send(f"{i} " + "x" * 60_000)
                    assert (await next_json(fast, "chat"))["text"].startswith(f"{i} ")
                    slowest = max(slowest, time.monotonic() - sent)
                for _ in range(100):  # the slow member is closed (1013, or aborted if that cannot get through)
                    live = [c["peer"] for c in (await asyncio.to_thread(tight.status))["connections"]]
                    if not set(slow) & set(live):
                        return slowest
                    await asyncio.sleep(0.05)
                raise AssertionError(f"the slow member {slow} is still open: {live}")

    slowest = run_for(tight, scenario, 30)
    assert slowest < 1.0, f"a message took {slowest:.3f} s to go round"


def test_a_feed_member_that_stops_reading_does_not_slow_the_ticks(tight: Demo) -> None:
    """a feed client floods 60 KB notes and reads none of the acks: another client still
    gets its ticks (a round of 5 every 0.2 s), and the flooder is closed."""

    async def scenario(ws: str) -> int:
        slow_sock = socket.create_connection(("127.0.0.1", int(urlsplit(tight.url).port or 0)))
        slow_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        async with client(ws + "ws/feed") as fast:
            await next_json(fast, "hello")
            async with connect(
                ws + "ws/feed", sock=slow_sock, max_queue=1, ping_interval=None, close_timeout=1
            ) as slow:
                note = json.dumps({"type": "note", "seq": 1, "text": "x" * 60_000})

                async def flood() -> None:
                    with contextlib.suppress(ConnectionClosed):
                        for _ in range(400):
                            await slow.send(note)

                flooding = asyncio.create_task(flood())
                ticks = 0
                started = time.monotonic()
                while time.monotonic() - started < 2.0:
                    ticks += (await next_json(fast, "tick"))["type"] == "tick"
                await flooding
                return ticks

    ticks = run_for(tight, scenario, 30)
    assert ticks >= 15, ticks  # 2 s at 25 ticks/s is 50; the old server sent about 2


def test_outgoing_messages_are_capped_like_incoming_ones(demo: Demo) -> None:
    """60,000 NULs (6 bytes each once in JSON) are not broadcast as 360 KB: the sender is closed
    with 1009, the other members get nothing of it; the echo still sends them back as they came."""

    async def scenario(ws: str) -> tuple[int | None, dict[str, Any], int | None]:
        async with client(ws + "ws/chat") as alice, client(ws + "ws/chat") as bob:
            await next_json(bob, "joined")
            await alice.send("\x00" * 60_000)
            with pytest.raises(ConnectionClosed):
                while True:
                    await alice.recv()
            await bob.send("after")
            after = await next_json(bob, "chat")
            async with client(ws + "ws/feed") as feed:
                await feed.send(json.dumps({"seq": 1, "text": "\x00" * 60_000}))
                with pytest.raises(ConnectionClosed):
                    while True:
                        await feed.recv()
            async with client(ws + "ws/echo") as echo:
                await echo.send("\x00" * 60_000)
                assert await echo.recv() == "\x00" * 60_000
            return alice.close_code, after, feed.close_code

    alice_code, after, feed_code = run(demo, scenario)
    assert alice_code == 1009 and feed_code == 1009
    assert after["text"] == "after"


def test_a_refused_handshake_does_not_use_a_fault_slot(demo: Demo) -> None:
    """/api/refuse and /api/hang apply to handshakes the gate lets through: a cross-origin one
    gets its 403 and leaves the slot for the next allowed handshake."""
    demo.control("refuse", n=1)
    assert handshake_status(demo, origin="http://attacker.example") == 403
    assert handshake_status(demo, path="push/1/1") == 404  # no such endpoint: no slot either
    assert demo.status()["refusing"] == 1
    assert handshake_status(demo) == 503
    assert demo.status()["refusing"] == 0
    demo.control("hang", n=1)
    assert handshake_status(demo, origin="http://attacker.example") == 403
    assert demo.status()["hanging"] == 1
    assert handshake_status(demo, open_timeout=0.5) == "timeout"  # this one hangs
    assert demo.status()["hanging"] == 0
    assert handshake_status(demo) == 101


@pytest.mark.parametrize(
    "frame",
    [
        masked_frame(0x8, (1000).to_bytes(2, "big") + b"r" * 124),  # reason over 123 bytes
        masked_frame(0x8, (999).to_bytes(2, "big")),  # a code no one may send
        masked_frame(0x8, (1005).to_bytes(2, "big")),  # a code reserved for "no code"
    ],
    ids=["long-reason", "code-999", "code-1005"],
)
def test_a_bad_close_frame_ends_the_connection(demo: Demo, frame: bytes) -> None:
    """an invalid close frame on /ws/feed is a protocol error (1002), and the peer is gone: no zombie."""

    async def scenario(ws: str) -> int | None:
        async with client(ws + "ws/feed") as conn:
            await next_json(conn, "hello")
            peers = {c["peer"] for c in (await asyncio.to_thread(demo.status))["connections"]}
            conn.transport.write(frame)
            with pytest.raises(ConnectionClosed):
                while True:
                    await conn.recv()
            for _ in range(100):
                live = {c["peer"] for c in (await asyncio.to_thread(demo.status))["connections"]}
                if len(peers - live) >= 1:
                    return conn.close_code
                await asyncio.sleep(0.05)
            raise AssertionError("the server kept the connection")

    assert run(demo, scenario) in (1002, 1006)


def test_deep_json_on_the_feed_is_acked_and_heartbeats_go_on(demo: Demo) -> None:
    """a 2,000-deep array as a note is not JSON the feed reads (no RecursionError): it is acked
    as text, and the connection keeps answering heartbeats."""

    async def scenario(ws: str) -> tuple[dict[str, Any], str | bytes]:
        async with client(ws + "ws/feed") as conn:
            await next_json(conn, "hello")
            await conn.send("[" * 2000 + "]" * 2000)
            ack = await next_json(conn, "ack")
            await conn.send("ping")
            while (reply := await conn.recv()) != "pong":
                assert json.loads(reply)["type"] == "tick"
            return ack, reply

    ack, reply = run(demo, scenario)
    assert ack["text"] == "[" * 2000 + "]" * 2000
    assert reply == "pong"
