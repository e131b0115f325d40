"""The browser tier fails loudly — it never skips — when its browser or assets are missing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devtools import browser as browser_module
from devtools import static
from devtools.static import ROOT

PROBE = "test_text_and_binary_round_trip"  # any browser test: it needs the browser and the assets


def test_missing_chromium_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """launch() raises MissingBrowser naming the path when Debian's chromium is absent."""
    monkeypatch.setattr(browser_module, "CHROMIUM", tmp_path / "no-chromium")
    unused: Any = object()  # launch() must refuse before it touches Playwright
    with pytest.raises(browser_module.MissingBrowser, match="no-chromium"):
        browser_module.launch(unused)


def test_missing_pyodide_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """check_assets() raises MissingAssets naming the files when node_modules lacks Pyodide."""
    monkeypatch.setattr(static, "PYODIDE_DIR", tmp_path / "pyodide")
    with pytest.raises(static.MissingAssets, match="pyodide.mjs"):
        static.check_assets()


def test_missing_pyscript_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """check_assets() raises MissingAssets when PyScript's core.js is missing."""
    monkeypatch.setattr(static, "PYSCRIPT_DIR", tmp_path / "pyscript")
    with pytest.raises(static.MissingAssets, match="core.js"):
        static.check_assets()


def test_missing_micropython_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """check_assets() raises MissingAssets naming micropython.mjs when the vendored MicroPython is missing."""
    monkeypatch.setattr(static, "MICROPYTHON_DIR", tmp_path / "micropython")
    with pytest.raises(static.MissingAssets, match="micropython.mjs"):
        static.check_assets()


@pytest.mark.parametrize(
    "missing", [{"HEARTSOCK_CHROMIUM": "/nonexistent/chromium"}, {"HEARTSOCK_NODE_MODULES": "/nonexistent"}]
)
def test_a_browser_test_errors_when_its_browser_or_assets_are_missing(missing: dict[str, str]) -> None:
    """a browser test run without Chromium, or without the vendored files, is an error, not a skip or a pass."""
    env = {**os.environ, **missing}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            f"{ROOT}/tests/browser/test_basic.py::{PROBE}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0, result.stdout
    assert re.search(r"\b1 error\b", result.stdout) and "skipped" not in result.stdout, result.stdout[-2000:]


def test_static_server_refuses_path_traversal(tmp_path: Path) -> None:
    """nothing outside the mounted directories is served, however the path is spelled."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hi")
    (tmp_path / "secret.txt").write_text("no")
    mounts = static.Mounts.standard(www=www)
    assert mounts.body("/index.html") is not None
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/heartsock/../../etc/passwd", "/pyodide/..%2F..%2Fsecret"):
        assert mounts.body(path) is None, path
