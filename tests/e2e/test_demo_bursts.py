"""The demo under bursts: new connections and closing handshakes wait their turn
(:class:`demo.listener.Pacer`) while open connections are served, and full garbage
collections follow departures (:class:`demo.memory.Memory`).

The soak (``make soak``) measures what this buys (echo p99 with 2,000 connections
arriving or leaving at once); these tests check the behaviour, with a slow pace
(``--accept-rate 20``) so that a turn is long enough to see on a busy machine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from websockets.asyncio.client import ClientConnection

from demo.listener import Pacer
from demo.memory import COLLECT_AFTER, TRIM_DELAY, Memory
from tests.cycles import cyclic_garbage
from tests.e2e.conftest import Demo, running_demo
from tests.e2e.test_demo_server import client, run_for

R = TypeVar("R")
RATE = 20.0
BURST = 8  # demo.listener.Limits.accept_burst
STORM = 40


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A demo that handles 20 new connections or closing handshakes per second."""
    with running_demo("--accept-rate", str(RATE)) as server:
        yield server


class _Waiting:
    """A connection waiting for its turn; records when it got it."""

    def __init__(self, n: int, resumed: list[tuple[int, float]]) -> None:
        self.n, self.resumed = n, resumed

    def resume(self) -> bool:
        self.resumed.append((self.n, time.monotonic()))
        return True


def _storm(pacer: Pacer, count: int) -> tuple[list[bool], float, list[tuple[int, float]]]:
    """``count`` connections admitted in one turn of a loop; the queue, once drained."""

    async def scenario() -> tuple[list[bool], float, list[tuple[int, float]]]:
        resumed: list[tuple[int, float]] = []
        start = time.monotonic()
        admitted = [pacer.admit(_Waiting(n, resumed)) for n in range(count)]
        while pacer.waiting:
            await asyncio.sleep(0.01)
        return admitted, start, resumed

    return in_thread(scenario())


def in_thread(coro: Coroutine[Any, Any, R]) -> R:
    """``asyncio.run(coro)`` on a worker thread (Playwright's sync API may own this thread's loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=60)


def test_the_pacer_admits_a_burst_then_resumes_the_rest_in_order_at_its_rate() -> None:
    admitted, start, resumed = _storm(Pacer(rate=50.0, burst=2, per_turn=2), 7)
    assert admitted == [True, True, False, False, False, False, False]
    assert [n for n, _ in resumed] == [2, 3, 4, 5, 6]
    # The burst spent the bucket; 5 more tokens at 50 per second take 0.1 s to come.
    assert resumed[-1][1] - start >= 5 / 50 - 0.002


def test_the_pacer_admits_one_per_turn_of_the_loop_even_with_tokens_to_spare() -> None:
    turns: list[int] = []

    async def scenario() -> tuple[list[bool], list[int]]:
        pacer = Pacer(rate=1000.0, burst=8)
        turn = 0

        class Counted(_Waiting):
            def resume(self) -> bool:
                turns.append(turn)
                return True

        async def count_turns() -> None:
            nonlocal turn
            while True:
                await asyncio.sleep(0)
                turn += 1

        counter = asyncio.create_task(count_turns())
        admitted = [pacer.admit(Counted(n, [])) for n in range(5)]
        while pacer.waiting:
            await asyncio.sleep(0)
        counter.cancel()
        return admitted, turns

    admitted, turns = in_thread(scenario())
    assert admitted == [True, False, False, False, False]
    assert len(turns) == 4 and len(set(turns)) == 4, f"resumed in turns {turns}"


def test_full_collections_follow_departures() -> None:
    """A collection is due once max(COLLECT_AFTER, open // 2) connections have left, and
    runs TRIM_DELAY later."""
    memory = Memory()
    memory.tick(0.0, open_connections=2000, closed_total=0)
    memory.tick(1.0, 2000, 999)
    memory.tick(9.0, 2000, 999)
    assert memory.collections == 0  # half the open connections must have left: 1,000
    memory.tick(10.0, 2000, 1000)
    memory.tick(10.0 + TRIM_DELAY / 2, 2000, 1000)
    assert memory.collections == 0
    memory.tick(10.0 + TRIM_DELAY, 2000, 1000)
    assert memory.collections == 1
    memory.tick(20.0, 10, 1000 + COLLECT_AFTER - 1)  # with few open, COLLECT_AFTER departures
    memory.tick(30.0, 10, 1000 + COLLECT_AFTER - 1)
    assert memory.collections == 1
    memory.tick(40.0, 10, 1000 + COLLECT_AFTER)
    memory.tick(40.0 + TRIM_DELAY, 10, 1000 + COLLECT_AFTER)
    assert memory.collections == 2


def test_a_storm_of_handshakes_waits_its_turn_while_open_connections_are_served(slow: Demo) -> None:
    """40 handshakes at once on a demo that takes 20 per second (after a burst of 8):
    they all open, over at least (40 - 8) / 20 s, and an open connection's echo is
    answered while some of them still wait. Then all 40 close at once: their closing
    handshakes take turns too, and the open connection is answered meanwhile."""

    async def scenario(ws: str) -> tuple[float, list[float], float, float, list[float]]:
        conns: list[ClientConnection] = []

        async def open_one() -> float:
            conn = await client(ws + "ws/echo", open_timeout=20, close_timeout=20)
            conns.append(conn)
            await conn.send("opened")
            assert await conn.recv() == "opened"
            return time.monotonic()

        async def close_one(conn: ClientConnection) -> float:
            await conn.close()
            return time.monotonic()

        async with client(ws + "ws/echo") as established:
            await asyncio.sleep(1.0)  # the bucket refills after the fixture's own requests
            start = time.monotonic()
            storm = [asyncio.create_task(open_one()) for _ in range(STORM)]
            await asyncio.sleep(0.2)
            await established.send("during the storm")
            assert await established.recv() == "during the storm"
            answered = time.monotonic()
            opened = list(await asyncio.gather(*storm))

            await asyncio.sleep(1.0)
            closing_start = time.monotonic()
            closing = [asyncio.create_task(close_one(conn)) for conn in conns]
            await asyncio.sleep(0.2)
            await established.send("during the closes")
            assert await established.recv() == "during the closes"
            answered_closing = time.monotonic()
            closed = list(await asyncio.gather(*closing))
            return start, opened, answered, answered_closing, [closing_start, *closed]

    start, opened, answered, answered_closing, (closing_start, *closed) = run_for(slow, scenario, 60)
    assert max(opened) - start >= (STORM - BURST) / RATE - 0.1
    assert sum(t > answered for t in opened) > 0, "the echo waited for the whole storm"
    assert max(closed) - closing_start >= (STORM - BURST) / RATE - 0.1
    assert sum(t > answered_closing for t in closed) > 0, "the echo waited for every closing handshake"


def test_departures_drive_full_collections(demo: Demo) -> None:
    """150 connections that open and close (more than COLLECT_AFTER) are followed by a full
    collection and trim, seen in ``/api/status``."""
    assert 150 > COLLECT_AFTER
    before = demo.status()["full_collections"]

    async def scenario(ws: str) -> None:
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(150):
                await stack.enter_async_context(client(ws + "ws/echo", close_timeout=10))

    run_for(demo, scenario, 60)
    deadline = time.monotonic() + 10
    while (after := demo.status()["full_collections"]) == before:
        assert time.monotonic() < deadline, "no full collection after 150 departures"
        time.sleep(0.2)
    assert after == before + 1


def test_a_closed_connection_leaves_no_reference_cycle_behind() -> None:
    """The demo's objects for a connection (uvicorn's protocols, heartsock's heartbeat, the
    demo's client record) are freed when it closes, not at the next full garbage
    collection: with ~125 of them per connection in cycles, the collections that freed
    them paused the server for hundreds of milliseconds (demo.memory)."""
    from websockets.asyncio.client import connect

    from demo.app import DemoServer

    async def scenario() -> list[str]:
        server = DemoServer("127.0.0.1", 0)
        await server.start()
        try:
            with cyclic_garbage() as collect:
                url = server.url.replace("http", "ws", 1)
                for path in ("ws/echo", "ws/chat", "ws/feed") * 5:
                    async with connect(url + path, ping_interval=None) as conn:
                        await conn.send("ping")
                        await conn.recv()
                await asyncio.sleep(0.5)  # the handlers end after the close
                return collect()
        finally:
            await server.stop()

    left = in_thread(scenario())
    ours = [name for name in left if name.split(".")[0] in ("demo", "heartsock", "uvicorn", "starlette", "h11")]
    assert ours == [], f"in reference cycles after their connections closed: {ours}"
