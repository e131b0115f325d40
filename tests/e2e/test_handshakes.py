"""Who may open a WebSocket on the demo server, and what the server says when it refuses.

The browser hides a refused handshake (the page sees close 1006, only the console shows
the HTTP status), so the demo server logs every refusal at its default verbosity with
the reason and the fix. Pages this machine serves on loopback, on any port, need no
flag; other origins need ``--allow-origin``; the ``Host`` check (DNS rebinding) applies
to handshakes as it does to pages.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser
from websockets.exceptions import InvalidStatus

from devtools.browser import PyPage
from devtools.static import ROOT, Mounts, StaticServer
from tests.conftest import T
from tests.e2e.conftest import Demo, guarded_context, open_page, running_demo
from tests.e2e.test_demo_server import client, request, run

FOREIGN = "http://example.test:8731"
FIX = f"403: Origin {FOREIGN} is not allowed; start with --allow-origin {FOREIGN}"


def handshake(demo: Demo, path: str = "ws/echo", **kwargs: Any) -> Any:
    """Open ``path`` with ``kwargs`` (``origin=…``), send one message; return the echo,
    or the refusal's ``(status, body)``."""

    async def scenario(ws: str) -> Any:
        try:
            async with client(ws + path, **kwargs) as conn:
                await conn.send("hello")
                return await conn.recv()
        except InvalidStatus as refused:
            return refused.response.status_code, refused.response.body.decode()

    return run(demo, scenario)


# ---- Origin --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "origin",
    [
        None,
        "http://127.0.0.1:8731",
        "http://localhost:1",
        "http://[::1]:65535",
        "https://127.0.0.2:4443",
        "http://localhost",
    ],
)
def test_loopback_origins_on_any_port_are_accepted(demo: Demo, origin: str | None) -> None:
    """a page served by this machine on loopback, on any port, needs no flag (nor does a tool without Origin)."""
    assert handshake(demo, origin=origin) == "hello"


@pytest.mark.parametrize(
    "origin", [FOREIGN, "http://localhost.example.test", "http://127.0.0.1.example.test:8000", "file://", "null"]
)
def test_other_origins_are_refused_with_403(demo: Demo, origin: str) -> None:
    """any other origin, a look-alike of a loopback name or a file:// page included, gets 403."""
    status, body = handshake(demo, origin=origin)
    assert status == 403
    assert body.startswith(f"403: Origin {origin} is not allowed")


def test_a_refused_origin_is_logged_with_the_reason_and_the_fix(demo: Demo) -> None:
    """the log line at the default verbosity says why and which flag admits the page."""
    before = len(demo.output)
    status, body = handshake(demo, origin=FOREIGN)
    assert status == 403
    line = demo.wait_output(FIX, after=before)
    assert "/ws/echo" in line
    assert FIX in body  # a tool that shows the body (curl) sees the same sentence


def test_a_null_origin_is_explained(demo: Demo) -> None:
    """Origin null (a file:// page) is refused with a hint to serve the page over http."""
    before = len(demo.output)
    assert handshake(demo, origin="null")[0] == 403
    line = demo.wait_output("403: Origin null is not allowed", after=before)
    assert "file://" in line and "python3 -m http.server" in line


def test_allow_origin_admits_that_origin(demo: Demo) -> None:
    """--allow-origin ORIGIN admits handshakes and control requests from ORIGIN, and only those."""
    with running_demo("--allow-origin", FOREIGN + "/") as other:  # written with a slash: normalised
        assert handshake(other, origin=FOREIGN) == "hello"
        assert handshake(other, origin="http://example.test:8732")[0] == 403
        assert request(other, "POST", "/api/drop", {"Origin": FOREIGN})[0] == 200
        assert FOREIGN in other.wait_output("pages from")


def test_help_documents_allow_origin_and_the_loopback_rule() -> None:
    """--help names the flag, its form, and the loopback rule it extends; a bad value is refused."""
    shown = subprocess.run([sys.executable, "-m", "demo", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    assert "--allow-origin ORIGIN" in text and "scheme://host[:port]" in text
    assert "127.0.0.1" in text and "localhost" in text and "[::1]" in text and "any port" in text
    bad = subprocess.run(
        [sys.executable, "-m", "demo", "--allow-origin", "example.test:8731/page"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "is not an origin" in bad.stderr


# ---- Host -----------------------------------------------------------------------------------
def test_a_bad_host_on_a_websocket_handshake_is_refused(demo: Demo) -> None:
    """a handshake naming another host (DNS rebinding) gets 421, and the log says so."""
    port = int(demo.url.rsplit(":", 1)[1].strip("/"))
    before = len(demo.output)

    async def scenario(ws: str) -> tuple[int, str]:
        # Connect to this server while the request names attacker.example (Host header).
        with pytest.raises(InvalidStatus) as refused:
            async with client(f"ws://attacker.example:{port}/ws/echo", host="127.0.0.1", port=port):
                pass
        return refused.value.response.status_code, refused.value.response.body.decode()

    status, body = run(demo, scenario)
    assert status == 421
    assert body.startswith(f"421: Host attacker.example:{port} is not a name of this server")
    demo.wait_output(f"421: Host attacker.example:{port}", after=before)


def test_loopback_hosts_on_any_port_are_accepted(demo: Demo) -> None:
    """a tunnel (ssh -L 9000:127.0.0.1:8000) changes the port in Host: still this server."""
    port = int(demo.url.rsplit(":", 1)[1].strip("/"))

    async def scenario(ws: str) -> Any:
        async with client("ws://localhost:9000/ws/echo", host="127.0.0.1", port=port) as conn:
            await conn.send("through a tunnel")
            return await conn.recv()

    assert run(demo, scenario) == "through a tunnel"
    assert request(demo, "GET", "/", {"Host": "[::1]:9000"})[0] == 200


def test_a_repeated_host_header_is_refused_without_a_traceback(demo: Demo) -> None:
    """two Host headers: 400 (a malformed request) and one line of log, not a 500."""
    before = len(demo.output)
    address = demo.url.removeprefix("http://").strip("/")
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: attacker.example\r\n\r\n")
        head = sock.recv(4096).split(b"\r\n", 1)[0]
    assert head == b"HTTP/1.1 400 Bad Request"
    demo.wait_output("Invalid HTTP request received", after=before)
    assert not [line for line in demo.output[before:] if "Traceback" in line]


# ---- the endpoints -------------------------------------------------------------------------
def test_only_the_demo_endpoints_are_mounted(demo: Demo) -> None:
    """the fault server's test routes (/push, /sink …) are not part of the demo: 404, logged."""
    before = len(demo.output)
    for path in ("push/1/300000000", "sink", "silent", "close/1000"):
        assert handshake(demo, path)[0] == 404
    demo.wait_output("404: no WebSocket endpoint at /push/1/300000000; use /ws/echo", after=before)
    assert handshake(demo, "echo") == "hello"  # /<name> is short for /ws/<name>


# ---- in the browser ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def elsewhere() -> Iterator[StaticServer]:
    """Another server on 127.0.0.1 (another port): ``tests/e2e/pages`` plus Pyodide and heartsock."""
    with StaticServer(Mounts.standard(www=ROOT / "tests" / "e2e" / "pages")) as server:
        yield server


_OPEN_RAW = """async (url) => await new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.onopen = () => ws.send('raw hello');
    ws.onmessage = (e) => { resolve(['message', e.data]); ws.close(); };
    ws.onclose = (e) => resolve(['close', e.code]);
})"""


@pytest.mark.browser
def test_a_page_from_another_loopback_port_uses_the_echo(browser: Browser, elsewhere: StaticServer, demo: Demo) -> None:
    """heartsock in a page of another server (127.0.0.1 and localhost, other port) reaches the echo."""
    local = elsewhere.url + "/"
    by_name = local.replace("127.0.0.1", "localhost")
    with guarded_context(browser, local, by_name) as (ctx, _):
        py = PyPage(ctx.new_page(), elsewhere.url)
        reply = py.run_json(
            f"""
import heartsock
async with heartsock.connect({demo.ws + "ws/echo"!r}, pong_msg="pong") as sock:
    sock.send("from another port")
    reply = await sock.recv()
reply"""
        )
        assert reply == "from another port"
        page = ctx.new_page()
        page.goto(by_name + "blank.html")
        assert page.evaluate("location.origin") == by_name.rstrip("/")
        assert page.evaluate(_OPEN_RAW, demo.ws + "ws/echo") == ["message", "raw hello"]


@pytest.mark.browser
def test_a_page_from_a_foreign_origin_is_refused_and_the_log_says_why(
    browser: Browser, elsewhere: StaticServer, demo: Demo
) -> None:
    """a page of another name for this machine sees 1006; the server logs 403 and the fix.

    The page is served over loopback under the name ``app.localhost``, which Chromium
    resolves to 127.0.0.1 by itself, like a hosts-file name or a DNS name pointing at
    127.0.0.1 (the DNS-rebinding shape). (A page of a public site never gets this far:
    Chromium's Local Network Access checks block its socket before any handshake.)
    """
    foreign = elsewhere.url.replace("127.0.0.1", "app.localhost")
    fix = f"403: Origin {foreign} is not allowed; start with --allow-origin {foreign}"
    before = len(demo.output)
    with guarded_context(browser, foreign + "/") as (ctx, guard):
        page = open_page(ctx, guard, foreign + "/blank.html")
        assert page.evaluate("location.origin") == foreign
        assert page.evaluate(_OPEN_RAW, demo.ws + "ws/echo") == ["close", 1006]
    line = demo.wait_output(fix, after=before, timeout=5 * T)
    assert "WebSocket handshake for /ws/echo" in line
