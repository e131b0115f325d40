"""MkDocs hook: pages written outside the API reference join the nav once they exist.

``docs/ways-in.md`` (the three ways to load heartsock in a page) is written separately
from the API reference. A nav entry for a missing page fails ``mkdocs build --strict``,
so ``mkdocs.yml`` does not name it: this hook adds it after Home when the file exists
and the nav does not mention it yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: ``(title, page)`` in the order they follow Home in the nav.
OPTIONAL_PAGES = [("Three ways in", "ways-in.md")]


def _mentions(nav: Any, page: str) -> bool:
    if isinstance(nav, str):
        return nav == page
    if isinstance(nav, dict):
        return any(_mentions(value, page) for value in nav.values())
    if isinstance(nav, list):
        return any(_mentions(item, page) for item in nav)
    return False


def on_config(config: Any, **kwargs: Any) -> Any:
    """Insert each optional page that exists into the nav, after Home."""
    nav = config.nav
    if not nav:
        return config
    docs = Path(config.docs_dir)
    for offset, (title, page) in enumerate(OPTIONAL_PAGES, start=1):
        if (docs / page).is_file() and not _mentions(nav, page):
            nav.insert(offset, {title: page})
    return config
