"""``python -m bench --smoke``: every benchmark runs, in seconds, and the summary has its shape.

The numbers of a smoke run mean nothing (a few hundred messages, one round). What is checked
is that every benchmark produced its numbers and the behaviour that does not depend on speed:
no lost or reordered message (with and without DevTools, with and without sessions), a dead
peer closed with 4000, every socket still open (in one page, and across the browsers of the
large row), no leaked proxy, the fixed-delay storm in one window. The committed summary is
left alone.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench import report
from bench.__main__ import bench
from bench.run import FULL, plan
from devtools.static import PYODIDE_DIR

pytestmark = pytest.mark.browser

RECV = {"raw_js", "bare", "pyscript", "heartsock", "heartsock_iter"}


def test_bench_smoke_run(tmp_path: Path) -> None:
    committed = report.SUMMARY.read_bytes()
    # Its own thread: the bench drives Playwright's sync API, which refuses to start where the
    # session's browser fixture already runs Playwright's loop.
    with ThreadPoolExecutor(1) as pool:
        s = pool.submit(bench, tmp_path, smoke=True).result()
    assert report.SUMMARY.read_bytes() == committed
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(json.dumps(s))
    assert (tmp_path / "storm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "results.json").read_text())["config"]["smoke"] is True

    meta, cfg = s["meta"], s["config"]
    assert meta["errors"] == []
    assert meta["pyodide"] == json.loads((PYODIDE_DIR / "package.json").read_text())["version"]
    assert meta["cross_origin_isolated"] is True and meta["date"]
    for bench_id, unit in (("recv_text", "msgs_per_s"), ("recv_bin", "mb_per_s")):
        for b in (bench_id, bench_id + "_devtools"):
            assert set(s[b][unit]) == RECV and all(v > 0 for v in s[b][unit].values()), b
            assert set(s[b]["lost"].values()) == {0} and set(s[b]["early"].values()) == {0}, b
            assert s[b][f"{unit}_vs_bare"]["heartsock"] > 0 and s[b]["cpu_us"]["heartsock"] > 0, b
            ratio = s[b][f"{unit}_vs_bare"]["heartsock"]
            assert s[b][f"{unit}_vs_bare_min"]["heartsock"] <= ratio <= s[b][f"{unit}_vs_bare_max"]["heartsock"]
    assert set(s["send"]["in_order"].values()) == {True} and s["send"]["call_us_vs_bare"]["heartsock"] > 0
    sessions = s["sessions"]
    assert sessions["in_order"] == {"plain": True, "resume": True} and sessions["lost"] == {"plain": 0, "resume": 0}
    assert sessions["send_msgs_per_s_vs_plain"]["resume"] > 0 and sessions["recv_msgs_per_s_vs_plain"]["resume"] > 0
    assert set(sessions["echo_p50_ms"]) == {"plain", "resume"}
    assert set(sessions["ack_share"]) == {"send", "recv", "echo"} and sessions["overhead"] > 0
    assert all(0 < share < 1 for share in sessions["ack_share"].values())  # acks flow in every exchange
    shared = s["shared"]
    assert shared["rounds"] == cfg["shared_rounds"] and 0 <= shared["lock_ms"]["median"] <= shared["open_ms"]["median"]
    for kind in ("text", "binary"):
        assert set(shared["relay_us"][kind]) >= {"private", "leader", "follower"}, kind
        # A smoke burst is a few messages: first and last can share a millisecond (Date.now()).
        assert all(shared["relay_us"][kind][tab] >= 0 for tab in ("private", "leader", "follower")), kind
    assert s["flush"]["in_order"] == {"raw_js": True, "heartsock": True}
    assert s["flush"]["queued_while"] == "RECONNECTING"
    assert set(s["echo"]["p50_ms"]) == RECV - {"heartsock_iter"} | {"heartsock_recv"}
    assert s["open"]["ms"]["heartsock"] > 0 and s["startup"]["import_ms"] > 0
    assert s["dead_peer"]["codes"] == [4000]
    assert s["reconnect"]["state"] == "OPEN"
    assert s["many"]["still_open"]["heartsock"] == cfg["many_n"] and s["many"]["heartbeats_per_s"]["heartsock"] > 0
    assert s["many_large"]["still_open"] == dict.fromkeys(("raw_js", "bare", "heartsock"), cfg["many_large_n"])
    assert s["many_large"]["heartbeats_per_s"]["heartsock"] > 0 and s["many_large"]["cpu_ms_per_s"]["heartsock"] > 0
    assert s["soak"]["pyproxies"] == 0 and s["soak"]["missed_opens"] == 0
    assert s["storm"]["reference_fixed"]["peak_fraction"] == 1.0 > s["storm"]["heartsock_default"]["peak_fraction"]

    performance = (tmp_path / "PERFORMANCE.md").read_text()
    assert performance == report.performance_md(s) and "| measure | raw JS |" in performance


def test_variants_take_turns_in_both_orders() -> None:
    """Over a full run's rounds, every two receive variants run in both orders (none always first)."""
    steps = [st for st in plan(FULL, lambda path: path, {}) if st["id"] == "recv_text"]
    orders = [[st["variant"] for st in steps if st["round"] == r] for r in range(FULL.rounds)]
    assert all(sorted(o) == sorted(RECV) for o in orders)
    for a in RECV:
        for b in RECV - {a}:
            assert {o.index(a) < o.index(b) for o in orders} == {True, False}, (a, b)
