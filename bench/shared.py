"""Shared sockets (``shared=``) in headless Chromium: hand-over time and relay cost.

Part of ``make bench`` (the "shared" rows); ``python -m devtools.measure_shared`` runs it
alone and prints the figures.

* **Hand-over**: three tabs of one profile share a ``resume=True`` socket; the leader tab
  is closed; measured from ``page.close()`` to the next tab holding the lock (its state
  event, ``Date.now()``) and to its socket being OPEN again (the session resumed).
  Repeated, a fresh tab joining after each round.
* **Relay cost**: the server sends a burst of messages; the time from the first to the
  last one in a private socket's tab, in a leader's tab (which also posts each one to the
  channel) and in a follower's tab (which gets them from the channel), per message.
"""

from __future__ import annotations

import time
from typing import Any

from devtools.browser import chromium
from devtools.static import ROOT, Mounts, StaticServer
from tests.browser.test_shared import CountingServer, boot

__all__ = ["run"]


def run(rounds: int, text_n: int, binary_n: int) -> dict[str, Any]:
    """``rounds`` hand-overs; relays of ``text_n`` 100-byte texts and ``binary_n`` 64 KiB
    binaries. Returns ``{"handover_ms": [[lock, open], ...], "relay_us": {"text": {...},
    "binary": {...}}}`` (µs per message for the private, leader and follower tabs)."""
    mounts = Mounts.standard(www=ROOT / "www", extra={"/testpages/": ROOT / "tests/browser/pages"})
    with StaticServer(mounts) as static, chromium() as browser:
        handover = _handover(browser, static, rounds)
        relay = _relay(browser, static, {"text": ("x" * 100, text_n), "binary": (bytes(65536), binary_n)})
    return {
        "handover_ms": [[round(lock, 1), round(reopen, 1)] for lock, reopen in handover],
        "relay_us": relay,
    }


def _handover(browser: Any, static: StaticServer, rounds: int) -> list[tuple[float, float]]:
    server = CountingServer(resume=True)
    context = browser.new_context()
    options = {"resume": True, "reconnect_time": 0.05, "backoff": "fixed", "reconnect_count": -1}
    tabs = [boot(context, static) for _ in range(3)]
    results = []
    try:
        for py in tabs:
            py.call("shared.join", server.url, "handover", **options)
        for _ in range(rounds):
            leader, nxt = tabs[0], tabs[1]
            closed_at = time.time() * 1000
            leader.page.close()
            status = nxt.call("shared.wait_leading_open", 10)
            lead_at = next(at for at, _, leading in status["state_at"] if leading)
            open_at = [at for at, state, leading in status["state_at"] if leading and state == "OPEN"][-1]
            results.append((lead_at - closed_at, open_at - closed_at))
            tabs = tabs[1:] + [boot(context, static)]
            tabs[-1].call("shared.join", server.url, "handover", **options)
    finally:
        context.close()
        server.close()
    return results


def _relay(
    browser: Any, static: StaticServer, bursts: dict[str, tuple[str | bytes, int]]
) -> dict[str, dict[str, float]]:
    """For each burst (``name: (payload, count)``), µs per message in a private tab, a
    leader's and a follower's; the same three tabs serve every burst."""
    server = CountingServer()
    context = browser.new_context()
    alone = browser.new_context()
    try:
        leader, follower = boot(context, static), boot(context, static)
        private = boot(alone, static)
        leader.call("shared.join", server.url, "relay")
        follower.call("shared.join", server.url, "relay")
        private.call("shared.join", server.url, None)
        _wait_peers(server, 2)
        results: dict[str, dict[str, float]] = {}
        for name, (payload, count) in bursts.items():
            out: dict[str, float] = {}
            private.call("shared.expect", count)
            server.blast(1, payload, count)  # peers[0] is the leader's connection, peers[1] the private one
            first, last = private.call("shared.marks", 60)
            out["private"] = (last - first) / (count - 1) * 1000  # µs per message
            for py in (leader, follower):
                py.call("shared.expect", count)
            server.blast(0, payload, count)
            lead = leader.call("shared.marks", 60)
            follow = follower.call("shared.marks", 60)
            out["leader"] = (lead[1] - lead[0]) / (count - 1) * 1000
            out["follower"] = (follow[1] - follow[0]) / (count - 1) * 1000
            out["follower lag at the end (ms)"] = follow[1] - lead[1]
            results[name] = out
        return results
    finally:
        context.close()
        alone.close()
        server.close()


def _wait_peers(server: CountingServer, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(server.peers) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} connections not reached")
        time.sleep(0.02)
