"""Write heartsock's offline bundle: a folder any static server serves as it is.

``python -m devtools.bundle DEST`` (``make bundle DEST=DEST``) writes::

    DEST/pyodide/     the pinned Pyodide (npm), with micropip and a lock that matches it
    DEST/pyscript/    the pinned PyScript core (its dist files and licence)
    DEST/micropython/ the MicroPython PyScript names, for ``<script type="mpy">`` pages
                      (config: ``"interpreter": "./micropython/micropython.mjs"``)
    DEST/wheels/      heartsock-<version>-py3-none-any.whl
    DEST/index.html   the quick-start page (examples/bundle/): PyScript imports heartsock
    DEST/main.py        from the bundled wheel and connects to a URL you edit
    DEST/pyscript.json

then ``python3 -m http.server -d DEST 8731`` serves it, and nothing it loads comes
from any other address. Running it again refreshes ``pyodide/``, ``pyscript/`` and the
heartsock wheel, and keeps the page files you may have edited.

micropip is checked against the sha256 recorded in ``devtools/micropip.txt`` (see
:mod:`devtools.vendor`); the Pyodide and PyScript in ``node_modules`` must be the
versions ``package.json`` pins. Any mismatch stops the bundle with a message that says
what to do.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from devtools.static import MICROPYTHON_DIR, PYODIDE_DIR, PYSCRIPT_DIR, ROOT, MissingAssets, check_assets
from devtools.vendor import VendorError, micropip_wheel, sha256_of, write_overlay

TEMPLATE = ROOT / "examples" / "bundle"
PAGE_FILES = ("index.html", "main.py", "pyscript.json")
PACKAGES = {
    "pyodide": PYODIDE_DIR,
    "@pyscript/core": PYSCRIPT_DIR.parent,
    "@micropython/micropython-webassembly-pyscript": MICROPYTHON_DIR,
}
#: MicroPython's files a page loads (not its ulab/settrace builds).
MICROPYTHON_FILES = ("micropython.mjs", "micropython.wasm", "package.json", "README.md")
#: Files of the npm packages a page never loads (type declarations, source maps, dev consoles).
SKIP = ("*.map", "*.d.ts", "console*.html")


class BundleError(RuntimeError):
    """The bundle cannot be written as asked; the message says why and what to do."""


def check_pins() -> None:
    """Raise :class:`BundleError` unless ``node_modules`` holds the versions ``package.json`` pins."""
    try:
        check_assets()
    except MissingAssets as exc:
        raise BundleError(str(exc)) from None
    wanted = json.loads((ROOT / "package.json").read_text())["dependencies"]
    for name, directory in PACKAGES.items():
        found = json.loads((directory / "package.json").read_text())["version"]
        if found != wanted[name]:
            raise BundleError(f"node_modules has {name} {found}, package.json pins {wanted[name]}: run `npm ci`")


def build_wheel(outdir: Path) -> Path:
    """Build heartsock's wheel into ``outdir`` as ``make wheel`` does (sdist, then wheel from it)."""
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(outdir), str(ROOT)],
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise BundleError(f"building heartsock's wheel failed:\n{result.stdout}{result.stderr}")
    return _one_wheel(outdir)


def _one_wheel(directory: Path) -> Path:
    wheels = sorted(directory.glob("heartsock-*-py3-none-any.whl"))
    if len(wheels) != 1:
        raise BundleError(f"expected one heartsock-*-py3-none-any.whl in {directory}, found {len(wheels)}")
    return wheels[0]


def wheel_urls(config: Path) -> list[str]:
    """The relative wheel URLs a PyScript config's ``packages`` names."""
    packages = json.loads(config.read_text()).get("packages", [])
    return [p for p in packages if isinstance(p, str) and p.endswith(".whl")]


def _copy_package(source: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(*SKIP))


def _check_dest(dest: Path) -> Path:
    dest = dest.resolve()
    if dest == ROOT or dest in ROOT.parents:
        raise BundleError(f"{dest} holds this repository; choose a folder of its own, e.g. DEST=mysite")
    if dest.exists() and not dest.is_dir():
        raise BundleError(f"{dest} exists and is not a folder")
    return dest


def bundle(dest: Path, wheel: Path | None = None, log: bool = True) -> Path:
    """Write the bundle into ``dest`` (created if needed); return its resolved path.

    ``wheel`` is heartsock's wheel to bundle; ``None`` builds a fresh one.
    """
    dest = _check_dest(dest)
    check_pins()
    try:
        micropip = micropip_wheel()
    except VendorError as exc:
        raise BundleError(str(exc)) from None
    with tempfile.TemporaryDirectory(prefix="heartsock-wheel-") as tmp:
        if wheel is None:
            wheel = build_wheel(Path(tmp))
        elif not (wheel.is_file() and wheel.name.startswith("heartsock-") and wheel.name.endswith("-py3-none-any.whl")):
            raise BundleError(f"{wheel} is not a heartsock-*-py3-none-any.whl file (run `make wheel`)")
        template_wheels = [url.removeprefix("./") for url in wheel_urls(TEMPLATE / "pyscript.json")]
        if template_wheels != [f"wheels/{wheel.name}"]:
            raise BundleError(
                f"{TEMPLATE.relative_to(ROOT)}/pyscript.json names {template_wheels}, but the wheel is "
                f"{wheel.name}: update the page's `packages` (heartsock's version changed?)"
            )
        dest.mkdir(parents=True, exist_ok=True)
        wheels = dest / "wheels"
        wheels.mkdir(exist_ok=True)
        for old in wheels.glob("heartsock-*.whl"):
            old.unlink()
        shutil.copyfile(wheel, wheels / wheel.name)

    _copy_package(PYODIDE_DIR, dest / "pyodide")
    lock = write_overlay(dest / "pyodide", micropip)
    entry = json.loads(lock.read_text())["packages"]["micropip"]
    if sha256_of(dest / "pyodide" / entry["file_name"]) != entry["sha256"]:  # what Pyodide will check
        raise BundleError(f"{lock}: micropip's entry does not match {entry['file_name']}")
    _copy_package(PYSCRIPT_DIR, dest / "pyscript")
    shutil.copyfile(PYSCRIPT_DIR.parent / "LICENSE", dest / "pyscript" / "LICENSE")
    if (dest / "micropython").exists():
        shutil.rmtree(dest / "micropython")
    (dest / "micropython").mkdir()
    for name in MICROPYTHON_FILES:
        shutil.copyfile(MICROPYTHON_DIR / name, dest / "micropython" / name)

    kept = []
    for name in PAGE_FILES:
        if (dest / name).exists():
            kept.append(name)
        else:
            shutil.copyfile(TEMPLATE / name, dest / name)
    if log:
        print(f"bundle: wrote {dest}")
        micropip_note = f"micropip {entry['version']} (sha256 {entry['sha256']})"
        print(f"  pyodide/   Pyodide {_version(PYODIDE_DIR)} with {micropip_note}")
        print(f"  pyscript/  PyScript {_version(PYSCRIPT_DIR.parent)}")
        print(f"  micropython/  MicroPython {_version(MICROPYTHON_DIR)} (for PyScript mpy pages)")
        print(f"  wheels/    {wheel.name}")
        if kept:
            print(f"  kept your {', '.join(kept)} (delete them to get the quick-start page again)")
            stale = [u for u in wheel_urls(dest / "pyscript.json") if not (dest / u).is_file()]
            if stale:
                print(f"  warning: pyscript.json names {stale}, not in the bundle: use ./wheels/{wheel.name}")
        else:
            print(f"  index.html, main.py, pyscript.json: the quick-start page ({TEMPLATE.relative_to(ROOT)}/)")
        print(f"Serve it with: python3 -m http.server -d {dest} 8731 --bind 127.0.0.1")
    return dest


def _version(package: Path) -> str:
    return str(json.loads((package / "package.json").read_text())["version"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.bundle", description="Write heartsock's offline bundle into DEST."
    )
    parser.add_argument("dest", type=Path, metavar="DEST", help="the folder to write (created if needed)")
    parser.add_argument("--wheel", type=Path, help="heartsock's wheel to bundle (default: build one now)")
    args = parser.parse_args(argv)
    try:
        bundle(args.dest, args.wheel)
    except BundleError as exc:
        print(f"bundle: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
