"""The offline bundle and the examples, checked without a browser (issue 9): lock, pins, hashes, docs."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

import heartsock
from devtools import bundle as bundle_module
from devtools import vendor
from devtools.static import ROOT
from tests.bundle_support import EXAMPLES, build_bundle, the_wheel


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh bundle."""
    return build_bundle(tmp_path_factory.mktemp("bundle") / "mysite")


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


def code_blocks(path: Path) -> list[str]:
    """The contents of every fenced code block in a Markdown file."""
    return re.findall(r"^```[a-z]*\n(.*?)^```$", path.read_text(), re.S | re.M)


def test_readme_quotes_the_examples_verbatim() -> None:
    """the README's quick start and three ways in show the example files exactly as the browser tests serve them"""
    blocks = code_blocks(ROOT / "README.md")
    quoted = ["bundle/main.py", "packages/index.html", "packages/pyscript.json", "files/pyscript.json"]
    quoted += ["micropip/index.html", "fastapi/app.py"]
    missing = [name for name in quoted if (EXAMPLES / name).read_text() not in blocks]
    assert not missing, f"README.md does not quote these verbatim: {missing}"


def test_docs_quote_the_examples_verbatim() -> None:
    """docs/ways-in.md shows every example file exactly as tested (files/index.html: as a two-line difference)."""
    blocks = code_blocks(ROOT / "docs" / "ways-in.md")
    pages = [path for way in ("bundle", "packages", "files", "micropip") for path in (EXAMPLES / way).iterdir()]
    examples = {path.relative_to(EXAMPLES).as_posix(): path.read_text() for path in pages}
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
    micropython = json.loads((bundle_dir / "micropython" / "package.json").read_text())["version"]
    assert micropython == pins["@micropython/micropython-webassembly-pyscript"]
    assert (bundle_dir / "micropython" / "micropython.mjs").is_file()
    assert (bundle_dir / "micropython" / "micropython.wasm").is_file()
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
    # Not DEST, and not the outer make's variables (under `make test` they make this make
    # print "Entering directory" lines).
    env = {k: v for k, v in os.environ.items() if k not in ("DEST", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    result = subprocess.run(["make", "bundle"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode != 0
    assert "make bundle needs DEST" in result.stderr and not result.stdout
