"""``python -m bench [--smoke] [--out DIR]``: run the benchmarks, write the summary, render the reports.

A full run (``make bench``) writes the raw results and the storm plot to ``bench/out/``
(not committed), ``bench/summary.json`` and ``bench/storm.png``, then renders
``bench/PERFORMANCE.md`` and the README's performance section from the summary
(``python -m bench.report`` renders them again without running anything). ``--smoke``
runs tiny counts in seconds and writes everything under ``--out`` (default
``bench/out/smoke``), leaving the committed files alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import report, summary
from .run import FULL, SMOKE, run

HERE = Path(__file__).resolve().parent


def bench(out: Path, *, smoke: bool = False, note: str = "") -> dict[str, Any]:
    """Run everything; write the raw results, the summary, the plot and the reports; return the summary."""
    out.mkdir(parents=True, exist_ok=True)
    png = out / "storm.png" if smoke else HERE / "storm.png"
    raw = {**run(SMOKE if smoke else FULL, png), "note": note}
    (out / "results.json").write_text(json.dumps(raw, indent=1) + "\n")
    path = out / "summary.json" if smoke else report.SUMMARY
    previous = report.load(report.SUMMARY) if report.SUMMARY.exists() else None
    result = summary.analyze(raw, previous)
    path.write_text(report.dump(result))
    if smoke:
        report.render(result, out / "PERFORMANCE.md", readme=None)
    else:
        report.render(result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny counts: checks that everything runs")
    parser.add_argument("--out", type=Path, help="where the raw results go (default bench/out, or bench/out/smoke)")
    parser.add_argument("--note", default="", help="a sentence on the conditions of the run, for PERFORMANCE.md")
    args = parser.parse_args(argv)
    out = args.out or HERE / "out" / ("smoke" if args.smoke else "")
    result = bench(out, smoke=args.smoke, note=args.note)
    print(report.table(result))
    errors = result["meta"]["errors"]
    print(f"\n{len(errors)} errors; {result['meta']['seconds']} s; raw results in {out}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
