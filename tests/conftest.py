"""What every tier shares: the time scale and where artefacts go. Nothing here imports Playwright.

The tiers run as separate pytest sessions (see the Makefile's ``test`` target):
``tests/unit`` needs only pytest and hypothesis; ``tests/tooling`` the development
tools (``websockets``, ``build``, MkDocs); ``tests/browser`` and ``tests/e2e`` Playwright
and Debian's Chromium, one browser per session, with their fixtures in their own
``conftest.py``.

Intervals in browser tests are multiples of ``T`` seconds (``HEARTSOCK_TIME_SCALE``,
default 1.0), like websockets' ``MS``: raise it on a slow machine instead of editing tests.
"""

from __future__ import annotations

import os
from pathlib import Path

T = float(os.environ.get("HEARTSOCK_TIME_SCALE", "1.0"))
ROOT = Path(__file__).resolve().parents[1]
TEST_WHEELS = ROOT / "build" / "test-wheels"  # built by the packaging tests, served at /testwheels/
ARTIFACTS = ROOT / "test-results"


def artifact_path(name: str) -> Path:
    """Where a test saves a file for humans to look at (screenshots)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
