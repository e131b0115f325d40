"""Set-up step: make micropip loadable offline from the local Pyodide.

The npm ``pyodide`` package ships no wheels, and PyScript's ``packages`` config (and
``pyodide.loadPackage("micropip")``) load micropip through ``pyodide-lock.json``,
which checks the wheel's sha256. The wheel PyPI publishes is built separately from the
one in Pyodide's release, so its hash differs from the lock's. This step reconciles
that openly: it writes ``vendor/pyodide/pyodide-lock.json``, a copy of the npm lock in
which micropip's entry names the vendored PyPI wheel and records *its* hash, and puts
the wheel beside it. The static server overlays ``vendor/pyodide/`` on ``/pyodide/``.

Run: ``python -m devtools.vendor`` (the Makefile's ``vendor`` target does).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys

from devtools.static import PYODIDE_DIR, ROOT

WHEELS = ROOT / "vendor" / "wheels"
OVERLAY = ROOT / "vendor" / "pyodide"


def main() -> int:
    wheels = sorted(WHEELS.glob("micropip-*-py3-none-any.whl"))
    if len(wheels) != 1:
        print(f"vendor: expected one micropip wheel in {WHEELS}, found {len(wheels)}", file=sys.stderr)
        return 1
    wheel = wheels[0]
    lock = json.loads((PYODIDE_DIR / "pyodide-lock.json").read_text())
    entry = lock["packages"]["micropip"]
    version = wheel.name.split("-")[1]
    if entry["version"] != version:
        print(f"vendor: Pyodide's lock pins micropip {entry['version']}, vendored wheel is {version}", file=sys.stderr)
        return 1
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    print(f"vendor: micropip {version}: npm lock sha256 {entry['sha256']}")
    print(f"vendor: micropip {version}: PyPI wheel sha256 {digest} (recorded in vendor/pyodide/pyodide-lock.json)")
    entry["file_name"] = wheel.name
    entry["sha256"] = digest
    OVERLAY.mkdir(parents=True, exist_ok=True)
    shutil.copy2(wheel, OVERLAY / wheel.name)
    (OVERLAY / "pyodide-lock.json").write_text(json.dumps(lock))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
