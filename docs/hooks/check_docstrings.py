"""MkDocs hook: the API reference documents every public name of heartsock, or the build fails.

mkdocstrings silently leaves out an object that has no docstring. This hook makes that
an error, and checks that what is documented is also on a page:

1. **Every public name has a docstring.** It loads heartsock with griffe (the same
   static analysis mkdocstrings renders from) and walks ``heartsock.__all__`` and every
   public module (``heartsock.server``, ``heartsock.testing``, ``heartsock.wire``, …; a
   module is public when no part of its name starts with ``_``), and in each the names
   of its ``__all__`` (or, without one, its names that do not start with ``_``): every
   class, function, method, property and attribute, including every field of
   :class:`heartsock.Options` and every member of a public class. An attribute counts
   as documented with a docstring of its own or an entry in its class's (or module's)
   ``Attributes:`` section; an ``Attributes:`` entry must name a real member.
2. **Every public name is in the reference.** After the build, each of those objects
   must have an anchor on some page (its public path, such as ``heartsock.Socket``,
   or where it is defined, such as ``heartsock.socket.Socket``), or be documented in
   the ``Attributes:`` section of one that has.
3. **The site loads nothing from elsewhere.** No ``<link>``, ``<script>``, ``<img>`` or
   ``<iframe>`` in the built site may point to another host.

Any failure raises :class:`mkdocs.exceptions.PluginError` naming every offender, in
``on_post_build``: the pages are rendered first, so broken cross-references are
reported in the same run.

Run it alone with ``python docs/hooks/check_docstrings.py`` (from the repository root)
to list the undocumented names without building the site.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import griffe

PACKAGE = "heartsock"

_ASSET = re.compile(r"<(?:link|script|img|iframe|source)\b[^>]*?\b(?:href|src)\s*=\s*[\"']?(?P<url>[^\"'\s>]+)", re.I)
_ANCHOR = re.compile(r"\bid=\"(?P<id>[^\"]+)\"")
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.I)


@dataclass
class Public:
    """One public object: where it is defined, and the paths it is documented under."""

    canonical: str
    """The path where the object is defined: ``heartsock.socket.Socket``."""
    paths: set[str] = field(default_factory=set)
    """Every public path that names it: ``heartsock.Socket``, ``heartsock.socket.Socket``."""
    where: str = ""
    """``file:line`` of its definition."""
    documented: bool = True
    """Whether it has a docstring, or an entry in its parent's ``Attributes:`` section."""
    in_section_of: str | None = None
    """The canonical path of the parent whose ``Attributes:`` section documents it."""
    is_module: bool = False
    """Whether it is a module."""


def _attribute_sections(obj: griffe.Object) -> dict[str, str]:
    """The names in ``obj``'s ``Attributes:`` sections, mapped to their descriptions."""
    names: dict[str, str] = {}
    if obj.docstring:
        for section in obj.docstring.parse("google", warnings=False):
            if section.kind is griffe.DocstringSectionKind.attributes:
                names.update((attribute.name, attribute.description) for attribute in section.value)
    return names


def _is_public_module(module: griffe.Module) -> bool:
    return not any(part.startswith("_") for part in module.path.split("."))


def _public_members(obj: griffe.Object) -> Iterator[tuple[str, griffe.Object | griffe.Alias]]:
    """The members of ``obj`` that its public API exposes."""
    if obj.is_module:
        exports = obj.exports  # the module's __all__, when it has one
        exported = None if exports is None else {str(name) for name in exports}
        for name, member in obj.members.items():
            if exported is not None and name not in exported:
                continue
            if exported is None and (name.startswith("_") or member.is_alias):
                continue  # without __all__, an imported name is not the module's own
            if not member.is_module:  # submodules are walked on their own
                yield name, member
    elif obj.is_class:
        for name, member in obj.members.items():
            if not name.startswith("_") and not member.is_alias:
                yield name, member  # own members only: inherited ones are documented where defined


def _location(obj: griffe.Object) -> str:
    try:
        path = Path(str(obj.filepath)).resolve().relative_to(Path.cwd())
    except ValueError:
        path = Path(str(obj.filepath))
    return f"{path}:{obj.lineno}"


def collect(search_path: str | Path = ".", package_name: str = PACKAGE) -> tuple[dict[str, Public], list[str]]:
    """Load the package and return its public objects, and the problems found.

    Args:
        search_path: the directory that holds the package.
        package_name: the package to load (``heartsock``).

    Returns:
        The public objects by canonical path, and one line per problem: an undocumented
        name, or an ``Attributes:`` entry that names no member.
    """
    package = griffe.load(
        package_name, search_paths=[str(search_path)], docstring_parser="google", resolve_aliases=True
    )
    found: dict[str, Public] = {}
    problems: list[str] = []

    def visit(obj: griffe.Object | griffe.Alias, path: str, documented_by: dict[str, str], owner: str | None) -> None:
        target = obj.final_target if obj.is_alias else obj
        canonical = target.canonical_path
        public = found.get(canonical)
        if public is not None:  # reached again through another public path
            public.paths.add(path)
            return
        public = found[canonical] = Public(canonical, {path, canonical}, _location(target), is_module=target.is_module)
        if not (target.docstring and target.docstring.value.strip()):
            if target.name in documented_by:
                public.in_section_of = owner
            else:
                public.documented = False
                problems.append(f"{canonical} ({public.where}) has no docstring")
        if target.is_class or target.is_module:
            section = _attribute_sections(target)
            for stale in sorted(set(section) - set(target.members)):
                problems.append(f"{canonical} ({public.where}) documents {stale!r} under Attributes:, no such member")
            for name, member in _public_members(target):
                visit(member, f"{path}.{name}", section, canonical)

    modules = [package, *_submodules(package)]
    for module in modules:
        if _is_public_module(module):
            visit(module, module.path, {}, None)
    return found, problems


def _submodules(module: griffe.Module) -> Iterator[griffe.Module]:
    for member in module.modules.values():
        if not member.is_alias:
            yield member
            yield from _submodules(member)


def anchors(site_dir: Path) -> set[str]:
    """Every ``id`` attribute in the HTML pages of ``site_dir``."""
    return {m["id"] for page in site_dir.rglob("*.html") for m in _ANCHOR.finditer(page.read_text("utf-8"))}


def external_assets(site_dir: Path) -> list[str]:
    """``page: url`` for every asset (link, script, image, frame) a page loads from another host."""
    found = []
    for page in sorted(site_dir.rglob("*.html")):
        for match in _ASSET.finditer(page.read_text("utf-8")):
            if _EXTERNAL.match(match["url"]):
                found.append(f"{page.relative_to(site_dir)}: {match['url']}")
    return found


def missing_from_pages(public: dict[str, Public], ids: set[str]) -> list[str]:
    """Documented public objects that no page renders (see rule 2 in the module docstring)."""
    missing = []
    for canonical, obj in sorted(public.items()):
        if not obj.documented:
            continue  # already reported as undocumented
        covered = bool(obj.paths & ids)
        if not covered and obj.in_section_of is not None:
            covered = bool(public[obj.in_section_of].paths & ids)
        if not covered and obj.is_module:  # a page may show a module's members without its heading
            inside = f"{canonical}."
            covered = any(other.canonical.startswith(inside) and other.paths & ids for other in public.values())
        if not covered:
            missing.append(f"{canonical} ({obj.where}) is on no page: add it to a page under docs/")
    return missing


# ---- MkDocs events ----------------------------------------------------------------------
_state: dict[str, Any] = {}


def on_pre_build(config: Any, **kwargs: Any) -> None:
    """Load heartsock and list what is undocumented before the pages are rendered."""
    root = Path(config.config_file_path).parent
    _state["public"], _state["problems"] = collect(root)


def on_post_build(config: Any, **kwargs: Any) -> None:
    """Fail the build for undocumented names, names on no page and external assets."""
    from mkdocs.exceptions import PluginError

    site_dir = Path(config.site_dir)
    problems = list(_state.get("problems", []))
    problems += missing_from_pages(_state.get("public", {}), anchors(site_dir))
    problems += [f"the site loads an asset from another host: {asset}" for asset in external_assets(site_dir)]
    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        raise PluginError(f"the API reference is incomplete ({len(problems)} problems):\n{listing}")


if __name__ == "__main__":
    _, found_problems = collect(Path.cwd())
    print("\n".join(found_problems) or "every public name has a docstring")
    sys.exit(1 if found_problems else 0)
