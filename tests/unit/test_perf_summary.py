"""README's performance section and bench/PERFORMANCE.md are rendered from bench/summary.json, and agree with it.

No browser: this reads the committed files and renders them again with ``bench.report``
(standard library only). A hand-edited number, a stale document after a new summary, or a
template field the summary does not have fails here.
"""

from __future__ import annotations

import string
from typing import Any

import pytest

from bench import report
from bench import summary as analysis

EXTRA = {"table", "readme_table", "errors", "targets.met", "targets.checks"}  # filled by the renderer itself


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    return report.load()


def test_performance_md_is_what_the_summary_renders(summary: dict[str, Any]) -> None:
    assert report.PERFORMANCE.read_text() == report.performance_md(summary)


def test_readme_section_is_what_the_summary_renders(summary: dict[str, Any]) -> None:
    readme = report.README.read_text()
    assert readme.count(report.START) == 1 and readme.count(report.END) == 1
    section = readme.split(report.START, 1)[1].split(report.END, 1)[0]
    assert section == report.readme_section(summary)


def test_every_template_field_is_in_the_summary(summary: dict[str, Any]) -> None:
    """A renamed summary key would otherwise render as "–" (or a check as "?") without failing."""
    missing = []
    for template in report.TEMPLATES.glob("*.md"):
        for _, field, _, _ in string.Formatter().parse(template.read_text()):
            if field is None or field in EXTRA:
                continue
            op = next((o for o in report.OPS if o in field), None)
            paths = [field] if op is None else [p for p in field.split(op) if p[0] not in "-0123456789[tf"]
            for path in paths:
                try:
                    report.lookup(summary, path)
                except report.Missing:
                    missing.append(f"{template.name}: {path}")
    assert missing == []


def test_summary_records_a_full_run(summary: dict[str, Any]) -> None:
    meta = summary["meta"]
    assert meta["pyodide"] and meta["date"] and meta["chromium"].startswith("Chromium")
    assert summary["config"]["smoke"] is False and meta["errors"] == []
    assert report.SUMMARY.read_text() == report.dump(summary)  # written by the bench, one line per benchmark


def test_checks_and_missing_values_render_as_documented() -> None:
    data = {"a": {"b": 1.5, "n": None}, "limit": 2}
    assert report.fill("{a.b:.2f}×", data) == "1.50×"
    assert report.fill("{a.n:.2f}×", data) == "–"
    assert report.fill("{a.b:.1f} / {a.n:.1f}", data, per_field=True) == "1.5 / –"
    assert report.fill("{a.b <= 2} {a.b >= limit} {a.n == 0}", data) == "✅ ❌ ?"
    with pytest.raises(ValueError):
        report.replace_section("no markers here", "x")
    assert report.replace_section(f"a{report.START}old{report.END}b", "new") == f"a{report.START}new{report.END}b"


def test_ratios_are_medians_of_per_round_ratios_with_their_spread() -> None:
    out: dict[str, Any] = {}
    rates = {"bare": {0: 100.0, 1: 100.0, 2: 50.0}, "heartsock": {0: 150.0, 1: 80.0, 2: 100.0}}
    analysis.metric(out, "rate", rates, 0, ("bare",))
    assert out["rate"] == {"bare": 100.0, "heartsock": 100.0}
    assert out["rate_vs_bare"] == {"heartsock": 1.5}  # per round 1.5, 0.8, 2.0: not 100 / 100
    assert (out["rate_vs_bare_min"], out["rate_vs_bare_max"]) == ({"heartsock": 0.8}, {"heartsock": 2.0})


def test_sessions_bytes_and_many_pages_add_up() -> None:
    def step(bench: str, variant: str, wire: dict[str, int], **result: Any) -> dict[str, Any]:
        return {"id": bench, "variant": variant, "round": 0, "wire": wire, "result": {"ms": 1.0, **result}}

    steps = [
        step("session_send", "plain", {"in": 900, "out": 100}, n=10, in_order=True),
        step("session_send", "resume", {"in": 1100, "out": 100, "ack_out": 50}, n=10, in_order=True),
        step("session_echo", "resume", {"in": 100, "out": 100, "ack_out": 20}, n=1, rtts=[0.5]),
    ]
    s = analysis._sessions(steps)
    assert s["ack_share"] == {"send": 0.0417, "echo": 0.1} and s["overhead"] == 0.4
    assert s["send_msgs_per_s_vs_plain"] == {"resume": 1.0} and s["in_order"] == {"plain": True, "resume": True}
    reading = {"renderer_ns": 0, "t": 0.0, "heartbeats": 0}
    after = {"renderer_ns": 10**9, "t": 2.0, "heartbeats": 100}

    def page(stopped: int) -> analysis.Steps:
        return {"heartsock": {0: {"result": {"before": reading, "after": after, "stopped": stopped}}}}

    many = analysis._many([page(250), page(249)])
    assert many["still_open"] == {"heartsock": 499} and many["cpu_ms_per_s"] == {"heartsock": 500.0}
