"""From the raw results of a run (``bench/out/results.json``) to the committed ``bench/summary.json``.

The summary holds every number the README and ``bench/PERFORMANCE.md`` show, and nothing
else: per benchmark, ``{metric: {variant: value}}``. Rates and costs are medians over
rounds; ratios (``…_vs_raw_js``, ``…_vs_bare``, ``…_vs_pyscript``) are medians of per-round
ratios between runs made next to each other, so they are not the ratios of the medians;
``…_min`` and ``…_max`` are the lowest and highest of those per-round ratios (the spread).
``recv_text_devtools`` and ``recv_bin_devtools`` come from the page Playwright drives.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from typing import Any

Steps = dict[str, dict[int, dict[str, Any]]]  # variant → round → step
BASES = ("raw_js", "bare", "pyscript")
SPREAD = ("heartsock", "heartsock_iter", "resume")  # the variants whose per-round ratios get a min and max


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def quantile(values: list[float], q: float) -> float | None:
    """Linear-interpolated quantile, ``q`` in [0, 1]."""
    if not values:
        return None
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def by_variant(steps: list[dict[str, Any]], bench: str) -> Steps:
    out: Steps = defaultdict(dict)
    for s in steps:
        if s["id"] == bench and s.get("result") is not None and not s.get("error"):
            out[s.get("variant", "")][s.get("round", 0)] = s
    return dict(out)


def per_round(steps: Steps, value: Any) -> dict[str, dict[int, float]]:
    """variant → round → ``value(step)``."""
    return {v: {r: value(s) for r, s in rounds.items()} for v, rounds in steps.items()}


def metric(
    out: dict[str, Any], name: str, values: dict[str, dict[int, float]], digits: int, ratios: tuple[str, ...] = BASES
) -> None:
    """``out[name]`` = median per variant; ``out[name_vs_base]`` = median of per-round ratios."""
    out[name] = {v: _r(median(list(rs.values())), digits) for v, rs in values.items()}
    for base in ratios:
        if base not in values:
            continue
        paired = {
            v: [rs[r] / values[base][r] for r in rs if values[base].get(r)] for v, rs in values.items() if v != base
        }
        out[f"{name}_vs_{base}"] = {v: _r(median(p)) for v, p in paired.items() if p}
        if base != "pyscript":
            for suffix, f in (("_min", min), ("_max", max)):
                out[f"{name}_vs_{base}{suffix}"] = {v: _r(f(p)) for v, p in paired.items() if p and v in SPREAD}


def throughput(steps: list[dict[str, Any]], bench: str, expected: int, unit: str) -> dict[str, Any]:
    s = by_variant(steps, bench)
    out: dict[str, Any] = {}
    rate = BASES + ("heartsock",)
    if unit == "MB/s":
        metric(out, "mb_per_s", per_round(s, lambda x: x["result"]["bytes"] / x["result"]["ms"] / 1000), 1, rate)
    else:
        metric(out, "msgs_per_s", per_round(s, lambda x: x["result"]["n"] / x["result"]["ms"] * 1000), 0, rate)
    cpu = {
        v: rs
        for v, rs in per_round(s, lambda x: x.get("cpu_ms", 0) * 1000 / x["result"]["n"]).items()
        if all(rs.values())
    }
    metric(out, "cpu_us", cpu, 2, ("raw_js", "bare"))
    out["lost"] = {v: max(expected - x["result"]["n"] for x in rs.values()) for v, rs in s.items()}
    out["early"] = {v: max(x["result"].get("early", 0) for x in rs.values()) for v, rs in s.items()}
    return out


def analyze(raw: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The summary of one run; the ``previous`` summary's ``server_choice`` is carried over."""
    cfg, env = raw["config"], raw["environment"]
    main = raw["pages"]["pyscript"]
    steps = main["steps"]
    done = main.get("done") or {}
    errors = [
        f"{k} {s['id']} {s.get('variant', '')}: {s['error'][:300]}"
        for k, p in raw["pages"].items()
        for s in p["steps"]
        if s.get("error")
    ]
    errors += [f"{k}: {p['error']}" for k, p in raw["pages"].items() if p.get("error")]
    summary: dict[str, Any] = {
        "meta": {
            "date": env["date"],
            "pyodide": done.get("pyodide"),
            "pyscript": env["pyscript"],
            "chromium": env["chromium"],
            "cpu": env["cpu"],
            "cores": env["cores"],
            "os": env["os"],
            "note": raw.get("note", ""),
            "loadavg_start": round(env["loadavg_start"][0], 2),
            "loadavg_end": round(env["loadavg_end"][0], 2),
            "rounds": cfg["rounds"],
            "seconds": round(raw["seconds"]["total"]),
            "cross_origin_isolated": done.get("isolated"),
            "errors": errors,
        },
        "config": cfg,
        "recv_text": throughput(steps, "recv_text", cfg["recv_n"], "msgs/s"),
        "recv_bin": throughput(steps, "recv_bin", cfg["bin_n"], "MB/s"),
    }
    devtools = raw["pages"].get("devtools", {}).get("steps", [])
    summary["recv_text_devtools"] = throughput(devtools, "recv_text", cfg["devtools_recv_n"], "msgs/s")
    summary["recv_bin_devtools"] = throughput(devtools, "recv_bin", cfg["bin_n"], "MB/s")
    send = by_variant(steps, "send")
    summary["send"] = {}
    metric(summary["send"], "msgs_per_s", per_round(send, lambda x: x["result"]["n"] / x["result"]["ms"] * 1000), 0)
    call_us = per_round(send, lambda x: x["result"]["loop_ms"] * 1000 / x["result"]["n"])
    metric(summary["send"], "call_us", call_us, 2, ("raw_js", "bare"))
    summary["send"]["in_order"] = {v: all(x["result"]["in_order"] for x in rs.values()) for v, rs in send.items()}
    flush = by_variant(steps, "flush")
    summary["flush"] = {
        "ms": {v: _r(median([x["result"]["ms"] for x in rs.values()]), 1) for v, rs in flush.items()},
        "max_ms": {v: _r(max(x["result"]["ms"] for x in rs.values()), 1) for v, rs in flush.items()},
        "in_order": {
            v: all(x["result"]["in_order"] and x["result"]["count"] == cfg["flush_n"] for x in rs.values())
            for v, rs in flush.items()
        },
        "queued_while": ", ".join(sorted({x["result"]["state"] for x in flush.get("heartsock", {}).values()})),
    }
    echo = {v: [t for x in rs.values() for t in x["result"]] for v, rs in by_variant(steps, "echo").items()}
    summary["echo"] = {
        q: {v: _r(quantile(ts, p), 4) for v, ts in echo.items()} for q, p in (("p50_ms", 0.5), ("p99_ms", 0.99))
    }
    for q in ("p50_ms", "p99_ms"):
        e = summary["echo"][q]
        summary["echo"][f"{q}_over_raw_js"] = {
            v: _r(x - e["raw_js"], 4) for v, x in e.items() if v != "raw_js" and x is not None
        }
    opens = by_variant(steps, "open")
    summary["open"] = {"ms": {v: _r(median([x["result"] for x in rs.values()]), 2) for v, rs in opens.items()}}
    cold = [s["result"] for k, p in raw["pages"].items() if k.startswith("cold") for s in p["steps"] if s.get("result")]
    summary["startup"] = {
        "import_ms": _r(median([c["import_ms"] for c in cold]), 1),
        "first_open_ms": _r(median([c["open_ms"] for c in cold]), 1),
        "pyodide_boot_ms": _r(
            median([(p.get("done") or {}).get("boot_ms", 0) for k, p in raw["pages"].items() if k.startswith("cold")]),
            0,
        ),
    }
    busy = [
        s["server_cpu_ms"] / s["ms"]
        for s in steps
        if s["id"] in ("recv_text", "recv_bin", "send", "echo") and s.get("ms")
    ]
    summary["server"] = {"busy_max": _r(max(busy, default=None), 3)}
    summary["sessions"] = _sessions(steps)
    single = {s["id"]: s["result"] for s in steps if s.get("result") is not None and "variant" not in s}
    summary.update(_faults(single, by_variant(steps, "many"), cfg))
    large = [p["steps"] for k, p in sorted(raw["pages"].items()) if k.startswith("large")]
    summary["many_large"] = _many([by_variant(ss, "many_large") for ss in large])
    summary["storm"] = {
        p: {k: (_r(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for p, r in raw["storm"].items()
    }
    summary["shared"] = _shared(raw.get("shared") or {})
    if raw.get("shared", {}).get("error"):
        errors.append(f"shared: {raw['shared']['error']}")
    if previous and "server_choice" in previous:
        summary["server_choice"] = previous["server_choice"]
    return summary


def _shared(raw: dict[str, Any]) -> dict[str, Any]:
    """Hand-over times (median and max over the rounds, ms) and relay costs (µs per message)."""
    handover = raw.get("handover_ms") or []

    def spread(values: list[float]) -> dict[str, float | None] | None:
        return {"median": _r(median(values), 0), "max": _r(max(values), 0)} if values else None

    return {
        "rounds": len(handover),
        "lock_ms": spread([h[0] for h in handover]),
        "open_ms": spread([h[1] for h in handover]),
        "relay_us": {
            kind: {tab: _r(us, 1) for tab, us in row.items()} for kind, row in (raw.get("relay_us") or {}).items()
        },
    }


def _faults(single: dict[str, Any], many: Steps, cfg: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    dp = single.get("dead_peer")
    if dp:
        ms = [t["ms"] for t in dp["trials"]]
        codes = sorted({t["code"] for t in dp["trials"]})
        late = max(ms) - dp["window_ms"]
        out["dead_peer"] = {
            "min_ms": _r(min(ms), 0),
            "max_ms": _r(max(ms), 0),
            "window_ms": dp["window_ms"],
            "late_ms": _r(late, 0),
            "codes": codes,
        }
    rc = single.get("reconnect")
    if rc:
        out["reconnect"] = {f"{k}_{f.__name__}_ms": _r(f(rc[k]), 1) for k in ("drop", "restart") for f in (median, max)}
        out["reconnect"]["state"] = rc["state"]
    out["many"] = _many([many])
    before, after, soak = single.get("memory_before"), single.get("memory_after"), single.get("soak")
    if before and after and soak:
        out["soak"] = {
            "cycles": soak["cycles"],
            "missed_opens": soak["cycles"] + 1 - soak["opens"],
            "pyproxies": after["pyproxies"] - before["pyproxies"],
            "js_heap_mib": _r((after["js_heap"] - before["js_heap"]) / 2**20, 2),
            "py_objects": after["py_objects"] - before["py_objects"],
            "wasm_mib": _r((after["wasm_memory"] - before["wasm_memory"]) / 2**20, 1),
        }
    return out


def _many(pages: list[Steps]) -> dict[str, Any]:
    """Sockets heartbeating, from one page or from pages holding at the same time (the CPU
    readings of the first page cover every renderer; the open sockets add up)."""
    out: dict[str, Any] = {"cpu_ms_per_s": {}, "heartbeats_per_s": {}, "still_open": {}}
    for v, rounds in (pages[0] if pages else {}).items():
        r = rounds[0]["result"]
        b, a = r["before"], r["after"]
        span = a["t"] - b["t"]
        if b["renderer_ns"] is not None and a["renderer_ns"] is not None:
            out["cpu_ms_per_s"][v] = _r((a["renderer_ns"] - b["renderer_ns"]) / 1e6 / span, 2)
        out["heartbeats_per_s"][v] = _r((a["heartbeats"] - b["heartbeats"]) / span, 1)
        if r["stopped"] is not None:
            out["still_open"][v] = sum(p[v][0]["result"]["stopped"] for p in pages if v in p)
    cpu = out["cpu_ms_per_s"]
    for base in ("raw_js", "bare"):
        if cpu.get(base) and "heartsock" in cpu:
            out[f"cpu_vs_{base}"] = _r(cpu["heartsock"] / cpu[base], 2)
    return out


def _sessions(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """heartsock with ``resume=True`` against without: rates, echo, and the frame bytes the
    session servers counted (``ack_share``: acks' share of all bytes with sessions, per
    benchmark; ``overhead``: all bytes with sessions over all bytes without, minus 1)."""
    out: dict[str, Any] = {}
    for what in ("send", "recv"):
        s = by_variant(steps, f"session_{what}")
        rate = per_round(s, lambda x: x["result"]["n"] / x["result"]["ms"] * 1000)
        metric(out, f"{what}_msgs_per_s", rate, 0, ("plain",))
    recv = by_variant(steps, "session_recv")
    out["lost"] = {v: max(x["result"]["sent"] - x["result"]["n"] for x in rs.values()) for v, rs in recv.items()}
    out["in_order"] = {
        v: all(x["result"]["in_order"] for x in rs.values()) for v, rs in by_variant(steps, "session_send").items()
    }
    rtts = {
        v: [t for x in rs.values() for t in x["result"]["rtts"]] for v, rs in by_variant(steps, "session_echo").items()
    }
    for q, p in (("p50_ms", 0.5), ("p99_ms", 0.99)):
        out[f"echo_{q}"] = {v: _r(quantile(ts, p), 4) for v, ts in rtts.items()}
    wire: dict[str, Counter[str]] = defaultdict(Counter)  # "variant what" → frame bytes
    for st in steps:
        if st["id"].startswith("session_") and "wire" in st and not st.get("error"):
            wire[f"{st['variant']} {st['id'][8:]}"].update(st["wire"])
    total = {k: w["in"] + w["out"] for k, w in wire.items()}
    out["ack_share"] = {
        k.split()[1]: _r((w["ack_in"] + w["ack_out"]) / total[k], 4) for k, w in wire.items() if k.startswith("resume")
    }
    out["wire_bytes"] = {v: sum(n for k, n in total.items() if k.startswith(v)) for v in ("plain", "resume")}
    if out["wire_bytes"]["plain"]:
        out["overhead"] = _r(out["wire_bytes"]["resume"] / out["wire_bytes"]["plain"] - 1, 4)
    return out
