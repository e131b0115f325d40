"""The README's soak table is rendered from bench/soak.json, and agrees with it.

No server: this reads the committed results and renders them again with
``bench.soak_report`` (standard library only). A hand-edited number in the README, a
stale table after a new run, or a target verdict that does not follow from the numbers
fails here.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bench import soak_report

PHASES = ["idle", "churn", "slowloris", "flood", "stuck", "echo", "static"]


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return soak_report.load()


def test_readme_section_is_what_the_results_render(result: dict[str, Any]) -> None:
    readme = soak_report.README.read_text()
    assert readme.count(soak_report.START) == 1 and readme.count(soak_report.END) == 1
    section = readme.split(soak_report.START, 1)[1].split(soak_report.END, 1)[0]
    assert section == soak_report.readme_section(result)


def test_results_record_a_full_run_of_every_phase(result: dict[str, Any]) -> None:
    meta = result["meta"]
    assert meta["scale"] == 1.0 and meta["date"] and meta["demo"] and len(meta["load_average_before"]) == 3
    assert [p["name"] for p in result["phases"]] == PHASES
    assert result["targets"] == soak_report.TARGETS
    assert soak_report.SOAK.read_text() == soak_report.dump(result)  # as the soak wrote it


def test_every_verdict_follows_from_the_numbers(result: dict[str, Any]) -> None:
    for phase in result["phases"]:
        assert phase["met"] == soak_report.checks(phase), phase["name"]
    assert result["met"] == all(all(p["met"].values()) for p in result["phases"])


def _phase(**changes: Any) -> dict[str, Any]:
    phase: dict[str, Any] = {
        "rss_mib": {"baseline": 40.0, "before": 41.0, "peak": 120.0, "after": 61.0},
        "echo_ms": {"n": 500, "p50": 1.0, "p99": 12.0, "max": 30.0, "timeouts": 0},
        "log": {"tracebacks": 0, "errors": 0, "lines": 3, "bytes": 200},
        "aborted": None,
        "error": None,
    }
    for path, value in changes.items():
        *head, last = path.split("__")
        target = phase
        for key in head:
            target = target[key]
        target[last] = value
    return phase


@pytest.mark.parametrize(
    ("changes", "failed"),
    [
        ({}, []),
        ({"rss_mib__after": 61.1}, ["rss_after"]),
        ({"rss_mib__after": None}, ["rss_after"]),
        ({"rss_mib__peak": 300.5}, ["rss_peak"]),
        ({"echo_ms__p99": 50.0}, ["echo_p99"]),
        ({"echo_ms__timeouts": 1}, ["echo_p99"]),
        ({"log__tracebacks": 2}, ["tracebacks"]),
        ({"aborted": "demo killed at 1600 MiB"}, ["echo_p99", "rss_after", "rss_peak"]),
    ],
)
def test_targets_are_checked_as_documented(changes: dict[str, Any], failed: list[str]) -> None:
    """RSS after ≤ RSS before the phase + 20 MiB, peak ≤ 300 MiB, echo p99 < 50 ms without a timeout,
    no traceback."""
    met = soak_report.checks(_phase(**changes))
    assert sorted(k for k, ok in met.items() if not ok) == failed


def test_a_failed_target_shows_in_the_table() -> None:
    phase = {
        **_phase(rss_mib__after=90.0),
        "name": "idle",
        "title": "2,000 idle WebSocket connections",
        "lag_ms": {"p99": 2.0},
        "connect_ms": {"p99": 8.0},
        "chat_ms": {"p99": 3.0},
    }
    phase["met"] = soak_report.checks(phase)
    table = soak_report.table({"phases": [copy.deepcopy(phase)]})
    assert "| 2,000 idle WebSocket connections | 41 → 120 → 90 | 1.0 / 12.0 | 2 | 8 | 3 | 0 / 0 |" in table
    assert "RSS after ❌ peak ✅ p99 ✅ log ✅" in table
    with pytest.raises(ValueError):
        soak_report.replace_section("no markers here", "x")
