"""A simulated market for the data-feed demo: a few symbols doing random walks.

The feed publishes one *round* per period: a quote for every symbol, a few
milliseconds apart, then quiet until the next round (like a feed that conflates
updates into snapshots). The quiet part matters for the demo: heartsock's client sends
its heartbeat only after ``heart_time`` without inbound traffic, so a dashboard with
``heart_time`` shorter than the gap measures its heartbeat round trip once per round.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

#: Symbols and their opening prices.
SYMBOLS: dict[str, float] = {
    "HSK": 128.40,
    "PYO": 42.10,
    "WASM": 311.75,
    "ASYN": 76.30,
    "SOCK": 19.85,
}


@dataclass
class Market:
    """Random-walk prices; :meth:`round` moves every symbol once and returns the ticks."""

    rng: random.Random = field(default_factory=random.Random)
    prices: dict[str, float] = field(default_factory=lambda: dict(SYMBOLS))
    opens: dict[str, float] = field(default_factory=lambda: dict(SYMBOLS))
    seq: int = 0

    def tick(self, symbol: str) -> dict[str, Any]:
        """Move ``symbol`` by a small random step; return the tick message."""
        price = self.prices[symbol]
        price = max(0.01, price * (1.0 + self.rng.gauss(0.0, 0.0015)))
        self.prices[symbol] = price
        self.seq += 1
        change = (price / self.opens[symbol] - 1.0) * 100.0
        return {
            "type": "tick",
            "seq": self.seq,
            "symbol": symbol,
            "price": round(price, 2),
            "change": round(change, 3),
            "t": round(time.time(), 3),
        }

    def round(self) -> list[dict[str, Any]]:
        """One tick per symbol, in a random order."""
        symbols = list(self.prices)
        self.rng.shuffle(symbols)
        return [self.tick(symbol) for symbol in symbols]

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Every symbol's current price and change since the open (percent)."""
        return {
            s: {"price": round(p, 2), "change": round((p / self.opens[s] - 1.0) * 100.0, 3)}
            for s, p in self.prices.items()
        }
