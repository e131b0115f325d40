"""heartsock in a user's own page: the offline bundle and the three ways in (issue 9).

Every page here is served exactly as the user gets it — the files of ``examples/`` laid
next to the ``pyodide/``, ``pyscript/`` and ``wheels/`` folders that ``python -m
devtools.bundle`` writes — by a plain ``python -m http.server`` subprocess, never by the
project's own servers. The pages talk to a plain ``websockets`` echo server with no
Origin check (the ``echo`` fixture), on the URL each page takes from ``?url=``.

Each browser context refuses (and records) any request that is not for the static
server, and records console errors and page errors; a page must reach OPEN, get its
message back through the server, and show no ``.py-error`` element.
"""

from __future__ import annotations

import asyncio
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from websockets.asyncio.server import Server, ServerConnection, serve

from devtools.static import ROOT
from tests.bundle_support import EXAMPLES, build_bundle, the_wheel
from tests.conftest import T

pytestmark = pytest.mark.browser

BOOT_MS = 60_000 * T  # PyScript/Pyodide boot, micropip, the wheel: about 3-5 s here
OPEN_MS = 10_000 * T


class EchoServer:
    """A plain ``websockets`` echo server on 127.0.0.1 (free port, no Origin check), in a thread."""

    def __init__(self) -> None:
        self.received: list[str | bytes] = []
        self.origins: list[str | None] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="echo", daemon=True)
        self._thread.start()
        self._server: Server = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        self.port: int = self._server.sockets[0].getsockname()[1]

    async def _start(self) -> Server:
        return await serve(self._echo, "127.0.0.1", 0)

    async def _echo(self, connection: ServerConnection) -> None:
        self.origins.append(connection.request.headers.get("Origin") if connection.request else None)
        async for message in connection:
            self.received.append(message)
            await connection.send(message)

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def http_server(directory: Path) -> Iterator[str]:
    """``python -m http.server -d DIRECTORY PORT --bind 127.0.0.1``; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", "-d", str(directory), "--bind", "127.0.0.1", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, f"python -m http.server exited with {process.returncode}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"python -m http.server is not listening on {port}"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh bundle."""
    return build_bundle(tmp_path_factory.mktemp("bundle") / "mysite")


def lay_out(bundle_dir: Path, example: str, dest: Path) -> Path:
    """A site: ``examples/<example>/``'s files, next to the bundle's pyodide/, pyscript/, wheels/."""
    dest.mkdir()
    for name in ("pyodide", "pyscript", "wheels"):
        (dest / name).symlink_to(bundle_dir / name, target_is_directory=True)
    for path in (EXAMPLES / example).iterdir():
        shutil.copyfile(path, dest / path.name)
    return dest


@dataclass
class Guard:
    """What a context requested that it must not have, and what its pages reported as errors."""

    origin: str
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)

    def check(self, page: Page) -> None:
        error = page.locator(".py-error")
        assert error.count() == 0, f"the page shows an error: {error.first.text_content()}"
        assert not self.errors, "the page wrote errors:\n" + "\n".join(self.errors)
        assert not self.foreign, f"the page requested other addresses: {self.foreign}"


@contextmanager
def guarded(browser: Browser, origin: str) -> Iterator[tuple[BrowserContext, Guard]]:
    """A fresh context that may load only from ``origin`` (and ``data:``); errors are recorded."""
    guard = Guard(origin)
    context = browser.new_context()

    def only_origin(route: Route) -> None:
        url = route.request.url
        if url.startswith(origin + "/") or url.startswith("data:"):
            route.continue_()
        else:
            guard.foreign.append(url)
            route.abort()

    def on_page(page: Page) -> None:
        page.on("console", lambda m: guard.errors.append(f"console.error: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: guard.errors.append(f"pageerror: {e}"))
        page.on("websocket", lambda ws: guard.sockets.append(ws.url))

    context.route("**/*", only_origin)
    context.on("page", on_page)
    try:
        yield context, guard
    finally:
        context.close()


def wait_open(page: Page, guard: Guard) -> None:
    """Wait until ``#state`` says ``open``; fail at once, with the reason, if an error shows first."""
    try:
        page.wait_for_function(
            "document.querySelector('#state')?.textContent === 'open' || document.querySelector('.py-error')",
            timeout=BOOT_MS,
        )
    except PlaywrightTimeoutError:
        state = page.locator("#state").text_content()
        raise AssertionError(f"not OPEN after {BOOT_MS:.0f} ms: #state is {state!r}; errors: {guard.errors}") from None
    guard.check(page)


def log_lines(page: Page) -> list[str]:
    return [text.strip() for text in page.locator("#log li").all_text_contents()]


WAYS = {
    "packages": "hello from a wheel in PyScript packages",
    "files": "hello from the sources in PyScript files",
    "micropip": "hello from a wheel installed by micropip",
}


@pytest.mark.parametrize("way", list(WAYS))
def test_way_in_reaches_open_and_echoes(
    way: str, bundle_dir: Path, echo: EchoServer, browser: Browser, tmp_path: Path
) -> None:
    """each example page, served as it is by python -m http.server, imports heartsock, opens and round-trips."""
    site = lay_out(bundle_dir, way, tmp_path / way)
    if way == "files":  # the user's heartsock/ folder, made as docs/ways-in.md says: unzip the wheel
        unzip = [sys.executable, "-m", "zipfile", "-e", f"wheels/{the_wheel(bundle_dir).name}", "."]
        subprocess.run(unzip, cwd=site, check=True, timeout=60)
    greeting = WAYS[way]
    with http_server(site) as origin, guarded(browser, origin) as (context, guard):
        page = context.new_page()
        page.goto(f"{origin}/index.html?url={echo.url()}")
        wait_open(page, guard)
        page.wait_for_function(
            "(text) => [...document.querySelectorAll('#log li')].some((li) => li.textContent === text)",
            arg=greeting,
            timeout=OPEN_MS,
        )
        assert log_lines(page)[0] == greeting
        guard.check(page)
    assert greeting in echo.received
    assert origin in echo.origins
    assert guard.sockets == [echo.url()]


def type_and_expect_echo(page: Page, text: str) -> None:
    """Send ``text`` with the quick-start page's form; wait for the echo in its log."""
    page.fill("#text", text)
    page.click("#send")
    page.wait_for_function(
        "(text) => [...document.querySelectorAll('#log li')].some((li) => li.textContent === text)",
        arg=f"← {text}",
        timeout=OPEN_MS,
    )
    assert log_lines(page) == [f"→ {text}", f"← {text}"]
    assert page.locator("#state").text_content() == "open"


def test_bundle_page_reaches_open_and_echoes(bundle_dir: Path, echo: EchoServer, browser: Browser) -> None:
    """the bundle, served as it is by python -m http.server, opens the URL given as ?url= (here a plain echo
    server) and echoes what is typed, with no error shown or logged."""
    with http_server(bundle_dir) as origin, guarded(browser, origin) as (context, guard):
        page = context.new_page()
        page.goto(f"{origin}/?url={echo.url()}")
        wait_open(page, guard)
        type_and_expect_echo(page, "hello from my own page")
        guard.check(page)
    assert "hello from my own page" in echo.received
    assert guard.sockets == [echo.url()]


@pytest.fixture(scope="module")
def demo_echo() -> Iterator[str]:
    """``python -m demo --host 127.0.0.1 --port 0`` (what ``make demo`` runs); yields its /ws/echo URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "demo", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, name="demo-output", daemon=True).start()
    try:
        try:
            first = lines.get(timeout=30 * T)
        except queue.Empty:
            raise AssertionError("python -m demo printed nothing") from None
        found = re.search(r"http://(127\.0\.0\.1:\d+)/", first)
        assert found, f"python -m demo did not print its URL: {first!r}"
        yield f"ws://{found.group(1)}/ws/echo"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_done_when_bundle_reaches_open_against_make_demo(bundle_dir: Path, demo_echo: str, browser: Browser) -> None:
    """issue 9's Done-when: the bundle on its own port (python -m http.server) reaches OPEN against the
    echo endpoint of `python -m demo` (a page from another loopback port is accepted), with no error."""
    with http_server(bundle_dir) as origin, guarded(browser, origin) as (context, guard):
        page = context.new_page()
        page.goto(f"{origin}/?url={demo_echo}")
        wait_open(page, guard)
        type_and_expect_echo(page, "hello, demo")
        guard.check(page)
    assert guard.sockets == [demo_echo]
