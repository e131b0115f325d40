"""A seconds-long run of the benchmarks (issue 6): everything runs, and results.json has its shape.

The numbers of a smoke run mean nothing (a few hundred messages, one round); what is
checked is that every benchmark produced its object, with its variants, ratios, targets
and versions, and the behaviour that does not depend on speed (no lost or reordered
message, no leaked proxy, every socket still open, the fixed-delay storm in one window).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from bench.__main__ import run
from devtools.static import PYODIDE_DIR

pytestmark = pytest.mark.browser

ITEMS = {
    "recv_text": 1,
    "recv_bin": 1,
    "profile": 1,
    "send": 2,
    "flush": 2,
    "echo": 3,
    "dead_peer": 4,
    "reconnect": 5,
    "soak": 6,
    "many_sockets": 7,
    "storm": 8,
    "startup": 9,
}
RECV_VARIANTS = {"raw_js", "bare", "pyscript", "heartsock_cb", "heartsock_iter"}


def test_bench_smoke_run_writes_results_plot_and_section(browser: Browser, tmp_path: Path) -> None:
    """`python -m bench --smoke`: results.json (one object per benchmark), storm.png, PERFORMANCE.md."""
    out = tmp_path / "results.json"
    returned = run(out, smoke=True, browser=browser)
    results = json.loads(out.read_text())
    assert results == json.loads(json.dumps(returned))

    meta = results["meta"]
    pyodide_version = json.loads((PYODIDE_DIR / "package.json").read_text())["version"]
    assert meta["versions"]["pyodide"] == pyodide_version
    assert meta["versions"]["chromium"].startswith("Chromium")
    assert meta["versions"]["cross_origin_isolated"] is True
    assert meta["config"]["smoke"] is True and meta["total_seconds"] > 0
    assert meta["machine"]["cores"] >= 1

    by_id = {b["id"]: b for b in results["benchmarks"]}
    assert {k: by_id[k]["item"] for k in by_id} == ITEMS
    for bench in results["benchmarks"]:
        assert bench["versions"] == meta["versions"], bench["id"]
        assert bench.get("errors", []) == [], (bench["id"], bench.get("errors"))
        for target in bench["targets"]:
            assert set(target) == {"what", "value", "limit", "op", "met"}, target

    for bid in ("recv_text", "recv_bin"):
        variants = by_id[bid]["variants"]
        assert set(variants) == RECV_VARIANTS, bid
        for name, info in variants.items():
            assert info["median"] > 0 and info["lost_messages"] == [0], (bid, name, info)
        ratios = by_id[bid]["ratios"]
        for key in ("heartsock_cb/raw_js", "heartsock_cb/bare", "heartsock_cb/pyscript", "heartsock_iter/bare"):
            assert ratios[key]["median"] > 0, (bid, key)
        assert by_id[bid]["server"]["loopback_reader_rate"] > 0
    assert by_id["recv_text"]["cross_check_bare_pyodide_page"]["variants"]["heartsock_cb"]["median"] > 0

    send = by_id["send"]["variants"]
    assert {"raw_js", "bare", "pyscript", "heartsock"} <= set(send)
    assert send["heartsock"]["send_call_us_median"] > 0
    flush = by_id["flush"]["variants"]
    assert flush["heartsock"]["in_order"] and flush["raw_js"]["in_order"]
    assert flush["heartsock"]["all_queued"] and flush["heartsock"]["state_while_queueing"] == ["RECONNECTING"]
    echo = by_id["echo"]
    assert echo["variants"]["raw_js"]["p50_ms"] > 0 and echo["variants"]["heartsock_cb"]["p99_ms"] > 0
    assert "heartsock_cb-raw_js" in echo["deltas"]

    dead = by_id["dead_peer"]
    assert dead["close_codes"] == [4000] and dead["max_ms"] > 0
    reconnect = by_id["reconnect"]
    assert reconnect["state_after"] == "OPEN" and len(reconnect["restart"]["trials"]) == 1
    soak = by_id["soak"]
    assert soak["delta"]["pyproxies"] == 0 and soak["result"]["live_sockets_after"] == 0
    many = by_id["many_sockets"]
    assert many["heartsock"]["end"]["open"] == meta["config"]["many_n"]
    storm = by_id["storm"]["policies"]
    assert storm["reference_fixed"]["peak_fraction"] == 1.0
    assert storm["heartsock_default"]["peak_fraction"] < 1.0
    startup = by_id["startup"]
    assert startup["import_heartsock_cold_ms_median"] > 0
    assert by_id["profile"]["layers"]["heartsock"]["pyscript"]["heartsock_handler_via_js"] > 0

    assert (tmp_path / "storm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    section = (tmp_path / "PERFORMANCE.md").read_text()
    assert section.startswith("## Performance") and "| # | benchmark |" in section
