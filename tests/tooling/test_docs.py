"""The API reference's build-time checks (docs/hooks/), on CPython, without building the site.

`make test` builds the site with ``mkdocs build --strict``; these tests pin down what the
two hooks decide: which names count as public and undocumented, where a Sphinx role in a
docstring links to, and which assets count as external.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

griffe = pytest.importorskip("griffe")

ROOT = Path(__file__).resolve().parents[2]
HOOKS = ROOT / "docs" / "hooks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_docs_{name}", HOOKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


check = _load("check_docstrings")
roles = _load("sphinx_roles")


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def test_undocumented_public_names_are_reported_and_private_ones_are_not(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "__init__.py": '''
                """A package."""
                from .core import Opts, documented, undocumented
                __all__ = ["Opts", "documented", "undocumented", "VERSION"]
                VERSION = "1"
            ''',
            "core.py": '''
                """Core."""
                from dataclasses import dataclass
                __all__ = ["Opts", "documented", "undocumented", "Described"]

                def documented() -> None:
                    """Has one."""

                def undocumented() -> None:
                    pass

                def _private() -> None:
                    pass

                @dataclass(frozen=True, slots=True)
                class Opts:
                    """Options."""

                    good: int = 1
                    """Documented field."""
                    bad: int = 2

                    def method(self) -> None:
                        pass

                    @property
                    def prop(self) -> int:
                        return 1

                class Described:
                    """A class documenting its attributes in a section.

                    Attributes:
                        listed: documented here.
                        gone: names no member.
                    """

                    def __init__(self) -> None:
                        self.listed = 1
                        self.unlisted = 2
            ''',
            "plain.py": '''
                """A public module without __all__."""
                from os import path

                def helper():
                    pass
            ''',
            "_hidden.py": """
                def anything():
                    pass
            """,
        },
    )
    public, problems = check.collect(root, "pkg")
    undocumented = sorted(p.split(" ")[0] for p in problems if p.endswith("has no docstring"))
    assert undocumented == [
        "pkg.VERSION",
        "pkg.core.Described.unlisted",
        "pkg.core.Opts.bad",
        "pkg.core.Opts.method",
        "pkg.core.Opts.prop",
        "pkg.core.undocumented",
        "pkg.plain.helper",
    ]
    stale = [p for p in problems if "Attributes:" in p]
    assert len(stale) == 1
    assert stale[0].startswith("pkg.core.Described (") and "documents 'gone' under Attributes:" in stale[0]
    assert public["pkg.core.Described.listed"].in_section_of == "pkg.core.Described"
    assert {"pkg.documented", "pkg.core.documented"} <= public["pkg.core.documented"].paths
    assert not any(name.startswith(("pkg._hidden", "pkg.plain.path", "pkg.core._private")) for name in public)


def test_an_object_counts_as_on_a_page_under_any_of_its_paths(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "__init__.py": '''
                """A package."""
                from .core import Thing
                __all__ = ["Thing"]
            ''',
            "core.py": '''
                """Core."""
                __all__ = ["Thing"]

                class Thing:
                    """A thing.

                    Attributes:
                        size: how big.
                    """

                    def __init__(self) -> None:
                        self.size = 1

                    def run(self) -> None:
                        """Run."""
            ''',
        },
    )
    public, problems = check.collect(root, "pkg")
    assert problems == []
    assert check.missing_from_pages(public, {"pkg.Thing", "pkg.Thing.run"}) == []
    missing = check.missing_from_pages(public, {"pkg.core.Thing"})
    assert [m.split(" ")[0] for m in missing] == ["pkg.core.Thing.run"]


def test_the_walk_reaches_every_exported_name_and_every_options_field() -> None:
    import heartsock
    from heartsock.options import Options

    public, _ = check.collect(ROOT)
    paths = set().union(*(obj.paths for obj in public.values()))
    assert {f"heartsock.{name}" for name in heartsock.__all__} <= paths
    assert {f"heartsock.options.Options.{f.name}" for f in dataclasses.fields(Options)} <= set(public)
    assert {"heartsock.server", "heartsock.testing", "heartsock.wire", "heartsock.backoff"} <= set(public)


def test_sphinx_roles_become_cross_references_to_canonical_paths() -> None:
    package = griffe.load("heartsock", search_paths=[str(ROOT)], docstring_parser="google")
    create = package["socket.Socket.create"]
    assert roles.convert(":meth:`destroy`", create) == "[`destroy()`][heartsock.socket.Socket.destroy]"
    assert roles.convert(":class:`~heartsock.Socket`", create) == "[`Socket`][heartsock.socket.Socket]"
    assert roles.convert(":func:`connect`", create) == "[`connect()`][heartsock._connect.connect]"
    assert (
        roles.convert(":attr:`the state <heartsock.State.OPEN>`", create) == "[`the state`][heartsock.state.State.OPEN]"
    )
    assert roles.convert(":class:`!Socket`", create) == "`Socket`"
    # unresolvable: left as written, so autorefs reports a broken reference
    assert roles.convert(":meth:`no_such_method`", create) == "[`no_such_method()`][no_such_method]"


def test_rst_literal_block_markers_are_dropped() -> None:
    package = griffe.load("heartsock", search_paths=[str(ROOT)], docstring_parser="google")
    text = "Usage::\n\n    serve()\n\nA tree:\n\n::\n\n    a\n"
    assert roles.convert(text, package) == "Usage:\n\n    serve()\n\nA tree:\n\n\n    a\n"


def test_external_assets_are_found(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(
        '<link rel="stylesheet" href="assets/main.css"><script src="https://cdn.example/x.js"></script>'
        '<link href="//fonts.example/css">'
        '<a href="https://example.org/">a link is not an asset</a>'
    )
    assert check.external_assets(tmp_path) == [
        "index.html: https://cdn.example/x.js",
        "index.html: //fonts.example/css",
    ]
