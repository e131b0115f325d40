"""``python -m bench [--smoke] [--out bench/results.json] [--patch FILE]``: run the benchmarks.

Writes the results file, ``storm.png`` and ``PERFORMANCE.md`` beside it (the raw page
data goes to ``bench/out/raw.json``), and prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from . import analysis, report
from .runner import FULL, SMOKE, Bench

HERE = Path(__file__).resolve().parent


def run(out: Path, *, smoke: bool = False, patch: Path | None = None, browser: Any = None) -> dict[str, Any]:
    """Run every benchmark; write ``out``, ``storm.png`` and ``PERFORMANCE.md`` beside it; return the results."""
    t0 = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    bench = Bench(SMOKE if smoke else FULL, patch=patch)
    try:
        raw = bench.run(browser=browser, storm_png=out.parent / "storm.png")
    finally:
        bench.close()
    raw_dir = HERE / "out" if not smoke else out.parent
    raw_dir.mkdir(parents=True, exist_ok=True)
    (raw_dir / "raw.json").write_text(json.dumps(raw))
    results = analysis.analyze(raw, time.monotonic() - t0)
    out.write_text(json.dumps(results, indent=1) + "\n")
    (out.parent / "PERFORMANCE.md").write_text(report.performance_md(results))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny counts: checks that everything runs (seconds)")
    parser.add_argument(
        "--out", type=Path, default=HERE / "results.json", help="results file (default bench/results.json)"
    )
    parser.add_argument(
        "--patch",
        type=Path,
        help="also measure a copy of heartsock/ with this diff applied (-p1), as '+patch' variants",
    )
    parser.add_argument("--report-only", action="store_true", help="re-render table and PERFORMANCE.md from --out")
    args = parser.parse_args(argv)
    if args.report_only:
        return report.main([str(args.out)])
    results = run(args.out, smoke=args.smoke, patch=args.patch)
    print(report.text_table(results))
    meta = results["meta"]
    print(
        f"\n{meta['targets_met']}/{meta['targets_total']} targets met; {meta['total_seconds']:.0f} s; "
        f"results: {args.out}; plot: {args.out.parent / 'storm.png'}; section: {args.out.parent / 'PERFORMANCE.md'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
