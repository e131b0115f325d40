"""www/index-mpy.html: the chat of www/index.html under MicroPython (PyScript ``mpy``), against the demo."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import T
from tests.e2e.conftest import BOOT_TIMEOUT_MS, Demo, open_page

pytestmark = pytest.mark.browser

_OUT = "() => [...document.querySelectorAll('#log li.out')].map(li => [li.className, li.textContent])"


def test_the_micropython_chat_echoes_and_queues_through_a_restart(context: Any, demo: Demo) -> None:
    """under MicroPython the chat opens and echoes; with the server down a message is queued, then delivered."""
    ctx, guard = context
    page = open_page(ctx, guard, f"{demo.url}index-mpy.html")
    page.wait_for_selector("#state[data-state=OPEN]", timeout=BOOT_TIMEOUT_MS)
    text = "héllo from MicroPython ✓"
    page.fill("#text", text)
    page.press("#text", "Enter")
    echo = page.wait_for_selector("#log li.in", timeout=5_000 * T)
    assert echo is not None and echo.text_content() == text
    assert text in demo.received("echo")

    demo.control("restart", down=1 * T)
    page.wait_for_selector("#state[data-state=RECONNECTING]", timeout=5_000 * T)
    later = "typed while the server was down"
    page.fill("#text", later)
    page.press("#text", "Enter")
    assert page.evaluate(_OUT)[-1] == ["out queued", later + "queued"]
    page.wait_for_selector("#state[data-state=OPEN]", timeout=30_000 * T)
    page.wait_for_function(
        "(t) => [...document.querySelectorAll('#log li.in')].some((li) => li.textContent === t)",
        arg=later,
        timeout=5_000 * T,
    )
    assert page.evaluate(_OUT)[-1] == ["out", later]  # the label is gone once it went out
    assert later in demo.received("echo")
    assert guard.errors == []
