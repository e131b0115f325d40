"""The results table (printed by ``make bench``) and the README's performance section.

Both are generated from ``bench/results.json`` only: ``python -m bench.report
bench/results.json`` rewrites ``bench/PERFORMANCE.md`` without running anything.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

Row = list[str]


def _f(x: Any, digits: int = 0, suffix: str = "") -> str:
    if x is None:
        return "–"
    if isinstance(x, (int, float)):
        if digits == 0:
            return f"{x:,.0f}{suffix}"
        return f"{x:,.{digits}f}{suffix}"
    return str(x)


def _ratio(block: dict[str, Any], key: str) -> str:
    r = block.get("ratios", {}).get(key)
    return _f(r["median"], 2) + "×" if r else "–"


def _met(targets: list[dict[str, Any]], *needles: str, exclude: str = "") -> str:
    chosen = [t for t in targets if all(n in t["what"] for n in needles) and not (exclude and exclude in t["what"])]
    if not chosen:
        return ""
    return " ".join(("✅" if t["met"] else "❌") if t["met"] is not None else "?" for t in chosen)


def rows(results: dict[str, Any], include_patch: bool = True) -> tuple[Row, list[Row]]:
    b = {x["id"]: x for x in results["benchmarks"]}
    head = [
        "#",
        "benchmark",
        "raw JS",
        "bare Pyodide",
        "pyscript.WebSocket",
        "heartsock",
        "vs raw JS",
        "vs bare",
        "target",
        "met",
    ]
    out: list[Row] = []
    for bid, label, unit, digits in (
        ("recv_text", "receive text", "msgs/s", 0),
        ("recv_bin", "receive 64 KiB binary", "MB/s", 1),
    ):
        blk = b.get(bid)
        if not blk:
            continue
        v = blk["variants"]
        cfg = results["meta"]["config"]
        n = f"{cfg['recv_n']:,}×{cfg['recv_size']} B" if bid == "recv_text" else f"{cfg['bin_n']:,}×64 KiB"
        for hv, how in (
            ("heartsock_cb", "message_cb"),
            ("heartsock_iter", "async for"),
            ("heartsock_cb+patch", "message_cb, patched"),
            ("heartsock_iter+patch", "async for, patched"),
        ):
            if hv not in v or ("+patch" in hv and not include_patch):
                continue
            vs_ps = blk["ratios"].get(f"{hv}/pyscript")
            out.append(
                [
                    "1",
                    f"{label} {n}, {unit} — {how}",
                    _f(v.get("raw_js", {}).get("median"), digits),
                    _f(v.get("bare", {}).get("median"), digits),
                    _f(v.get("pyscript", {}).get("median"), digits),
                    _f(v[hv]["median"], digits),
                    _ratio(blk, f"{hv}/raw_js"),
                    _ratio(blk, f"{hv}/bare"),
                    f"≥0.75× raw, ≥0.9× bare, > pyscript ({_f(vs_ps['median'], 2) + '×' if vs_ps else '–'})",
                    _met(blk["targets"], hv + " ", exclude="CPU"),
                ]
            )
        cpu = blk.get("cpu_ratios", {})
        for hv in ("heartsock_cb", "heartsock_cb+patch"):
            if "+patch" in hv and not include_patch:
                continue
            if hv in v and v[hv].get("cpu_us_per_msg_median"):
                out.append(
                    [
                        "1",
                        f"  main-thread CPU µs per message — {'message_cb' if hv == 'heartsock_cb' else 'patched'}",
                        _f(v.get("raw_js", {}).get("cpu_us_per_msg_median"), 2),
                        _f(v.get("bare", {}).get("cpu_us_per_msg_median"), 2),
                        _f(v.get("pyscript", {}).get("cpu_us_per_msg_median"), 2),
                        _f(v[hv]["cpu_us_per_msg_median"], 2),
                        _f((cpu.get(f"{hv}/raw_js") or {}).get("median"), 2) + "×",
                        _f((cpu.get(f"{hv}/bare") or {}).get("median"), 2) + "×",
                        "(same, by CPU time)",
                        _met(blk["targets"], hv + " ", "CPU"),
                    ]
                )
    if "send" in b:
        blk = b["send"]
        v = blk["variants"]
        for hv in ("heartsock", "heartsock+patch"):
            if hv not in v or ("+patch" in hv and not include_patch):
                continue
            out.append(
                [
                    "2",
                    f"send {results['meta']['config']['send_n']:,}×16 B while open, msgs/s end to end "
                    f"({'patched' if 'patch' in hv else 'heartsock'})",
                    _f(v.get("raw_js", {}).get("median")),
                    _f(v.get("bare", {}).get("median")),
                    _f(v.get("pyscript", {}).get("median")),
                    _f(v[hv]["median"]),
                    _ratio(blk, f"{hv}/raw_js"),
                    _ratio(blk, f"{hv}/bare"),
                    "(none)",
                    "",
                ]
            )
            out.append(
                [
                    "2",
                    "  send() call cost, µs per message",
                    _f(v.get("raw_js", {}).get("send_call_us_median"), 2),
                    _f(v.get("bare", {}).get("send_call_us_median"), 2),
                    _f(v.get("pyscript", {}).get("send_call_us_median"), 2),
                    _f(v[hv].get("send_call_us_median"), 2),
                    "",
                    "",
                    "",
                    "",
                ]
            )
    if "flush" in b:
        blk = b["flush"]
        v = blk["variants"]
        for hv in ("heartsock", "heartsock+patch"):
            if hv in v and ("+patch" not in hv or include_patch):
                out.append(
                    [
                        "2",
                        f"flush {results['meta']['config']['flush_n']:,} queued sends, ms open → server has all "
                        f"(median / worst){' patched' if 'patch' in hv else ''}",
                        f"{_f(v.get('raw_js', {}).get('median_ms'), 1)} / {_f(v.get('raw_js', {}).get('max_ms'), 1)}",
                        "",
                        "",
                        f"{_f(v[hv]['median_ms'], 1)} / {_f(v[hv]['max_ms'], 1)}",
                        "",
                        "",
                        "≤ 1000 ms, in order",
                        _met(blk["targets"], hv + ":"),
                    ]
                )
    if "echo" in b:
        blk = b["echo"]
        v = blk["variants"]
        for hv, how in (
            ("heartsock_cb", "message_cb"),
            ("heartsock_recv", "await recv()"),
            ("heartsock_cb+patch", "message_cb, patched"),
            ("heartsock_recv+patch", "await recv(), patched"),
        ):
            if hv not in v or ("+patch" in hv and not include_patch):
                continue
            d = blk["deltas"].get(f"{hv}-raw_js", {})
            for q, lim in (("p50", "0.2"), ("p99", "1")):
                out.append(
                    [
                        "3",
                        f"echo {q}, ms — {how}",
                        _f(v.get("raw_js", {}).get(f"{q}_ms"), 3),
                        _f(v.get("bare", {}).get(f"{q}_ms"), 3),
                        _f(v.get("pyscript", {}).get(f"{q}_ms"), 3),
                        _f(v[hv][f"{q}_ms"], 3),
                        f"+{_f(d.get(f'{q}_ms'), 3)} ms",
                        "",
                        f"≤ raw + {lim} ms",
                        _met(blk["targets"], hv + " " + q),
                    ]
                )
    if "dead_peer" in b:
        blk = b["dead_peer"]
        out.append(
            [
                "4",
                f"dead-peer detection, ms, {len(blk['trials_ms'])} trials (min / max)",
                "",
                "",
                "",
                f"{_f(min(blk['trials_ms'], default=None))} / {_f(blk['max_ms'])}",
                "",
                "",
                f"≤ window {_f(blk['window_ms'])} + 500",
                _met(blk["targets"]),
            ]
        )
    if "reconnect" in b:
        blk = b["reconnect"]
        out.append(
            [
                "5",
                "reconnect: OPEN minus scheduled retry time, ms (median / max), server drop",
                "",
                "",
                "",
                f"{_f(blk['drop']['overhead_ms_median'], 1)} / {_f(blk['drop']['overhead_ms_max'], 1)}",
                "",
                "",
                "(none)",
                "",
            ]
        )
        out.append(
            [
                "5",
                "  server restart: reachable → OPEN, ms (median); overhead (median / max)",
                "",
                "",
                "",
                f"{_f(blk['restart']['up_to_open_ms_median'])}; "
                f"{_f(blk['restart']['overhead_ms_median'], 1)} / {_f(blk['restart']['overhead_ms_max'], 1)}",
                "",
                "",
                "(none)",
                "",
            ]
        )
    if "soak" in b:
        blk = b["soak"]
        d = blk["delta"]
        out.append(
            [
                "6",
                f"leak soak {blk['result']['cycles']} cycles: Δ live PyProxies / Δ JS heap",
                "",
                "",
                "",
                f"{d['pyproxies']:+d} / {d['js_heap_used'] / 2**20:+.2f} MiB",
                "",
                "",
                "0 / ≤ +2 MiB",
                _met(blk["targets"], "PyProxies") + " " + _met(blk["targets"], "heap"),
            ]
        )
    if "many_sockets" in b:
        blk = b["many_sockets"]
        out.append(
            [
                "7",
                f"{blk['heartsock']['end']['open'] if blk['heartsock'].get('end') else '?'} open of "
                f"{results['meta']['config']['many_n']} sockets: main-thread busy ms/s, DevTools / CPU (idle page "
                f"{_f(blk['idle']['task_ms_per_s'], 1)} / {_f(blk['idle'].get('cpu_ms_per_s'), 1)})",
                f"{_f(blk['raw_js']['task_ms_per_s'], 1)} / {_f(blk['raw_js'].get('cpu_ms_per_s'), 1)}",
                f"{_f(blk.get('bare', {}).get('task_ms_per_s'), 1)} / {_f(blk.get('bare', {}).get('cpu_ms_per_s'), 1)}",
                "",
                f"{_f(blk['heartsock']['task_ms_per_s'], 1)} / {_f(blk['heartsock'].get('cpu_ms_per_s'), 1)}",
                f"{_f(blk['ratio_heartsock/raw_js'], 2)}× / {_f(blk.get('cpu_ratio_heartsock/raw_js'), 2)}×",
                f"CPU {_f(blk.get('cpu_ratio_heartsock/bare'), 2)}×",
                "all OPEN",
                _met(blk["targets"]),
            ]
        )
    if "storm" in b:
        blk = b["storm"]
        hs, fx = blk["policies"]["heartsock_default"], blk["policies"]["reference_fixed"]
        out.append(
            [
                "8",
                f"storm {hs['clients']:,} clients: peak attempts / 100 ms (fixed 5 s vs heartsock)",
                f"{fx['peak_per_100ms']:,} ({100 * fx['peak_fraction']:.0f}%)",
                "",
                "",
                f"{hs['peak_per_100ms']:,} ({100 * hs['peak_fraction']:.1f}%)",
                "",
                "",
                "≤ 5%",
                _met(blk["targets"]),
            ]
        )
    if "startup" in b:
        blk = b["startup"]
        out.append(
            [
                "9",
                "import heartsock (cold, ms); first socket open (cold page, ms)",
                "",
                "",
                "",
                f"{_f(blk['import_heartsock_cold_ms_median'], 1)}; {_f(blk['first_socket_open_cold_ms_median'], 1)}",
                "",
                "",
                "(none)",
                "",
            ]
        )
        w = blk["open_warm_ms_median"]
        out.append(
            [
                "9",
                "  later opens, ms (median)",
                _f(w.get("raw_js"), 2),
                "",
                "",
                _f(w.get("heartsock"), 2),
                "",
                "",
                "",
                "",
            ]
        )
    return head, out


def markdown_table(results: dict[str, Any]) -> str:
    head, body = rows(results, include_patch=False)  # the patched copy has its own before/after table
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in body]
    return "\n".join(lines)


def text_table(results: dict[str, Any]) -> str:
    head, body = rows(results)
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([fmt.format(*head), sep, *(fmt.format(*r) for r in body)])


def _npm_pyodide() -> str:
    """The vendored Pyodide's version (for results recorded before it was stored)."""
    from devtools.static import PYODIDE_DIR

    return str(json.loads((PYODIDE_DIR / "package.json").read_text())["version"])


def performance_md(results: dict[str, Any]) -> str:
    meta = results["meta"]
    v = meta["versions"]
    m = meta["machine"]
    b = {x["id"]: x for x in results["benchmarks"]}
    out = [
        "## Performance",
        "",
        "Generated by `make bench` (`python -m bench`) from `bench/results.json`; every figure is measured side by "
        "side with the browser's own WebSocket in the same page and the same run.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}. "
        f"Browser: {v['chromium']} (headless). Pyodide {v['pyodide'] or _npm_pyodide()}, PyScript {v['pyscript']}. "
        f"Load average at the start {_f((m.get('loadavg_start') or [None])[0], 2)}. "
        f"Run took {meta['total_seconds']:.0f} s{' (smoke run)' if meta['config']['smoke'] else ''}; "
        f"{meta['targets_met']} of {meta['targets_total']} targets met by heartsock as it is"
        + (
            f"; of the {meta['patched_targets_total']} targets also measured with the proposed patch, heartsock now "
            f"meets {meta['same_targets_met_now']} and the patched copy {meta['patched_targets_met']}."
            if meta.get("patched_targets_total")
            else "."
        ),
        "",
        markdown_table(results),
        "",
    ]
    out += _before_after(b)
    out += _notes(results, b)
    return "\n".join(out) + "\n"


def _before_after(b: dict[str, Any]) -> list[str]:
    """heartsock as it is beside the copy with ``--patch`` applied, when the run measured one."""
    rt = b.get("recv_text", {})
    if "heartsock_cb+patch" not in rt.get("variants", {}):
        return []
    rows: list[tuple[str, str, str]] = []

    def ratio(blk: dict[str, Any], key: str, cpu: bool = False) -> str:
        r = blk.get("cpu_ratios" if cpu else "ratios", {}).get(key)
        return _f(r["median"], 3) + "×" if r else "–"

    for bid, unit, digits in (("recv_text", "msgs/s", 0), ("recv_bin", "MB/s", 1)):
        blk = b.get(bid)
        if not blk:
            continue
        v = blk["variants"]
        for hv, how in (("heartsock_cb", "message_cb"), ("heartsock_iter", "async for")):
            if f"{hv}+patch" not in v:
                continue
            p = f"{hv}+patch"
            rows.append((f"{bid} {how}, {unit}", _f(v[hv]["median"], digits), _f(v[p]["median"], digits)))
            for base in ("bare", "raw_js", "pyscript"):
                rows.append((f"  {how} ÷ {base}", ratio(blk, f"{hv}/{base}"), ratio(blk, f"{p}/{base}")))
            rows.append(
                (
                    f"  {how}, main-thread CPU µs per message",
                    _f(v[hv].get("cpu_us_per_msg_median"), 2),
                    _f(v[p].get("cpu_us_per_msg_median"), 2),
                )
            )
            for base in ("bare", "pyscript"):
                rows.append(
                    (
                        f"  {how} ÷ {base}, by CPU per message",
                        ratio(blk, f"{hv}/{base}", True),
                        ratio(blk, f"{p}/{base}", True),
                    )
                )
    send = b.get("send", {}).get("variants", {})
    if "heartsock+patch" in send:
        rows.append(
            (
                "send() call, µs per message",
                _f(send["heartsock"].get("send_call_us_median"), 2),
                _f(send["heartsock+patch"].get("send_call_us_median"), 2),
            )
        )
    echo = b.get("echo", {}).get("variants", {})
    if "heartsock_cb+patch" in echo:
        for q in ("p50", "p99"):
            rows.append(
                (
                    f"echo {q}, ms (message_cb)",
                    _f(echo["heartsock_cb"][f"{q}_ms"], 3),
                    _f(echo["heartsock_cb+patch"][f"{q}_ms"], 3),
                )
            )
    layers = b.get("profile", {}).get("layers", {})
    if "heartsock+patch" in layers:
        for k in ("heartsock_handler_via_js", "py_on_message"):
            now = (layers["heartsock"].get("pyscript") or {}).get(k)
            after = (layers["heartsock+patch"].get("pyscript") or {}).get(k)
            rows.append((f"profile {k}, µs per message", _f(now, 2), _f(after, 2)))
    many = b.get("many_sockets", {})
    if "heartsock+patch" in many:
        rows.append(
            (
                f"{many['heartsock']['end']['open']} sockets heartbeating, main-thread CPU ms/s",
                _f(many["heartsock"].get("cpu_ms_per_s"), 1),
                _f(many["heartsock+patch"].get("cpu_ms_per_s"), 1),
            )
        )
    lines = [
        "Proposed hot-path change (`bench/proposals/hotpath.patch`), measured in the same run as a copy of heartsock "
        "with the patch applied:",
        "",
        "| measure | heartsock now | with the patch |",
        "|---|---|---|",
    ]
    lines += [f"| {a} | {x} | {y} |" for a, x, y in rows]
    return [*lines, ""]


def _notes(results: dict[str, Any], b: dict[str, Any]) -> list[str]:
    meta = results["meta"]
    cfg = meta["config"]
    lines = ["How it was measured:", ""]
    lines.append(
        " ".join(
            [
                "- Items 1–3 and 9 run in a headless Chromium with no DevTools client, in a PyScript page where",
                "raw JS, a bare `create_proxy` handler, `pyscript.WebSocket` and heartsock share one interpreter",
                f"({cfg['rounds_pyscript']} rounds, variants alternating, first variant rotating), cross-checked in a",
                f"bare-Pyodide page ({cfg['rounds_bare']} rounds). Ratios are medians of per-round ratios. Pages are",
                "cross-origin isolated, so `performance.now()` has 5 µs resolution.",
            ]
        )
    )
    dc = meta["notes"]["devtools_cost"]
    if dc.get("ratio"):
        lines.append(
            " ".join(
                [
                    "- Why no DevTools there: with Playwright attached, raw JS receives",
                    f"{_f(dc['raw_js_recv_msgs_per_s_with_devtools'])} msgs/s instead of",
                    f"{_f(dc['raw_js_recv_msgs_per_s_without'])} ({dc['ratio']:.2f}×), because the renderer reports",
                    "every frame to the DevTools Network domain.",
                ]
            )
        )
    if "recv_text" in b:
        s = b["recv_text"]["server"]
        lines.append(
            "- The server is not the bottleneck: a CPython socket reader gets the same burst from it at "
            f"{_f(s['loopback_reader_rate'])} msgs/s, and it spent at most "
            f"{100 * (b['recv_text'].get('server_busy_fraction_max') or 0):.1f}% of any browser run on the CPU "
            f"(sends: {100 * (b['send'].get('server_busy_fraction_max') or 0):.1f}%)."
        )
    rt = b.get("recv_text", {}).get("variants", {})

    def busy(v: str) -> float | None:
        info = rt.get(v, {})
        if info.get("cpu_us_per_msg_median") and info.get("median"):
            return 100 * info["cpu_us_per_msg_median"] * info["median"] / 1e6
        return None

    if busy("raw_js") is not None:
        lines.append(
            " ".join(
                [
                    f"- Reading item 1: raw JS receives {_f(rt['raw_js']['median'])} msgs/s with its main thread busy",
                    f"{_f(busy('raw_js'))}% of the time (heartsock message_cb: {_f(busy('heartsock_cb'))}%). The",
                    "browser's own delivery of messages to the page, not the page's code, sets the message rate, so",
                    "msgs/s ratios stay near 1 and move with noise; main-thread CPU per message (the 'CPU µs per",
                    "message' rows, measured from /proc for each run) is what separates the variants.",
                ]
            )
        )
    dq = b.get("recv_text", {}).get("async_for_with_default_max_recv_queue")
    if dq:
        lines.append(
            " ".join(
                [
                    f"- With the default `max_recv_queue` (10 000), `async for` over a burst of {dq['pushed']:,}",
                    f"messages yielded {dq['delivered']:,}: {dq['lost']:,} were dropped from the iterator (they",
                    "still reached message_cb and listeners), each with an error event and a logged warning, and the",
                    f"run used {_f(dq['main_thread_cpu_s'], 1)} s of main-thread CPU. The `async for` rows above use",
                    "a `max_recv_queue` larger than the burst.",
                ]
            )
        )
    lines.append(
        "- Items 4–7 run under Playwright: faults are injected by the page through the bench server (`/ctl/`), so both "
        "ends of every interval are on the page's clock; the JS heap is read with `HeapProfiler.collectGarbage` + "
        "`Runtime.getHeapUsage`, live proxies with `pyodide._module.pyproxy_alloc_map.size`, busy time with "
        "`Performance.getMetrics` (TaskDuration)."
    )
    lines.append(
        f"- Item 8 is a simulation on CPython driving {cfg['storm_clients']:,} copies of heartsock's own "
        "`_core.Machine` with a fake clock (`bench/storm.py`); plot: `bench/storm.png`."
    )
    if "profile" in b:
        layers = b["profile"]["layers"]
        base = (layers.get("heartsock") or {}).get("pyscript") or (layers.get("heartsock") or {}).get("pyodide")
        if base:
            lines += [
                "",
                "Receive path, µs per message (JS calls the handler proxy directly; Python layers in isolation):",
                "",
            ]
            keys = [k for k in base]
            lines.append("| layer | " + " | ".join(layers) + " |")
            lines.append("|---|" + "|".join("---" for _ in layers) + "|")
            for k in keys:
                vals = [((layers[v].get("pyscript") or layers[v].get("pyodide") or {}).get(k)) for v in layers]
                lines.append(f"| {k} | " + " | ".join(_f(x, 2) for x in vals) + " |")
    lines.append("")
    lines.append("![reconnect storm](bench/storm.png)")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    path = Path(args[0]) if args else Path(__file__).resolve().parent / "results.json"
    results = json.loads(path.read_text())
    print(text_table(results))
    (path.parent / "PERFORMANCE.md").write_text(performance_md(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
