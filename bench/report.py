"""Renders ``bench/PERFORMANCE.md`` and the README's performance section from ``bench/summary.json``.

``python -m bench.report`` re-renders both without running anything (``make bench`` runs the
benchmarks, writes the summary, then renders). Every number in both comes from the summary,
through the Markdown templates in ``bench/templates/``:

* every field is a dotted path into the summary with a format spec,
  ``{recv_text.msgs_per_s.raw_js:,.0f}``; a field with an operator is a check,
  ``{soak.pyproxies == 0}``, shown as ✅ or ❌ (the limit is JSON or another path);
* ``table.md`` is the one results table: PERFORMANCE.md shows all of it, the README the rows
  whose label starts with ``!``, without the pyscript, target and met columns. A table cell
  with a missing value shows "–"; elsewhere only the missing field does.

Standard library only: the CPython test tier imports this module.
"""

from __future__ import annotations

import json
import operator
import string
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
SUMMARY = BENCH / "summary.json"
PERFORMANCE = BENCH / "PERFORMANCE.md"
TEMPLATES = BENCH / "templates"
README = BENCH.parent / "README.md"
START, END = "<!-- perf-summary:start -->", "<!-- perf-summary:end -->"
OPS = {" >= ": operator.ge, " <= ": operator.le, " == ": operator.eq}
README_COLUMNS = (0, 1, 2, 4, 5, 6)  # measure, raw JS, bare Pyodide, heartsock, vs raw JS, vs bare


class Missing(LookupError):
    """A field's value is absent (or null) in the summary."""


def lookup(summary: dict[str, Any], path: str) -> Any:
    """``summary["a"]["b"]`` for ``"a.b"``."""
    value: Any = summary
    for key in path.split("."):
        if not isinstance(value, dict) or value.get(key) is None:
            raise Missing(path)
        value = value[key]
    return value


def check(summary: dict[str, Any], expression: str) -> str:
    """``"path op limit"`` → ✅ or ❌ (``?`` where a value is missing)."""
    op = next(o for o in OPS if o in expression)
    path, limit = expression.split(op)
    try:
        bound = json.loads(limit) if limit[0] in "-0123456789[tf" else lookup(summary, limit)
        return "✅" if OPS[op](lookup(summary, path), bound) else "❌"
    except Missing:
        return "?"


class _Dash:
    def __format__(self, spec: str) -> str:
        return "–"


class _Formatter(string.Formatter):
    def __init__(self, per_field: bool) -> None:
        self.per_field = per_field  # a missing value dashes its field, not the whole text

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        summary = kwargs["summary"]
        if any(op in field_name for op in OPS):
            return check(summary, field_name), field_name
        try:
            return lookup(summary, field_name), field_name
        except Missing:
            if self.per_field:
                return _Dash(), field_name
            raise


def fill(template: str, summary: dict[str, Any], per_field: bool = False) -> str:
    """``template`` filled from ``summary``; "–" if a value is missing (``per_field``: that field only)."""
    try:
        return _Formatter(per_field).vformat(template, (), {"summary": summary})
    except Missing:
        return "–"


def table(summary: dict[str, Any], readme: bool = False) -> str:
    """``table.md`` filled cell by cell; ``readme``: its headline rows and columns only."""
    head, rule, *rows = (TEMPLATES / "table.md").read_text().splitlines()
    out = []
    for i, line in enumerate([head, rule, *rows]):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        headline = cells[0].startswith("!")
        cells[0] = cells[0].removeprefix("!")
        if readme:
            if i > 1 and not headline:
                continue
            cells = [cells[k] for k in README_COLUMNS]
        out.append("| " + " | ".join(fill(c, summary) if c else "" for c in cells) + " |")
    return "\n".join(out)


def _document(name: str, summary: dict[str, Any]) -> str:
    errors = "".join(f"\n- `{e}`" for e in summary.get("meta", {}).get("errors", [])) or " none."
    full = table(summary)
    marks = {"met": full.count("✅"), "checks": sum(full.count(m) for m in "✅❌?")}
    extra = {"table": full, "readme_table": table(summary, readme=True), "errors": errors, "targets": marks}
    return fill((TEMPLATES / name).read_text(), {**summary, **extra}, per_field=True)


def performance_md(summary: dict[str, Any]) -> str:
    return _document("PERFORMANCE.md", summary)


def readme_section(summary: dict[str, Any]) -> str:
    """The README's text between the perf-summary markers (markers excluded)."""
    return "\n" + _document("README-section.md", summary)


def replace_section(readme: str, section: str) -> str:
    """``readme`` with the text between the perf-summary markers replaced by ``section``."""
    head, sep, rest = readme.partition(START)
    _, sep2, tail = rest.partition(END)
    if not (sep and sep2):
        raise ValueError(f"README.md lacks the {START} … {END} markers")
    return head + START + section + END + tail


def load(path: Path = SUMMARY) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def dump(summary: dict[str, Any]) -> str:
    """The summary as JSON with one line per benchmark (a few dozen lines in all)."""
    lines = (f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in summary.items())
    return "{\n" + ",\n".join(lines) + "\n}\n"


def render(summary: dict[str, Any], performance: Path = PERFORMANCE, readme: Path | None = README) -> None:
    """Write PERFORMANCE.md and (if ``readme``) the README's section from ``summary``."""
    performance.write_text(performance_md(summary))
    if readme is not None:
        readme.write_text(replace_section(readme.read_text(), readme_section(summary)))


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.report [summary.json]``: re-render PERFORMANCE.md and the README section."""
    args = sys.argv[1:] if argv is None else argv
    summary = load(Path(args[0]) if args else SUMMARY)
    render(summary)
    print(table(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
