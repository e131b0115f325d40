"""The smallest example, www/index.html: a PyScript chat with the echo endpoint."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import T, artifact_path
from tests.e2e.conftest import BOOT_TIMEOUT_MS, Demo, open_page

pytestmark = pytest.mark.browser


def test_index_chats_with_the_echo_endpoint(context: Any, demo: Demo) -> None:
    """the page opens, sends what is typed, and shows the echo; the server saw it."""
    ctx, guard = context
    page = open_page(ctx, guard, demo.url)
    page.wait_for_selector("#state[data-state=OPEN]", timeout=BOOT_TIMEOUT_MS)
    text = "héllo wörld from Python in the browser ✓"
    page.fill("#text", text)
    page.press("#text", "Enter")
    page.wait_for_selector("#log li.out", timeout=5_000 * T)
    echo = page.wait_for_selector("#log li.in", timeout=5_000 * T)
    assert echo is not None and echo.text_content() == text
    assert page.text_content("#log li.out") == text  # sent at once, not queued
    assert text in demo.received("echo")
    page.screenshot(path=artifact_path("index.png"))
