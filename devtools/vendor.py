"""Set-up step: make micropip loadable offline from the local Pyodide.

The npm ``pyodide`` package ships no wheels, and PyScript's ``packages`` config (and
``pyodide.loadPackage("micropip")``) load micropip through ``pyodide-lock.json``,
which checks the wheel's sha256. The wheel PyPI publishes is built separately from the
one in Pyodide's release, so its hash differs from the lock's. This step reconciles
that openly and reproducibly:

- ``devtools/micropip.txt`` pins micropip's version and the sha256 of PyPI's wheel
  (``pip download --require-hashes`` checks it on download);
- :func:`micropip_wheel` checks the vendored wheel against that pin again, and fails
  with :class:`VendorError` on any mismatch;
- :func:`write_overlay` writes a copy of the npm lock in which micropip's entry names
  that wheel and records *its* hash, and puts the wheel beside it. The same inputs give
  the same bytes.

``python -m devtools.vendor`` (the Makefile's ``vendor/.installed`` step) writes the
overlay to ``vendor/pyodide/``, which the static server overlays on ``/pyodide/``;
:mod:`devtools.bundle` writes it into a bundle's ``pyodide/`` folder.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from devtools.static import PYODIDE_DIR, ROOT

PIN_FILE = ROOT / "devtools" / "micropip.txt"
WHEELS = ROOT / "vendor" / "wheels"
OVERLAY = ROOT / "vendor" / "pyodide"
LOCK_NAME = "pyodide-lock.json"

_PIN = re.compile(r"^micropip==(?P<version>[\w.]+)\s+--hash=sha256:(?P<sha256>[0-9a-f]{64})\s*$")


class VendorError(RuntimeError):
    """The vendored micropip is missing, or is not the pinned wheel."""


@dataclass(frozen=True)
class Pin:
    """micropip's pinned version and the sha256 of the wheel PyPI publishes for it."""

    version: str
    sha256: str

    @property
    def wheel_name(self) -> str:
        return f"micropip-{self.version}-py3-none-any.whl"


def micropip_pin(pin_file: Path = PIN_FILE) -> Pin:
    """The pin recorded in ``devtools/micropip.txt``."""
    lines = [line.strip() for line in pin_file.read_text().splitlines()]
    pins = [m for m in map(_PIN.match, lines) if m]
    if len(pins) != 1:
        raise VendorError(f"{pin_file}: expected one line `micropip==VERSION --hash=sha256:HEX`, found {len(pins)}")
    return Pin(pins[0]["version"], pins[0]["sha256"])


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_wheel(wheel: Path, pin: Pin) -> None:
    """Raise :class:`VendorError` unless ``wheel`` is the pinned micropip, byte for byte."""
    if wheel.name != pin.wheel_name:
        raise VendorError(f"{wheel} is not {pin.wheel_name}, the micropip pinned in {PIN_FILE.relative_to(ROOT)}")
    digest = sha256_of(wheel)
    if digest != pin.sha256:
        raise VendorError(
            f"{wheel} has sha256 {digest}, but {PIN_FILE.relative_to(ROOT)} expects {pin.sha256}: "
            "it is not the wheel PyPI publishes for micropip "
            f"{pin.version} (a corrupt or tampered download?). Delete vendor/ and run `make setup` again; "
            f"if micropip's pin changed on purpose, record the new wheel's hash in {PIN_FILE.relative_to(ROOT)}."
        )


def micropip_wheel(wheels: Path = WHEELS, pin: Pin | None = None) -> Path:
    """The vendored micropip wheel in ``wheels``, checked against the pin."""
    pin = pin or micropip_pin()
    found = sorted(wheels.glob("micropip-*.whl"))
    if len(found) != 1:
        raise VendorError(
            f"expected one micropip wheel in {wheels}, found {len(found)}: run `make setup` "
            "(it downloads the pinned wheel from PyPI)"
        )
    check_wheel(found[0], pin)
    return found[0]


def overlay_lock(wheel: Path, pyodide_dir: Path = PYODIDE_DIR) -> bytes:
    """Pyodide's lock with micropip's entry naming ``wheel`` and its sha256."""
    lock = json.loads((pyodide_dir / LOCK_NAME).read_text())
    entry = lock["packages"]["micropip"]
    version = wheel.name.split("-")[1]
    if entry["version"] != version:
        raise VendorError(f"Pyodide's lock pins micropip {entry['version']}, the vendored wheel is {version}")
    entry["file_name"] = wheel.name
    entry["sha256"] = sha256_of(wheel)
    return json.dumps(lock).encode()


def write_overlay(dest: Path, wheel: Path, pyodide_dir: Path = PYODIDE_DIR) -> Path:
    """Write ``wheel`` and the overlaid ``pyodide-lock.json`` into ``dest``; return the lock's path."""
    lock = overlay_lock(wheel, pyodide_dir)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / wheel.name).write_bytes(wheel.read_bytes())
    path = dest / LOCK_NAME
    path.write_bytes(lock)
    return path


def main() -> int:
    try:
        pin = micropip_pin()
        wheel = micropip_wheel(WHEELS, pin)
        npm_sha = json.loads((PYODIDE_DIR / LOCK_NAME).read_text())["packages"]["micropip"]["sha256"]
        write_overlay(OVERLAY, wheel)
    except VendorError as exc:
        print(f"vendor: {exc}", file=sys.stderr)
        return 1
    print(f"vendor: micropip {pin.version}: npm lock sha256 {npm_sha}")
    print(f"vendor: micropip {pin.version}: PyPI wheel sha256 {pin.sha256} (checked; written to {OVERLAY / LOCK_NAME})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
