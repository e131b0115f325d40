"""A reconnect storm, simulated on CPython: thousands of real ``heartsock.Socket``s on fake clocks.

Each client is a :class:`heartsock.Socket` on its own :class:`heartsock.testing.FakeRuntime`
(the public test runtime: a manual clock and a transport whose network we play). All are
connected and settled (up longer than ``min_uptime``) when the server vanishes at t = 0:
every connection closes with 1006. While the server is down (0 ≤ t < ``outage``) an
attempt is refused after ``fail_after`` seconds; from t = ``outage`` on, an attempt opens
after ``open_after``. Heartbeats are answered after 1 ms while the server is up. One event
queue orders every client's network events and timer deadlines (``FakeRuntime.armed``).

Policies: heartsock's defaults (full-jitter exponential backoff) and the reference
library's fixed delay (``backoff="fixed"``, ``reconnect_time`` 5 s), every other option
at heartsock's default (``reconnect_count`` 5, like the reference).
"""

from __future__ import annotations

import heapq
import random
from pathlib import Path
from typing import Any

from heartsock import Socket, State
from heartsock.testing import FakeRuntime
from heartsock.wire import HEARTBEAT_PING, HEARTBEAT_PONG

URL = "ws://storm.invalid/"
WINDOW = 0.1  # seconds: "attempts in any 100 ms window"
START = -6.0  # clients connect here, so they have been up longer than min_uptime (5 s) at t = 0
POLICIES: dict[str, dict[str, Any]] = {"heartsock_default": {}, "reference_fixed": {"backoff": "fixed"}}


def peak_in_window(times: list[float], window: float = WINDOW) -> int:
    """The most of the sorted ``times`` in any half-open window ``[t, t + window)``."""
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window + 1e-12:
            j += 1
        best = max(best, i - j + 1)
    return best


def _quantile(values: list[float], q: float) -> float | None:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else None


def simulate(
    policy: str,
    clients: int,
    *,
    outage: float = 10.0,
    fail_after: float = 0.002,
    open_after: float = 0.002,
    seed: int = 8,
) -> dict[str, Any]:
    """Run one policy; return the summary numbers plus the attempt and reconnect times."""
    rng = random.Random(seed)
    runtimes = [FakeRuntime(now=START, rand=rng.random) for _ in range(clients)]
    sockets = [Socket(URL, runtime=rt, **POLICIES[policy]) for rt in runtimes]
    queue: list[tuple[float, int, int, str, int]] = []  # (time, order, client, kind, socket id)
    order = 0
    seen = [0] * clients  # transport log entries already handled
    armed: list[float | None] = [None] * clients
    attempts: list[float] = []
    reopened: list[float | None] = [None] * clients
    ended = [False] * clients  # reconnected after the outage, or gave up

    def push(t: float, client: int, kind: str, sid: int = 0) -> None:
        nonlocal order
        order += 1
        heapq.heappush(queue, (t, order, client, kind, sid))

    def react(c: int) -> None:
        """Answer what client ``c`` just did (opens, heartbeats) and follow its timer."""
        rt = runtimes[c]
        now, up = rt.now, rt.now < 0 or rt.now >= outage
        log = rt.net.log
        for kind, sid, *rest in log[seen[c] :]:
            assert isinstance(sid, int)
            if kind == "open":
                if now >= 0:
                    attempts.append(now)
                push(now + (open_after if up else fail_after), c, "opened" if up else "refused", sid)
            elif kind == "send" and rest == [HEARTBEAT_PING] and up:
                push(now + 0.001, c, "pong", sid)
        seen[c] = len(log)
        deadline = min(rt.armed, default=None)
        if deadline != armed[c]:
            armed[c] = deadline
            if deadline is not None:
                push(deadline, c, "timer")

    for c in range(clients):
        react(c)
        push(0.0, c, "lost")
    pending = clients
    while queue and pending:
        t, _, c, kind, sid = heapq.heappop(queue)
        rt, sock = runtimes[c], sockets[c]
        if kind == "timer" and armed[c] != t:
            continue  # superseded
        if kind == "timer":
            armed[c] = None
        rt.advance(max(0.0, t - rt.now))
        net = rt.net
        live = net.sockets.get(sid)
        if kind == "lost":
            net.closed_by_peer(net.last_id, 1006)
        elif kind == "opened" and live is not None and live.ready_state == 0:
            net.opened(sid)
        elif kind == "refused" and live is not None and live.ready_state == 0:
            net.error(sid)
            net.closed_by_peer(sid, 1006)
        elif kind == "pong" and live is not None and live.ready_state == 1:
            net.message(sid, HEARTBEAT_PONG)
        if not ended[c] and t > 0 and sock.state in (State.OPEN, State.CLOSED):
            ended[c] = True
            pending -= 1
            if sock.state is State.OPEN:
                reopened[c] = t
        react(c)
    for sock in sockets:
        sock.destroy()
    attempts.sort()
    back = sorted(t - outage for t in reopened if t is not None)
    options = sockets[0].options
    return {
        "policy": policy,
        "backoff": options.backoff if isinstance(options.backoff, str) else "callable",
        "reconnect_time": options.reconnect_time,
        "reconnect_count": options.reconnect_count,
        "clients": clients,
        "outage_s": outage,
        "attempts": len(attempts),
        "peak_per_100ms": peak_in_window(attempts),
        "peak_fraction": peak_in_window(attempts) / clients,
        "reconnected": len(back),
        "gave_up": clients - len(back),
        "reconnect_p50_s": _quantile(back, 0.5),
        "reconnect_p99_s": _quantile(back, 0.99),
        "last_reconnect_s": back[-1] if back else None,
        "_attempts": attempts,
        "_back": back,
    }


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """Attempts per 100 ms over time for each policy, and the share reconnected, to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outage, clients = results[0]["outage_s"], results[0]["clients"]
    end = min(120.0, max([20.0] + [outage + (r["last_reconnect_s"] or 0) + 2 for r in results]))
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    styles = {
        "heartsock_default": ("tab:blue", "heartsock default (full-jitter exponential)"),
        "reference_fixed": ("tab:red", "reference: fixed 5 s"),
    }
    for r in results:
        color, label = styles[r["policy"]]
        bins = [0] * (int(end / WINDOW) + 1)
        for t in r["_attempts"]:
            if t < end:
                bins[int(t / WINDOW)] += 1
        share = f"peak {r['peak_per_100ms']} / 100 ms ({100 * r['peak_fraction']:.1f}%)"
        ax.step(
            [i * WINDOW for i in range(len(bins))],
            [max(b, 0.8) for b in bins],
            where="post",
            color=color,
            label=f"{label}: {share}",
        )
        back = [outage + t for t in r["_back"]]
        ax2.plot(
            [0.0, outage, *back],
            [0.0, 0.0] + [100 * (i + 1) / clients for i in range(len(back))],
            color=color,
            label=label,
        )
    ax.axhline(0.05 * clients, color="gray", ls="--", lw=1, label="target: 5% of clients per 100 ms")
    for a in (ax, ax2):
        a.axvline(outage, color="green", ls=":", lw=1)
        a.grid(alpha=0.3)
    ax.set(yscale="log", ylim=(0.8, clients * 2), ylabel="connection attempts per 100 ms")
    ax.set_title(
        f"Reconnect storm: {clients} clients lose the server at t=0 s, server back at t={outage:.0f} s (simulation)"
    )
    ax.legend(loc="upper right", fontsize=8)
    ax2.set(ylabel="% of clients reconnected", xlabel="time (s)", xlim=(0, end))
    ax2.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(clients: int, png: Path | None) -> dict[str, Any]:
    """Every policy; the plot to ``png`` if given; the summaries without the time lists."""
    results = [simulate(policy, clients) for policy in POLICIES]
    if png is not None:
        png.parent.mkdir(parents=True, exist_ok=True)
        plot(results, png)
    return {r["policy"]: {k: v for k, v in r.items() if not k.startswith("_")} for r in results}
