"""``python -m bench --smoke``: every benchmark runs, in seconds, and the summary has its shape.

The numbers of a smoke run mean nothing (a few hundred messages, one round). What is checked
is that every benchmark produced its numbers and the behaviour that does not depend on speed:
no lost or reordered message, a dead peer closed with 4000, every socket still open, no
leaked proxy, the fixed-delay storm in one window. The committed summary is left alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import report
from bench.__main__ import bench
from devtools.static import PYODIDE_DIR

pytestmark = pytest.mark.browser

RECV = {"raw_js", "bare", "pyscript", "heartsock", "heartsock_iter"}


def test_bench_smoke_run(tmp_path: Path) -> None:
    committed = report.SUMMARY.read_bytes()
    s = bench(tmp_path, smoke=True)
    assert report.SUMMARY.read_bytes() == committed
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(json.dumps(s))
    assert (tmp_path / "storm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "results.json").read_text())["config"]["smoke"] is True

    meta, cfg = s["meta"], s["config"]
    assert meta["errors"] == []
    assert meta["pyodide"] == json.loads((PYODIDE_DIR / "package.json").read_text())["version"]
    assert meta["cross_origin_isolated"] is True and meta["date"]
    for bench_id, unit in (("recv_text", "msgs_per_s"), ("recv_bin", "mb_per_s")):
        assert set(s[bench_id][unit]) == RECV and all(v > 0 for v in s[bench_id][unit].values()), bench_id
        assert set(s[bench_id]["lost"].values()) == {0}, bench_id
        assert s[bench_id][f"{unit}_vs_bare"]["heartsock"] > 0 and s[bench_id]["cpu_us"]["heartsock"] > 0
    assert set(s["send"]["in_order"].values()) == {True} and s["send"]["call_us"]["heartsock"] > 0
    assert s["flush"]["in_order"] == {"raw_js": True, "heartsock": True}
    assert s["flush"]["queued_while"] == "RECONNECTING"
    assert set(s["echo"]["p50_ms"]) == RECV - {"heartsock_iter"} | {"heartsock_recv"}
    assert s["open"]["ms"]["heartsock"] > 0 and s["startup"]["import_ms"] > 0
    assert s["dead_peer"]["codes"] == [4000]
    assert s["reconnect"]["state"] == "OPEN"
    assert s["many"]["still_open"]["heartsock"] == cfg["many_n"] and s["many"]["heartbeats_per_s"]["heartsock"] > 0
    assert s["soak"]["pyproxies"] == 0 and s["soak"]["missed_opens"] == 0
    assert s["storm"]["reference_fixed"]["peak_fraction"] == 1.0 > s["storm"]["heartsock_default"]["peak_fraction"]

    performance = (tmp_path / "PERFORMANCE.md").read_text()
    assert performance == report.performance_md(s) and "| measure | raw JS |" in performance
