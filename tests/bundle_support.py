"""The offline bundle, built once per test module by ``python -m devtools.bundle`` (browser and tooling tiers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devtools.static import ROOT

EXAMPLES = ROOT / "examples"


def build_bundle(dest: Path) -> Path:
    """``python -m devtools.bundle DEST`` into ``dest`` (it builds heartsock's wheel); return ``dest``."""
    result = subprocess.run(
        [sys.executable, "-m", "devtools.bundle", str(dest)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"devtools.bundle failed:\n{result.stdout}{result.stderr}"
    return dest


def the_wheel(bundle_dir: Path) -> Path:
    """The heartsock wheel in a bundle's ``wheels/``."""
    (wheel,) = (bundle_dir / "wheels").glob("heartsock-*-py3-none-any.whl")
    return wheel
