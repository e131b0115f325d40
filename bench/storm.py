"""Item 8: a reconnect storm, simulated on CPython with heartsock's own core and a fake clock.

``clients`` copies of :class:`heartsock._core.Machine` are connected and settled (up for
longer than ``min_uptime``) when the server vanishes at t = 0: every connection closes
with 1006. While the server is down (0 ≤ t < ``outage``) an attempt is refused after
``fail_after`` seconds; from t = ``outage`` on an attempt opens after ``open_after``.
Heartbeats are answered after 1 ms while the server is up. The simulation feeds each
machine exactly the inputs the browser adapter would (``socket_opened``,
``socket_closed``, ``socket_message``, ``handle_timer`` at its ``next_deadline()``) and
records every ``Open`` the core asks for.

Policies compared: heartsock's defaults (full-jitter exponential backoff) and the
reference library's fixed delay (``backoff="fixed"``, ``reconnect_time`` 5 s), both with
every other option at heartsock's default (``reconnect_count`` 5, like the reference).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from heartsock import _core
from heartsock.options import parse_options
from heartsock.state import State

URL = "ws://storm.invalid/"
WINDOW = 0.1  # seconds: the "any 100 ms window" of the target
START = -6.0  # clients connect here, so they have been up > min_uptime (5 s) at t = 0

POLICIES: dict[str, dict[str, Any]] = {
    "heartsock_default": {},
    "reference_fixed": {"backoff": "fixed"},
}


def peak_in_window(times: list[float], window: float = WINDOW) -> tuple[int, float]:
    """The most events in any half-open window ``[t, t + window)``, and where it starts."""
    best, at, j = 0, 0.0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window + 1e-12:
            j += 1
        if i - j + 1 > best:
            best, at = i - j + 1, times[j]
    return best, at


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def simulate(
    policy: str,
    clients: int,
    *,
    outage: float = 10.0,
    fail_after: float = 0.002,
    open_after: float = 0.002,
    seed: int = 8,
    horizon: float = 900.0,
) -> dict[str, Any]:
    """Run one policy; return attempt times, reconnect times and the summary numbers."""
    options = parse_options(URL, POLICIES[policy])
    rng = random.Random(seed)
    machines = [_core.Machine(options, rng.random) for _ in range(clients)]
    queue: list[tuple[float, int, int, str, int]] = []  # (time, seq, client, kind, socket id or timer generation)
    generation = [0] * clients
    armed: list[float | None] = [None] * clients
    counter = 0
    attempts: list[float] = []
    reopened: list[float | None] = [None] * clients
    gave_up = 0
    pending = clients  # not yet reconnected after the outage, nor given up

    def push(t: float, client: int, kind: str, arg: int) -> None:
        nonlocal counter
        counter += 1
        heapq.heappush(queue, (t, counter, client, kind, arg))

    def server_up(t: float) -> bool:
        return t < 0 or t >= outage

    def drain(client: int, now: float) -> None:
        nonlocal gave_up, pending
        m = machines[client]
        while (out := m.pop_output()) is not None:
            if isinstance(out, _core.Open):
                if now >= 0:
                    attempts.append(now)
                if server_up(now):
                    push(now + open_after, client, "opened", out.socket_id)
                else:
                    push(now + fail_after, client, "refused", out.socket_id)
            elif isinstance(out, _core.Send) and out.heartbeat and server_up(now):
                push(now + 0.001, client, "pong", out.socket_id)
            elif isinstance(out, _core.GaveUp):
                gave_up += 1
                if now >= 0:
                    pending -= 1
        deadline = m.next_deadline()
        if deadline is not None and (armed[client] is None or deadline < (armed[client] or 0)):
            generation[client] += 1
            armed[client] = deadline
            push(max(deadline, now), client, "timer", generation[client])
        elif deadline is None:
            armed[client] = None
            generation[client] += 1

    for c, m in enumerate(machines):
        m.connect(START)
        drain(c, START)
    for c in range(clients):
        push(0.0, c, "lost", 0)

    while queue:
        t, _, c, kind, arg = heapq.heappop(queue)
        if t > horizon:
            break
        m = machines[c]
        if kind == "timer":
            if arg != generation[c]:
                continue
            armed[c] = None
            m.handle_timer(t)
        elif kind == "opened":
            was_open = m.state is State.OPEN
            m.socket_opened(arg, t)
            if t >= outage and not was_open and m.state is State.OPEN and reopened[c] is None:
                reopened[c] = t
                pending -= 1
        elif kind == "refused":
            m.socket_error(arg, t)
            m.socket_closed(arg, 1006, "", False, t)
        elif kind == "pong":
            m.socket_message(arg, "pong", t)
        elif kind == "lost":
            m.socket_closed(m.socket_id, 1006, "", False, t)
        drain(c, t)
        if pending == 0:
            break

    attempts.sort()
    back = [t - outage for t in reopened if t is not None]
    peak, peak_at = peak_in_window(attempts)
    after = [t for t in attempts if t >= outage]
    peak_after, peak_after_at = peak_in_window(after) if after else (0, None)
    return {
        "policy": policy,
        "options": {
            "backoff": options.backoff if isinstance(options.backoff, str) else "callable",
            "reconnect_time": options.reconnect_time,
            "reconnect_max_time": options.reconnect_max_time,
            "reconnect_count": options.reconnect_count,
            "min_uptime": options.min_uptime,
        },
        "clients": clients,
        "outage_s": outage,
        "attempts": len(attempts),
        "peak_per_100ms": peak,
        "peak_at_s": peak_at,
        "peak_fraction": peak / clients,
        "peak_after_back_per_100ms": peak_after,
        "peak_after_back_at_s": peak_after_at,
        "reconnected": len(back),
        "gave_up": gave_up,
        "all_reconnected_after_s": max(back) if len(back) == clients else None,
        "last_reconnect_after_s": max(back) if back else None,
        "reconnect_p50_s": _quantile(back, 0.5),
        "reconnect_p99_s": _quantile(back, 0.99),
        "_attempt_times": attempts,
        "_reconnect_times": sorted(t + outage for t in back),
    }


def histogram(times: Iterable[float], end: float, width: float = WINDOW) -> list[int]:
    bins = [0] * (int(end / width) + 1)
    for t in times:
        if 0 <= t < end:
            bins[int(t / width)] += 1
    return bins


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """Attempts per 100 ms over time for each policy (and the share reconnected), to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    end = max(
        [r["outage_s"] + 5 for r in results] + [max(r["_reconnect_times"], default=0) + 2 for r in results] + [20.0]
    )
    end = min(end, 120.0)
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    colors = {"heartsock_default": "tab:blue", "reference_fixed": "tab:red"}
    labels = {
        "heartsock_default": "heartsock default (full-jitter exponential)",
        "reference_fixed": "reference: fixed 5 s",
    }
    for r in results:
        bins = histogram(r["_attempt_times"], end)
        xs = [i * WINDOW for i in range(len(bins))]
        name = r["policy"]
        ax.step(
            xs,
            [max(b, 0.8) for b in bins],
            where="post",
            color=colors.get(name),
            label=f"{labels.get(name, name)}: peak {r['peak_per_100ms']} / 100 ms ({100 * r['peak_fraction']:.1f}%)",
        )
        done = r["_reconnect_times"]
        ax2.plot(
            [0.0, r["outage_s"]] + done,
            [0.0, 0.0] + [100 * (i + 1) / r["clients"] for i in range(len(done))],
            color=colors.get(name),
            label=labels.get(name, name),
        )
    clients = results[0]["clients"]
    ax.axhline(0.05 * clients, color="gray", ls="--", lw=1, label="target: 5% of clients per 100 ms")
    for a in (ax, ax2):
        a.axvline(results[0]["outage_s"], color="green", ls=":", lw=1)
        a.grid(alpha=0.3)
    ax.set_yscale("log")
    ax.set_ylim(0.8, clients * 2)
    ax.set_ylabel("connection attempts per 100 ms")
    ax.set_title(f"Reconnect storm: {clients} clients lose the server at t=0 s, server back at t=10 s (simulation)")
    ax.legend(loc="upper right", fontsize=8)
    ax2.set_ylabel("% of clients reconnected")
    ax2.set_xlabel("time (s)")
    ax2.set_xlim(0, end)
    ax2.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(clients: int, png: Path | None) -> dict[str, Any]:
    results = [simulate(policy, clients) for policy in POLICIES]
    if png is not None:
        plot(results, png)
    return {r["policy"]: {k: v for k, v in r.items() if not k.startswith("_")} for r in results}
