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
import hashlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from websockets.asyncio.server import Server, ServerConnection, serve

import heartsock
from devtools import bundle as bundle_module
from devtools import vendor
from devtools.static import ROOT
from tests.conftest import T

pytestmark = pytest.mark.browser

EXAMPLES = ROOT / "examples"
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
    """``python -m devtools.bundle DEST`` into a fresh folder (it builds heartsock's wheel)."""
    dest = tmp_path_factory.mktemp("bundle") / "mysite"
    result = subprocess.run(
        [sys.executable, "-m", "devtools.bundle", str(dest)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"devtools.bundle failed:\n{result.stdout}{result.stderr}"
    return dest


def the_wheel(bundle_dir: Path) -> Path:
    (wheel,) = (bundle_dir / "wheels").glob("heartsock-*-py3-none-any.whl")
    return wheel


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


def test_files_example_lists_every_module(bundle_dir: Path) -> None:
    """examples/files/pyscript.json maps each file of the heartsock package (as the wheel has it) to heartsock/."""
    config = json.loads((EXAMPLES / "files" / "pyscript.json").read_text())
    with zipfile.ZipFile(the_wheel(bundle_dir)) as wheel:
        package = sorted(n.removeprefix("heartsock/") for n in wheel.namelist() if n.startswith("heartsock/"))
    listed = {url: path for url, path in config["files"].items()}
    expected = {f"./heartsock/{name}": f"./heartsock/{name}" for name in package}
    assert listed == expected, (
        "examples/files/pyscript.json is out of date with heartsock's modules: "
        f"missing {sorted(set(expected) - set(listed))}, extra {sorted(set(listed) - set(expected))}"
    )


def test_docs_quote_the_examples_verbatim() -> None:
    """docs/ways-in.md shows every example file exactly as tested (files/index.html: as a two-line difference)."""
    doc = (ROOT / "docs" / "ways-in.md").read_text()
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```$", doc, re.S | re.M)
    examples = {path.relative_to(EXAMPLES).as_posix(): path.read_text() for path in EXAMPLES.glob("*/*")}
    missing = sorted(name for name, text in examples.items() if text not in blocks and name != "files/index.html")
    assert not missing, f"docs/ways-in.md does not quote these verbatim: {missing}"
    packages, files = examples["packages/index.html"].splitlines(), examples["files/index.html"].splitlines()
    differ = [a for a, b in zip(packages, files, strict=True) if a != b]
    assert differ == [
        "  <title>heartsock from a wheel (PyScript packages)</title>",
        'sock.send("hello from a wheel in PyScript packages")  # queued until the socket opens',
    ], "the docs say the files page is the packages page with another title and message"


def test_bundle_holds_pinned_runtime_and_matching_lock(bundle_dir: Path) -> None:
    """the bundle: Pyodide and PyScript as pinned, micropip as recorded, a lock entry matching it, the page."""
    pin = vendor.micropip_pin()
    lock = json.loads((bundle_dir / "pyodide" / "pyodide-lock.json").read_text())
    entry = lock["packages"]["micropip"]
    wheel = bundle_dir / "pyodide" / entry["file_name"]
    assert entry["file_name"] == pin.wheel_name and entry["version"] == pin.version
    assert entry["sha256"] == pin.sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()
    pins = json.loads((ROOT / "package.json").read_text())["dependencies"]
    assert json.loads((bundle_dir / "pyodide" / "package.json").read_text())["version"] == pins["pyodide"]
    assert (bundle_dir / "pyodide" / "pyodide.asm.wasm").is_file()
    assert (bundle_dir / "pyscript" / "core.js").is_file() and (bundle_dir / "pyscript" / "LICENSE").is_file()
    assert not list(bundle_dir.rglob("*.map")), "source maps are not needed to run"
    assert the_wheel(bundle_dir).name == f"heartsock-{heartsock.__version__}-py3-none-any.whl"
    for name in ("index.html", "main.py", "pyscript.json"):
        assert (bundle_dir / name).read_bytes() == (EXAMPLES / "bundle" / name).read_bytes(), name


def test_a_wrong_micropip_wheel_stops_vendoring_and_bundling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """a micropip wheel whose sha256 is not the recorded one is refused, with a message saying what to do."""
    pin = vendor.micropip_pin()
    good = vendor.micropip_wheel()  # the vendored wheel passes the check
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / good.name).write_bytes(good.read_bytes() + b"\0")
    with pytest.raises(vendor.VendorError, match=f"expects {pin.sha256}.*make setup"):
        vendor.micropip_wheel(wheels)
    monkeypatch.setattr(bundle_module, "micropip_wheel", lambda: vendor.micropip_wheel(wheels))
    assert bundle_module.main([str(tmp_path / "site")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bundle: ") and "has sha256" in err and pin.sha256 in err
    assert not (tmp_path / "site").exists()


def test_make_bundle_requires_dest() -> None:
    """`make bundle` without DEST stops at once, before installing anything, and says how to call it."""
    env = {k: v for k, v in os.environ.items() if k != "DEST"}
    result = subprocess.run(["make", "bundle"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode != 0
    assert "make bundle needs DEST" in result.stderr and not result.stdout


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
