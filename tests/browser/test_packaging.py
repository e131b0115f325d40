"""heartsock as a distribution: the wheel and sdist, installed in the browser two ways (issue 4)."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from devtools.browser import PyPage
from devtools.faults import ThreadedFaultServer
from devtools.static import ROOT, StaticServer
from tests.browser.conftest import SCENARIOS
from tests.conftest import TEST_WHEELS

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def dists() -> Iterator[tuple[Path, Path]]:
    """A freshly built wheel and sdist (python -m build), served at /testwheels/."""
    if TEST_WHEELS.exists():
        for old in TEST_WHEELS.iterdir():
            old.unlink()
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(TEST_WHEELS), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = TEST_WHEELS.glob("*.whl")
    (sdist,) = TEST_WHEELS.glob("*.tar.gz")
    yield wheel, sdist


def test_wheel_is_pure_and_holds_heartsock_only(dists: tuple[Path, Path]) -> None:
    """the wheel is py3-none-any and contains the heartsock package (with py.typed) and its metadata only."""
    wheel, _ = dists
    assert wheel.name.endswith("-py3-none-any.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"heartsock", wheel.name.split("-py3")[0] + ".dist-info"}
    assert "heartsock/py.typed" in names and "heartsock/_core.py" in names


def test_sdist_holds_no_tests_or_www(dists: tuple[Path, Path]) -> None:
    """the sdist has heartsock's sources and metadata, not tests/, www/ or tooling."""
    _, sdist = dists
    names = tarfile.open(sdist).getnames()
    inner = {n.split("/", 1)[1] for n in names if "/" in n}
    assert "heartsock/_core.py" in inner and "pyproject.toml" in inner
    assert not any(n.startswith(("tests/", "www/", "devtools/", "demo/", "bench/", "node_modules/")) for n in inner)


def test_wheel_installs_with_micropip_offline(
    dists: tuple[Path, Path], browser: Browser, static_server: StaticServer, server: ThreadedFaultServer
) -> None:
    """micropip (the vendored PyPI wheel) installs the built wheel from 127.0.0.1, and it works."""
    wheel, _ = dists
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        py = PyPage(page, static_server.url, query="?nosources", scenarios=SCENARIOS)
        result = py.call("install.wheel_echo", wheel.name, server.url("/echo"))
    finally:
        page.close()
    echo, path = result
    assert echo == "from the wheel" and "site-packages/heartsock/" in path
    assert all(url.startswith(("http://127.0.0.1", "ws://127.0.0.1")) for url in requests), requests


def test_pyscript_packages_config_loads_the_wheel(
    dists: tuple[Path, Path], browser: Browser, static_server: StaticServer, server: ThreadedFaultServer
) -> None:
    """a PyScript page whose config lists the wheel in `packages` imports heartsock from it and connects."""
    wheel, _ = dists
    config = {"interpreter": "/pyodide/pyodide.mjs", "packages": [f"/testwheels/{wheel.name}"]}
    (TEST_WHEELS / "packages.json").write_text(json.dumps(config))
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{static_server.url}/testpages/packages.html#{server.url('/echo')}")
        page.wait_for_selector("#result, .py-error", state="attached", timeout=60_000)
        error = page.locator(".py-error")
        assert error.count() == 0, error.first.text_content()
        result = json.loads(page.locator("#result").text_content() or "{}")
    finally:
        page.close()
    assert result["echo"] == "via packages" and "site-packages/heartsock/" in result["file"], errors
    assert all(url.startswith(("http://127.0.0.1", "ws://127.0.0.1")) for url in requests), requests
