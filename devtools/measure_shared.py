"""Measure shared sockets (``shared=``) alone: ``python -m devtools.measure_shared`` (about two
minutes; prints the figures). ``make bench`` measures the same (:mod:`bench.shared`)."""

from __future__ import annotations

import statistics
import sys

from bench import shared
from devtools.static import check_assets

ROUNDS = 5
BURST = 5000
BINARY = 200  # messages of 64 KiB


def main() -> int:
    check_assets()
    result = shared.run(ROUNDS, BURST, BINARY)
    lock = [h[0] for h in result["handover_ms"]]
    reopen = [h[1] for h in result["handover_ms"]]
    print(f"hand-over, {ROUNDS} rounds (ms): lock granted median {statistics.median(lock):.0f} (max {max(lock):.0f});")
    print(f"  session resumed (OPEN again) median {statistics.median(reopen):.0f} (max {max(reopen):.0f})")
    relay = result["relay_us"]
    for label, row in ((f"{BURST} x 100-byte text", relay["text"]), (f"{BINARY} x 64 KiB binary", relay["binary"])):
        cells = ", ".join(f"{k} {v:.1f}" for k, v in row.items())
        print(f"µs per message, {label}: {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
