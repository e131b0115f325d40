"""The soak's results (``bench/soak.json``) as the checks, the table and the README section.

``python -m bench.soak`` writes the results and renders the README's soak table between
the ``soak-summary`` markers; ``python -m bench.soak_report`` renders it again without
running anything. Standard library only: the CPython test tier imports this module to
check that the README shows what the committed results say.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
SOAK = BENCH / "soak.json"
README = BENCH.parent / "README.md"
START, END = "<!-- soak-summary:start -->", "<!-- soak-summary:end -->"

#: Issue 15's targets: RSS back within +20 MiB of where it was before the phase, after
#: every phase, never above 300 MiB, the well-behaved client's echo p99 under 50 ms, no
#: traceback in the log.
TARGETS: dict[str, float] = {
    "rss_after_over_before_mib": 20.0,
    "rss_peak_mib": 300.0,
    "echo_p99_ms": 50.0,
    "tracebacks": 0,
}


def checks(phase: dict[str, Any]) -> dict[str, bool]:
    """Which targets one phase's record meets (a missing value, or an aborted phase, fails)."""
    rss = phase["rss_mib"]
    after, peak, p99 = rss.get("after"), rss.get("peak"), phase["echo_ms"].get("p99")
    before = rss.get("before")
    clean = not phase.get("aborted") and not phase.get("error") and before is not None
    return {
        "rss_after": clean and after is not None and after <= before + TARGETS["rss_after_over_before_mib"],
        "rss_peak": clean and peak is not None and peak <= TARGETS["rss_peak_mib"],
        "echo_p99": clean and p99 is not None and p99 < TARGETS["echo_p99_ms"] and not phase["echo_ms"]["timeouts"],
        "tracebacks": phase["log"]["tracebacks"] <= TARGETS["tracebacks"],
    }


def _n(value: float | None, spec: str = ".0f") -> str:
    return "–" if value is None else format(value, spec)


def _mark(ok: bool) -> str:
    return "✅" if ok else "❌"


def one_line(phase: dict[str, Any]) -> str:
    """A phase's figures on one line, for the console."""
    rss, echo = phase["rss_mib"], phase["echo_ms"]
    extra = f"; {phase['aborted']}" if phase.get("aborted") else ""
    extra += f"; error {phase['error']}" if phase.get("error") else ""
    return (
        f"{phase['seconds']:.0f} s; RSS {_n(rss['before'])} → {_n(rss['peak'])} → {_n(rss['after'])} MiB; "
        f"echo p50 {_n(echo['p50'], '.1f')} / p99 {_n(echo['p99'], '.1f')} ms; "
        f"{phase['log']['tracebacks']} tracebacks, {phase['log']['errors']} errors; {phase['detail']}{extra}"
    )


def table(result: dict[str, Any]) -> str:
    """The Markdown table: one row per phase."""
    rows = [
        "| phase | RSS MiB: before → peak → after | echo p50 / p99 ms | probe's own loop lag p99 ms "
        "| new connection p99 ms | chat p99 ms | log: tracebacks / errors | targets |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for phase in result["phases"]:
        rss, echo = phase["rss_mib"], phase["echo_ms"]
        met = phase["met"]
        notes = []
        if echo.get("timeouts"):
            notes.append(f"{echo['timeouts']} echo timeouts")
        if phase.get("aborted"):
            notes.append(phase["aborted"])
        if phase.get("error"):
            notes.append("phase failed: " + phase["error"].split(":")[0])
        title = phase["title"] + (f" ({'; '.join(notes)})" if notes else "")
        rows.append(
            f"| {title} | {_n(rss['before'])} → {_n(rss['peak'])} → {_n(rss['after'])} "
            f"| {_n(echo['p50'], '.1f')} / {_n(echo['p99'], '.1f')} | {_n(phase['lag_ms']['p99'], '.0f')} "
            f"| {_n(phase['connect_ms']['p99'], '.0f')} | {_n(phase['chat_ms']['p99'], '.0f')} "
            f"| {phase['log']['tracebacks']} / {phase['log']['errors']} "
            f"| RSS after {_mark(met['rss_after'])} peak {_mark(met['rss_peak'])} "
            f"p99 {_mark(met['echo_p99'])} log {_mark(met['tracebacks'])} |"
        )
    return "\n".join(rows)


def readme_section(result: dict[str, Any]) -> str:
    """The README's text between the soak-summary markers (markers excluded)."""
    meta = result["meta"]
    load = meta["load_average_before"]
    met = sum(all(p["met"].values()) for p in result["phases"])
    phases = result["phases"]
    first = phases[0]["rss_mib"]["baseline"] if phases else None
    last = next((p["rss_mib"]["after"] for p in reversed(phases) if p["rss_mib"]["after"] is not None), None)
    verdict = "every target met" if result["met"] else f"targets met in {met} of {len(result['phases'])} phases"
    return (
        f"\n{table(result)}\n\n"
        f"`make soak`, {meta['date']}: demo at `{meta['demo']}`, {meta['cpus']} cores, load average "
        f"{load[0]:.2f} before the run, {meta['seconds']:.0f} s in all; {verdict} "
        f"(targets: RSS after ≤ RSS before the phase + {TARGETS['rss_after_over_before_mib']:.0f} MiB; "
        f"peak ≤ {TARGETS['rss_peak_mib']:.0f} MiB; echo p99 < {TARGETS['echo_p99_ms']:.0f} ms; no traceback). "
        f"RSS went from {_n(first)} MiB before the first phase to {_n(last)} MiB after the last. The probe's "
        "own loop lag (how late a 10 ms sleep wakes it) is the share of its timings the machine itself "
        "adds. Per-phase details (connections closed by the server, throughput) are in `bench/soak.json`.\n"
    )


def replace_section(readme: str, section: str) -> str:
    """``readme`` with the text between the soak-summary markers replaced by ``section``."""
    head, sep, rest = readme.partition(START)
    _, sep2, tail = rest.partition(END)
    if not (sep and sep2):
        raise ValueError(f"README.md lacks the {START} … {END} markers")
    return head + START + section + END + tail


def load(path: Path = SOAK) -> dict[str, Any]:
    """The results in ``path``."""
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def dump(result: dict[str, Any]) -> str:
    """The results as JSON, one line per phase."""
    body = []
    for key, value in result.items():
        if key == "phases":
            inner = ",\n".join(f"    {json.dumps(p, ensure_ascii=False)}" for p in value)
            body.append(f'  "phases": [\n{inner}\n  ]')
        else:
            body.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n" + ",\n".join(body) + "\n}\n"


def render(result: dict[str, Any], readme: Path = README) -> None:
    """Write the README's soak section from ``result``."""
    readme.write_text(replace_section(readme.read_text(), readme_section(result)))


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.soak_report [soak.json]``: re-render the README's soak table."""
    args = sys.argv[1:] if argv is None else argv
    result = load(Path(args[0]) if args else SOAK)
    render(result)
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
