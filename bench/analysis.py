"""From the raw run data to ``bench/results.json``: one object per benchmark.

Each object holds the raw numbers of every variant (one value per round), their median,
the ratios between variants (computed per round, between runs made next to each other,
then the median of those), the targets of issue 6 with whether they were met, what the
server did meanwhile, and the browser, Pyodide and PyScript versions.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from typing import Any

HS_RECV = ("heartsock_cb", "heartsock_iter", "heartsock_cb+patch", "heartsock_iter+patch")
MIB = 2**20


def quantile(values: list[float], q: float) -> float | None:
    """Linear-interpolated quantile (``q`` in [0, 1]); ``None`` for no values."""
    if not values:
        return None
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def _steps(page: dict[str, Any] | None, bench: str) -> dict[str, list[dict[str, Any]]]:
    """variant → that variant's steps of ``bench``, in round order."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for step in (page or {}).get("steps", []):
        if step.get("id") == bench:
            out[step.get("variant", "")].append(step)
    for v in out.values():
        v.sort(key=lambda s: s.get("round", 0))
    return dict(out)


def _errors(steps: dict[str, list[dict[str, Any]]]) -> list[str]:
    return [f"{v} round {s.get('round')}: {s['error'][:400]}" for v, ss in steps.items() for s in ss if s.get("error")]


def _paired_ratio(values: dict[str, dict[int, float]], a: str, b: str) -> dict[str, Any] | None:
    """Median over rounds of value[a] / value[b], using only rounds that have both."""
    if a not in values or b not in values:
        return None
    per_round = [values[a][r] / values[b][r] for r in values[a] if r in values[b] and values[b][r]]
    if not per_round:
        return None
    return {"median": _r(median(per_round)), "runs": [_r(x) for x in per_round]}


def _target(what: str, value: float | None, limit: float, op: str) -> dict[str, Any]:
    met = None
    if value is not None:
        met = {">=": value >= limit, "<=": value <= limit, ">": value > limit, "==": value == limit}[op]
    return {"what": what, "value": _r(value), "limit": limit, "op": op, "met": met}


# ---- items 1 and 2a: throughput ------------------------------------------------------------------
def _throughput(page: dict[str, Any] | None, bench: str, expected: int, metric: str) -> dict[str, Any]:
    steps = _steps(page, bench)
    values: dict[str, dict[int, float]] = {}
    cpu_values: dict[str, dict[int, float]] = {}  # messages per main-thread CPU second
    extra: dict[str, dict[str, Any]] = {}
    server_busy: list[float] = []
    for variant, ss in steps.items():
        ok = [s for s in ss if not s.get("error") and s.get("result")]
        vals: dict[int, float] = {}
        cpu_vals: dict[int, float] = {}
        lost, errs, loop_us = [], [], []
        for s in ok:
            r = s["result"]
            secs = r["ms"] / 1000
            if metric == "msgs":
                vals[s.get("round", 0)] = r["n"] / secs
            else:
                vals[s.get("round", 0)] = r["bytes"] / secs / 1e6
            if s.get("cpu_ms"):
                cpu_vals[s.get("round", 0)] = r["n"] / (s["cpu_ms"] / 1000)
            lost.append(expected - r["n"])
            errs.append(r.get("errors", 0))
            if "loop_ms" in r:
                loop_us.append(r["loop_ms"] * 1000 / r["n"])
            srv = s.get("server") or {}
            busy = next((x.get("busy_s") for x in srv.values() if isinstance(x, dict) and "busy_s" in x), None)
            if busy is None and isinstance(r.get("server"), str):
                try:
                    busy = json.loads(r["server"]).get("busy_s")
                except ValueError:
                    busy = None
            elif busy is None and isinstance(r.get("server"), dict):
                busy = r["server"].get("busy_s")
            if busy is not None and secs > 0:
                server_busy.append(busy / secs)
        values[variant] = vals
        cpu_values[variant] = cpu_vals
        info: dict[str, Any] = {
            "runs": [_r(vals[k], 1) for k in sorted(vals)],
            "median": _r(median(list(vals.values())), 1),
            "lost_messages": lost,
            "cpu_us_per_msg_median": _r(1e6 / median(list(cpu_vals.values())), 3) if cpu_vals else None,
        }
        if any(errs):
            info["error_events"] = errs
        if loop_us:
            info["send_call_us_median"] = _r(median(loop_us))
        extra[variant] = info
    ratios, cpu_ratios = {}, {}
    for a in extra:
        for b in ("raw_js", "bare", "pyscript"):
            if a != b and (rr := _paired_ratio(values, a, b)) is not None:
                ratios[f"{a}/{b}"] = rr
            if a != b and (rr := _paired_ratio(cpu_values, a, b)) is not None:
                cpu_ratios[f"{a}/{b}"] = rr
    return {
        "variants": extra,
        "ratios": ratios,
        "cpu_ratios": cpu_ratios,
        "server_busy_fraction_max": _r(max(server_busy), 4) if server_busy else None,
        "errors": _errors(steps),
    }


def _recv_targets(block: dict[str, Any]) -> list[dict[str, Any]]:
    ratios = block["ratios"]
    targets = []
    for v in HS_RECV:
        if v not in block["variants"]:
            continue
        targets.append(_target(f"{v} ≥ 0.9 × bare Pyodide", (ratios.get(f"{v}/bare") or {}).get("median"), 0.9, ">="))
        targets.append(_target(f"{v} ≥ 0.75 × raw JS", (ratios.get(f"{v}/raw_js") or {}).get("median"), 0.75, ">="))
        if "pyscript" in block["variants"]:
            targets.append(
                _target(f"{v} ahead of pyscript.WebSocket", (ratios.get(f"{v}/pyscript") or {}).get("median"), 1.0, ">")
            )
        cpu = block.get("cpu_ratios", {})
        by_cpu = ", by main-thread CPU per message"
        for base, what, limit, op in (
            ("bare", "≥ 0.9 × bare Pyodide", 0.9, ">="),
            ("raw_js", "≥ 0.75 × raw JS", 0.75, ">="),
            ("pyscript", "ahead of pyscript.WebSocket", 1.0, ">"),
        ):
            if cpu.get(f"{v}/{base}"):
                targets.append(_target(f"{v} {what}{by_cpu}", cpu[f"{v}/{base}"]["median"], limit, op))
        lost = block["variants"][v]["lost_messages"]
        targets.append(_target(f"{v}: no message lost", float(max(lost)) if lost else None, 0, "=="))
    return targets


# ---- item 2b, 3: flush and echo ------------------------------------------------------------------
def _flush(page: dict[str, Any] | None) -> dict[str, Any]:
    steps = _steps(page, "flush")
    variants = {}
    for variant, ss in steps.items():
        ok = [s["result"] for s in ss if not s.get("error") and s.get("result")]
        server = [json.loads(r["server"]) if isinstance(r["server"], str) else r["server"] for r in ok]
        variants[variant] = {
            "runs_ms": [_r(r["ms"], 1) for r in ok],
            "median_ms": _r(median([r["ms"] for r in ok]), 1),
            "max_ms": _r(max((r["ms"] for r in ok), default=None), 1),
            "in_order": all(s.get("in_order") for s in server) and bool(server),
            "delivered": [s.get("count") for s in server],
            "all_queued": all(r.get("all_queued", True) for r in ok),
            "state_while_queueing": sorted(
                {r.get("state_while_queueing") for r in ok if r.get("state_while_queueing")}
            ),
            "server_busy_fraction_max": _r(
                max((s["busy_s"] / (r["ms"] / 1000) for s, r in zip(server, ok, strict=True)), default=None), 4
            ),
        }
    return {"variants": variants, "errors": _errors(steps)}


def _echo(page: dict[str, Any] | None) -> dict[str, Any]:
    steps = _steps(page, "echo")
    variants = {}
    for variant, ss in steps.items():
        ok = [s for s in ss if not s.get("error") and s.get("result")]
        pooled = [x for s in ok for x in s["result"]]
        per_round = [(median(s["result"]), quantile(s["result"], 0.99)) for s in ok]
        variants[variant] = {
            "samples": len(pooled),
            "p50_ms": _r(quantile(pooled, 0.5), 4),
            "p99_ms": _r(quantile(pooled, 0.99), 4),
            "max_ms": _r(max(pooled, default=None), 3),
            "round_p50_ms": [_r(a, 4) for a, _ in per_round],
            "round_p99_ms": [_r(b, 4) for _, b in per_round],
            "server_busy_us_per_echo": _server_echo_busy(ok),
        }
    deltas = {}
    raw = variants.get("raw_js")
    if raw:
        for v, info in variants.items():
            if v != "raw_js" and info["p50_ms"] is not None and raw["p50_ms"] is not None:
                deltas[f"{v}-raw_js"] = {
                    "p50_ms": _r(info["p50_ms"] - raw["p50_ms"], 4),
                    "p99_ms": _r(info["p99_ms"] - raw["p99_ms"], 4),
                }
    return {"variants": variants, "deltas": deltas, "errors": _errors(steps)}


def _server_echo_busy(steps: list[dict[str, Any]]) -> float | None:
    vals = []
    for s in steps:
        e = (s.get("server") or {}).get("echo")
        if e and e.get("count"):
            vals.append(e["busy_s"] / e["count"] * 1e6)
    return _r(median(vals), 2)


# ---- the whole results file ----------------------------------------------------------------------
def analyze(raw: dict[str, Any], total_seconds: float) -> dict[str, Any]:
    pages = {p["key"]: p for p in raw["pages"]}
    primary = pages.get("pyscript")
    cross = pages.get("pyodide")
    cfg = raw["config"]
    env = raw["environment"]
    ua_versions = next((p["versions"] for p in raw["pages"] if p.get("versions")), {})
    versions = {
        "chromium": env["chromium"],
        "chromium_user_agent": ua_versions.get("user_agent"),
        "playwright_chromium": raw["playwright"].get("browser_version"),
        "pyodide": next(
            (p["versions"]["pyodide"] for p in raw["pages"] if (p.get("versions") or {}).get("pyodide")), None
        )
        or env.get("pyodide"),
        "pyscript": env["pyscript"],
        "cross_origin_isolated": ua_versions.get("isolated"),
    }
    benchmarks: list[dict[str, Any]] = []

    def add(obj: dict[str, Any]) -> None:
        obj["versions"] = versions
        benchmarks.append(obj)

    loop = raw["loopback"]
    for bench, title, n, size, metric, unit, lb in (
        ("recv_text", "Receive throughput, text", cfg["recv_n"], cfg["recv_size"], "msgs", "msgs/s", loop["text"]),
        ("recv_bin", "Receive throughput, binary", cfg["bin_n"], cfg["bin_size"], "bytes", "MB/s", loop["binary"]),
    ):
        block = _throughput(primary, bench, n, metric)
        cross_block = _throughput(cross, bench, n, metric)
        server_rate = lb["msgs_per_s"] if metric == "msgs" else lb["msgs_per_s"] * (size + 10) / 1e6
        add(
            {
                "id": bench,
                "item": 1,
                "title": f"{title}: {n} × {size} B pushed by the server",
                "unit": unit,
                "page": "pyscript (all five variants in one interpreter)",
                **block,
                "targets": _recv_targets(block),
                "cross_check_bare_pyodide_page": {
                    k: cross_block[k] for k in ("variants", "ratios", "cpu_ratios", "errors")
                },
                "server": {
                    "loopback_reader_rate": _r(server_rate, 1),
                    "loopback_reader": lb,
                    "note": "a CPython socket reader gets the same burst from the same server at this rate; the "
                    "server's CPU time during a browser run is server_busy_fraction_max of the run",
                },
            }
        )
    dq = [s for s in (primary or {}).get("steps", []) if s.get("id") == "recv_text_default_queue" and s.get("result")]
    if dq:
        r = dq[0]["result"]
        pushed = cfg.get("default_queue_n", r["n"])
        benchmarks[0]["async_for_with_default_max_recv_queue"] = {
            "pushed": pushed,
            "delivered": r["n"],
            "lost": pushed - r["n"],
            "error_events": r.get("errors"),
            "msgs_per_s": _r(r["n"] / (r["ms"] / 1000), 1),
            "step_seconds": _r(dq[0].get("ms", 0) / 1000, 2),
            "main_thread_cpu_s": _r(dq[0].get("cpu_ms", 0) / 1000, 2),
            "note": "max_recv_queue=10000 (default): messages beyond it reach message_cb/listeners but not the "
            "async iterator; each costs an error event and a logged warning",
        }
    send = _throughput(primary, "send", cfg["send_n"], "msgs")
    add(
        {
            "id": "send",
            "item": 2,
            "title": f"Send throughput while open: {cfg['send_n']} × 16 B, until the server holds all",
            "unit": "msgs/s",
            "page": "pyscript",
            **send,
            "targets": [],
            "cross_check_bare_pyodide_page": {
                k: _throughput(cross, "send", cfg["send_n"], "msgs")[k] for k in ("variants", "ratios")
            },
        }
    )
    flush = _flush(primary)
    hs_flush = [v for v in flush["variants"] if v.startswith("heartsock")]
    add(
        {
            "id": "flush",
            "item": 2,
            "title": f"Offline queue: {cfg['flush_n']} sends queued while reconnecting, flushed on open",
            "unit": "ms from OPEN until the server holds all, in order",
            "page": "pyscript",
            **flush,
            "targets": [
                t
                for v in hs_flush
                for t in (
                    _target(f"{v}: flushed within 1 s of open (worst run)", flush["variants"][v]["max_ms"], 1000, "<="),
                    _target(f"{v}: order intact", 1.0 if flush["variants"][v]["in_order"] else 0.0, 1.0, "=="),
                )
            ],
            "cross_check_bare_pyodide_page": _flush(cross)["variants"],
        }
    )
    echo = _echo(primary)
    echo_targets = []
    for v in ("heartsock_cb", "heartsock_recv", "heartsock_cb+patch", "heartsock_recv+patch"):
        d = echo["deltas"].get(f"{v}-raw_js")
        if d:
            echo_targets.append(_target(f"{v} p50 within 0.2 ms of raw JS", d["p50_ms"], 0.2, "<="))
            echo_targets.append(_target(f"{v} p99 within 1 ms of raw JS", d["p99_ms"], 1.0, "<="))
    add(
        {
            "id": "echo",
            "item": 3,
            "title": f"Echo round trip: {cfg['echo_n']} sequential × {cfg['echo_size']} B",
            "unit": "ms",
            "page": "pyscript",
            **echo,
            "targets": echo_targets,
            "cross_check_bare_pyodide_page": _echo(cross),
        }
    )
    pw = raw["playwright"]
    dp = pw["dead_peer"]
    trials = dp["trials"]
    window = dp["window_ms"]
    add(
        {
            "id": "dead_peer",
            "item": 4,
            "title": f"Dead-peer detection: server silent, TCP open; heart_time={cfg['dead_heart']}s, "
            f"pong_timeout={cfg['dead_pong']}s",
            "unit": "ms from the fault to heartsock abandoning the socket",
            "trials_ms": [_r(t["ms"], 1) for t in trials],
            "close_codes": [t["code"] for t in trials],
            "max_ms": _r(max((t["ms"] for t in trials), default=None), 1),
            "window_ms": window,
            "ctl_rtt_ms_max": _r(max((t["ctl_rtt_ms"] for t in trials), default=None), 2),
            "targets": [
                _target(
                    "every trial within heart_time + pong_timeout + 0.5 s",
                    max((t["ms"] for t in trials), default=None),
                    window + 500,
                    "<=",
                ),
                _target("abandoned with code 4000", 1.0 if all(t["code"] == 4000 for t in trials) else 0.0, 1.0, "=="),
            ],
        }
    )
    rc = pw["reconnect"]
    add(
        {
            "id": "reconnect",
            "item": 5,
            "title": "Reconnect latency against the scheduled backoff delay",
            "unit": "ms",
            "drop": {
                "trials": rc["drop"],
                "overhead_ms_median": _r(median([t["overhead_ms"] for t in rc["drop"]]), 2),
                "overhead_ms_max": _r(max((t["overhead_ms"] for t in rc["drop"]), default=None), 2),
            },
            "restart": {
                "trials": rc["restart"],
                "up_to_open_ms_median": _r(median([t["up_to_open_ms"] for t in rc["restart"]]), 1),
                "overhead_ms_median": _r(median([t["overhead_ms"] for t in rc["restart"]]), 2),
                "overhead_ms_max": _r(max((t["overhead_ms"] for t in rc["restart"]), default=None), 2),
            },
            "state_after": rc["state"],
            "targets": [],
        }
    )
    soak = pw["soak"]
    before, after = soak["before"], soak["after"]
    add(
        {
            "id": "soak",
            "item": 6,
            "title": f"Leak soak: {cfg['soak_cycles']} forced reconnect cycles (server TCP abort and client "
            "onreconnect(), alternately), then destroy()",
            "before": before,
            "after": after,
            "delta": {k: after[k] - before[k] for k in before},
            "result": soak["result"],
            "newest_live_proxies": soak["newest_live_proxies"],
            "targets": [
                _target("zero net PyProxies", float(after["pyproxies"] - before["pyproxies"]), 0, "=="),
                _target(
                    "JS heap within +2 MiB (MiB)", (after["js_heap_used"] - before["js_heap_used"]) / MIB, 2.0, "<="
                ),
                _target(
                    "all cycles completed", float(soak["result"]["opens"]), float(soak["result"]["cycles"] + 1), "=="
                ),
            ],
        }
    )
    many = pw["many"]
    hs_end = many["heartsock"]["end"]
    add(
        {
            "id": "many_sockets",
            "item": 7,
            "title": f"{many['sockets']} sockets heartbeating every {many['heart_s']} s for {cfg['many_seconds']} s",
            "unit": "main-thread busy ms per second (CDP Performance.getMetrics TaskDuration)",
            **{k: many[k] for k in ("idle", "raw_js", "bare", "heartsock", "heartsock+patch") if k in many},
            "ratio_heartsock/raw_js": _r(
                many["heartsock"]["task_ms_per_s"] / many["raw_js"]["task_ms_per_s"]
                if many["raw_js"]["task_ms_per_s"]
                else None
            ),
            "cpu_ratio_heartsock/bare": _r(
                many["heartsock"]["cpu_ms_per_s"] / many["bare"]["cpu_ms_per_s"]
                if many.get("bare", {}).get("cpu_ms_per_s")
                else None
            ),
            "cpu_ratio_heartsock/raw_js": _r(
                many["heartsock"]["cpu_ms_per_s"] / many["raw_js"]["cpu_ms_per_s"]
                if many["raw_js"].get("cpu_ms_per_s")
                else None
            ),
            "targets": [
                _target("every heartsock socket still OPEN", float(hs_end["open"]), float(many["sockets"]), "=="),
                _target("no close or reconnect", float(hs_end["close"] + hs_end["reconnect"]), 0, "=="),
            ],
        }
    )
    st = raw["storm"]
    hs = st["heartsock_default"]
    add(
        {
            "id": "storm",
            "item": 8,
            "title": f"Reconnect storm (simulation, CPython, heartsock._core.Machine): {hs['clients']} clients, "
            f"server gone 0–{hs['outage_s']:.0f} s",
            "policies": st,
            "plot": "bench/storm.png",
            "targets": [_target("heartsock peak attempts per 100 ms ≤ 5% of clients", hs["peak_fraction"], 0.05, "<=")],
        }
    )
    add(_startup(raw))
    add(_profile(primary, cross))
    cdp_runs = pw.get("cdp_recv_raw_js") or []
    plain_raw = benchmarks[0]["variants"].get("raw_js", {}).get("median")
    cdp_rate = median([r["n"] / r["ms"] * 1000 for r in cdp_runs]) if cdp_runs else None
    notes = {
        "devtools_cost": {
            "raw_js_recv_msgs_per_s_with_devtools": _r(cdp_rate, 1),
            "raw_js_recv_msgs_per_s_without": plain_raw,
            "ratio": _r(cdp_rate / plain_raw if cdp_rate and plain_raw else None),
            "why": "Playwright keeps the DevTools Network domain on, so the renderer reports every WebSocket frame; "
            "items 1-3 and 9 therefore run in a Chromium with no DevTools client",
        },
        "console_errors": pw.get("console_errors", []),
    }
    met = [t for b in benchmarks for t in b.get("targets", []) if t["met"] is not None and "+patch" not in t["what"]]
    patched = [t for b in benchmarks for t in b.get("targets", []) if t["met"] is not None and "+patch" in t["what"]]
    same_now = [t for t in met if t["what"] in {p["what"].replace("+patch", "") for p in patched}]
    return {
        "meta": {
            "versions": versions,
            "machine": {
                **{k: env[k] for k in ("cpu", "cores", "memory_gib", "os", "host_python")},
                "loadavg_start": [round(x, 2) for x in env.get("loadavg_start", [])],
                "loadavg_end": [round(x, 2) for x in env.get("loadavg_end", [])],
            },
            "config": cfg,
            "patch": raw.get("patch"),
            "total_seconds": round(total_seconds, 1),
            "phase_seconds": {k: round(v, 1) for k, v in raw["phase_seconds"].items()},
            "targets_met": sum(1 for t in met if t["met"]),
            "targets_total": len(met),
            # The targets the patched copy was measured on, met by it and by heartsock now.
            "patched_targets_met": sum(1 for t in patched if t["met"]) if patched else None,
            "patched_targets_total": len(patched) if patched else None,
            "same_targets_met_now": sum(1 for t in same_now if t["met"]) if patched else None,
            "notes": notes,
        },
        "benchmarks": benchmarks,
    }


def _startup(raw: dict[str, Any]) -> dict[str, Any]:
    imports, first_cold, boot = [], [], []
    for p in raw["pages"]:
        for s in p.get("steps", []):
            if s.get("id") == "startup" and s.get("result"):
                if p["key"] != "pyscript":  # PyScript already imported part of the stdlib heartsock needs
                    imports.append(s["result"]["import_ms"])
                first_cold.append(s["result"]["first_open_ms"])
        m = p.get("marks") or {}
        if "pyodide_ready" in m and "script_start" in m and p["key"] != "pyscript":
            boot.append(m["pyodide_ready"] - m["script_start"])
    pyscript_import = [
        s["result"]["import_ms"]
        for p in raw["pages"]
        if p["key"] == "pyscript"
        for s in p.get("steps", [])
        if s.get("id") == "startup" and s.get("result")
    ]
    warm = {"raw_js": [], "heartsock": []}
    for p in raw["pages"]:
        if p["key"] not in ("pyscript", "pyodide"):
            continue
        for s in p.get("steps", []):
            if s.get("id") == "first_open" and s.get("result") is not None:
                warm[s["variant"]].append(s["result"])
    return {
        "id": "startup",
        "item": 9,
        "title": "Import and first-open time in Pyodide",
        "unit": "ms",
        "import_heartsock_cold_ms": [_r(x, 1) for x in imports],
        "import_heartsock_cold_ms_median": _r(median(imports), 1),
        "import_heartsock_in_pyscript_page_ms": [_r(x, 1) for x in pyscript_import],
        "first_socket_open_cold_ms": [_r(x, 2) for x in first_cold],
        "first_socket_open_cold_ms_median": _r(median(first_cold), 2),
        "open_warm_ms": {k: [_r(x, 2) for x in v] for k, v in warm.items()},
        "open_warm_ms_median": {k: _r(median(v), 2) for k, v in warm.items()},
        "pyodide_boot_ms_median": _r(median(boot), 0),
        "targets": [],
    }


def _profile(primary: dict[str, Any] | None, cross: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, page in (("pyscript", primary), ("pyodide", cross)):
        for s in (page or {}).get("steps", []):
            if s.get("id") == "profile" and s.get("result"):
                out.setdefault(s["variant"], {})[name] = {
                    k: _r(v, 3) for k, v in s["result"]["us_per_msg"].items() if v is not None
                }
    return {
        "id": "profile",
        "item": 1,
        "title": "Receive path, µs per message by layer (performance.now() spans; JS calls the handler proxy "
        "directly with a message-shaped object, then Python layers in isolation)",
        "unit": "µs per message",
        "layers": out,
        "targets": [],
    }
