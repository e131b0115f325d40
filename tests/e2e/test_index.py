"""The smallest example, www/index.html: a PyScript chat with the echo endpoint."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import T, artifact_path
from tests.e2e.conftest import BOOT_TIMEOUT_MS, Demo, open_page

pytestmark = pytest.mark.browser

_OUT = "() => [...document.querySelectorAll('#log li.out')].map(li => [li.className, li.textContent])"


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
    assert page.evaluate(_OUT) == [["out", text]]  # sent at once: no "queued" label
    assert text in demo.received("echo")
    assert page.is_hidden("#retry")
    # The page starts at the top of the window: no strip of <html> above <body> (the
    # first child's top margin used to collapse through the body).
    assert page.evaluate("document.body.getBoundingClientRect().top") == 0
    assert page.evaluate("document.elementFromPoint(10, 5).tagName") == "BODY"
    page.screenshot(path=artifact_path("index.png"))


def test_a_message_sent_while_down_is_queued_then_delivered_and_unlabelled(context: Any, demo: Demo) -> None:
    """server down: the badge shows the scheduled retry counting down; a message is marked
    "queued"; once the connection is back it goes out, its echo arrives, and the label is gone."""
    ctx, guard = context
    page = open_page(ctx, guard, demo.url)
    page.wait_for_selector("#state[data-state=OPEN]", timeout=BOOT_TIMEOUT_MS)
    demo.control("restart", down=2 * T)
    page.wait_for_selector("#state[data-state=RECONNECTING]", timeout=5_000 * T)

    retry = page.wait_for_selector("#retry:not([hidden])", timeout=5_000 * T)
    assert retry is not None
    assert re.fullmatch(r"retry \d+ in \d+\.\d s", retry.text_content() or ""), retry.text_content()

    text = "typed while the server was down"
    page.fill("#text", text)
    page.press("#text", "Enter")
    assert page.evaluate(_OUT) == [["out queued", text + "queued"]]
    assert page.text_content("#log li.out .label") == "queued"

    # Default backoff, full jitter: retry n waits at most 5·2^(n-1) s; with the server
    # down 2 s, the third retry at the latest (≤ 2 + 20 s) finds it back.
    page.wait_for_selector("#state[data-state=OPEN]", timeout=30_000 * T)
    echo = page.wait_for_selector("#log li.in", timeout=5_000 * T)
    assert echo is not None and echo.text_content() == text
    assert page.evaluate(_OUT) == [["out", text]]  # delivered: the label went with the flush
    assert page.locator("#log .label").count() == 0
    assert page.is_hidden("#retry")
    assert demo.received("echo").count(text) == 1
