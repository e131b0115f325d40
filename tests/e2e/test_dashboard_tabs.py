"""The dashboard's "tabs" indicator: two dashboards of one browser profile share one connection (``?shared=``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import T
from tests.e2e.conftest import BOOT_TIMEOUT_MS, Demo, dashboard_url, open_page

pytestmark = pytest.mark.browser


def test_two_dashboards_with_shared_one_leads_one_follows_and_they_say_so(context: Any, demo: Demo) -> None:
    """?shared=feed in two tabs: one leads, one follows, both OPEN, both show "2 tabs"; without it no badge"""
    ctx, guard = context
    pages = []
    for _ in range(2):
        page = open_page(ctx, guard, dashboard_url(demo) + "&shared=feed")
        page.wait_for_selector("html[data-ready]", state="attached", timeout=BOOT_TIMEOUT_MS)
        page.wait_for_selector("#state[data-state=OPEN]", timeout=10_000 * T)
        pages.append(page)
    for page in pages:
        page.wait_for_function(
            "() => document.getElementById('tabs').textContent.startsWith('2 tabs')", timeout=10_000 * T
        )
    assert sorted(page.text_content("#tabs") or "" for page in pages) == ["2 tabs · follower", "2 tabs · leader"]
    for page in pages:
        page.close()
    plain = open_page(ctx, guard, dashboard_url(demo))
    plain.wait_for_selector("html[data-ready]", state="attached", timeout=BOOT_TIMEOUT_MS)
    plain.wait_for_selector("#state[data-state=OPEN]", timeout=10_000 * T)
    assert plain.is_hidden("#tabs")
