"""Griffe extension: turn the Sphinx roles heartsock's docstrings use into MkDocs cross-references.

heartsock's docstrings are Google style with Sphinx roles (:class:`~heartsock.Socket`,
:meth:`destroy`), which read well in ``help()``. mkdocstrings knows Markdown references
(``[text][identifier]``) instead, so this extension rewrites every role into one before
the docstrings are parsed:

- the target is resolved the way Python would resolve the name at that place (the
  object's own members, then its class, then its module and the module's imports), and
  then to its *canonical* path, the one where the object is defined; mkdocstrings
  registers that path for every object it renders, whatever path the page uses;
- ``~`` shows only the last component, ``!`` shows the text without a link, and
  ``:role:`text <target>``` shows ``text``; ``:meth:`` and ``:func:`` add ``()``;
- an attribute documented in its class's ``Attributes:`` section (it has no heading of
  its own) links to that class;
- a target that cannot be resolved is left as written: autorefs reports it as a broken
  reference, which ``mkdocs build --strict`` turns into a failure.

It also drops reStructuredText's literal-block marker: ``Example::`` before an indented
block becomes ``Example:`` and a ``::`` line disappears (the indented block after a blank
line is a code block in Markdown as well).

Configured in ``mkdocs.yml`` under the python handler's ``extensions``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?P<role>[a-z]+):`(?P<body>[^`]+)`")
_EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)
_CALLABLE_ROLES = frozenset({"meth", "func"})
_LITERAL_MARKER = re.compile(r"^(?P<text>.*?)[ \t]*::[ \t]*\n(?=[ \t]*\n)", re.MULTILINE)


def convert(text: str, scope: griffe.Object | griffe.Alias) -> str:
    """Return ``text`` with Sphinx roles as Markdown cross-references, and no ``::`` markers.

    Args:
        text: a docstring.
        scope: the object the docstring belongs to; names resolve from there.
    """

    def replace(match: re.Match[str]) -> str:
        role, body = match["role"], match["body"].strip()
        explicit = _EXPLICIT.match(body)
        if explicit:
            shown, target = explicit["text"], explicit["target"].strip()
        else:
            target = body.lstrip("~!")
            shown = target.rsplit(".", 1)[-1] if body.startswith("~") else target
            if role in _CALLABLE_ROLES:
                shown += "()"
        if body.startswith("!"):
            return f"`{shown}`"
        identifier = resolve(target, scope) or target
        return f"[`{shown}`][{identifier}]"

    text = _LITERAL_MARKER.sub(lambda m: f"{m['text']}:\n" if m["text"].strip() else "", text)
    return _ROLE.sub(replace, text)


def resolve(target: str, scope: griffe.Object | griffe.Alias) -> str | None:
    """The canonical path of the object ``target`` names in ``scope``, or ``None``."""
    head, _, rest = target.partition(".")
    try:
        base = scope.resolve(head)
    except (griffe.NameResolutionError, griffe.AliasResolutionError, KeyError):
        base = head  # an absolute path: "heartsock.testing.FakeRuntime"
    path = f"{base}.{rest}" if rest else base
    try:
        found = scope.modules_collection[path]
        canonical = found.canonical_path
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
    if not found.docstring and found.parent is not None and documents_attribute(found.parent, found.name):
        return found.parent.canonical_path  # documented in its parent's Attributes section
    return str(canonical)


def documents_attribute(obj: griffe.Object | griffe.Alias, name: str) -> bool:
    """Whether ``obj``'s docstring has an ``Attributes:`` section entry for ``name``."""
    if not obj.docstring:
        return False
    for section in obj.docstring.parse("google", warnings=False):
        if section.kind is griffe.DocstringSectionKind.attributes:
            if any(attribute.name == name for attribute in section.value):
                return True
    return False


def _walk(obj: griffe.Object) -> Any:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)  # type: ignore[arg-type]


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of a package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Convert the roles of every docstring in ``pkg`` (see the module docstring)."""
        for obj in _walk(pkg):
            docstring = obj.docstring
            if docstring is not None and (":`" in docstring.value or "::" in docstring.value):
                docstring.value = convert(docstring.value, obj)
                docstring.__dict__.pop("parsed", None)  # drop a cached parse of the old text
