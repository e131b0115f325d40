"""Sessions across server processes: RedisStore against a real redis-server (issue 11 item 6).

One redis-server for the session (tests/redis_support.py); every test uses its own key
prefix. The CPython heartsock client talks to real server processes (tests/session_process.py)
through TCP proxies that cut every connection on a timer (tests/multiprocess_support.py).
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from fastapi import FastAPI, WebSocket
from redis import Redis

import heartsock
from heartsock import State
from heartsock._store import Appended
from heartsock.errors import ConfigError, ConfigTypeError
from heartsock.redis_store import RedisStore
from heartsock.server import Session, asgi, serve
from tests.multiprocess_support import Proxies, ServerProcess
from tests.redis_support import RedisServer

from .test_asgi import uvicorn_serving

R = TypeVar("R")
_prefixes = itertools.count()


def run(main: Callable[[], Awaitable[R]], seconds: float = 60) -> R:
    return asyncio.run(asyncio.wait_for(main(), seconds))


async def until(predicate: Callable[[], Any], seconds: float = 20.0) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.005)


@pytest.fixture
def prefix() -> str:
    return f"hs{next(_prefixes)}-{time.monotonic_ns()}:"


@pytest.fixture
def sync_redis(redis_server: RedisServer) -> Iterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    client.close()


def received(client: Redis, prefix: str) -> dict[str, list[str]]:
    """What the handler received, per session that received anything."""
    keys = sorted(client.keys(f"{prefix}test:received:*"))
    return {k.decode().rpartition(":")[2]: [m.decode() for m in client.lrange(k, 0, -1)] for k in keys}


def runs(client: Redis, prefix: str) -> dict[str, int]:
    """How many times the handler ran, per session."""
    return {k.decode(): int(v) for k, v in client.hgetall(f"{prefix}test:runs").items()}


def handler_progress(client: Redis, prefix: str) -> int:
    """The last client message a handler finished with, as the store knows it (the furthest session)."""
    metas = client.keys(f"{prefix}{{*}}:meta")
    return max((int(client.hget(meta, "in_read") or 0) for meta in metas), default=0)


def one_session(client: Redis, prefix: str, count: int) -> tuple[list[str], int]:
    """The one session whose handler received messages: what it received (once ``count`` arrived) and its runs."""
    deadline = time.monotonic() + 10
    while sum(len(v) for v in received(client, prefix).values()) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    ((session_id, messages),) = received(client, prefix).items()
    return messages, runs(client, prefix)[session_id]


# ---- the store's semantics -----------------------------------------------------------------


def test_the_store_numbers_dedups_bounds_leases_and_ends(redis_server: RedisServer, prefix: str) -> None:
    """RedisStore alone: origin binding, numbering, the replay limit, acks, inbound dedup/gap/limit, lease, end"""

    async def main() -> None:
        store = RedisStore(redis_server.url, prefix=prefix, lease=0.3)
        store.configure(session_ttl=30.0, replay_limit=3, inbound_limit=2)
        try:
            sid = await store.create("http://a.test")
            assert len(sid) == 24 and sid != await store.create("http://a.test")
            assert await store.find(sid, "http://b.test") is None  # bound to its Origin
            assert await store.find("no-such-session", "http://a.test") is None
            assert await store.find(sid[:20] + "}:in", "http://a.test") is None  # never a key a client chose
            assert await store.append_out(sid, ["a"]) == 1
            assert await store.append_out(sid, [b"\x00b", "c", "d"]) == 4  # numbered in order, in one call
            assert await store.append_out(sid, []) == 4
            found = await store.find(sid, "http://a.test")
            assert found is not None and (found.out_seq, found.out_first) == (4, 2)  # "a" fell off (limit 3)
            entries, _ = await store.read(sid, "out", 0, None, None)
            assert [(e.seq, e.data) for e in entries] == [(2, b"\x00b"), (3, "c"), (4, "d")]
            await store.ack_out(sid, 3)
            entries, _ = await store.read(sid, "out", 0, None, None)
            assert [e.seq for e in entries] == [4]
            info = await store.info(sid)
            assert info is not None and info["dropped"] == 1 and info["out_ack"] == 3
            # inbound: the next one is stored, a resend skipped, a gap refused, the unread limit enforced
            assert await store.append_in(sid, [(1, "x1")]) == (1, Appended.STORED)
            assert await store.append_in(sid, [(1, "x1")]) == (1, Appended.STORED)  # a resend: skipped
            assert await store.append_in(sid, [(3, "x3")]) == (1, Appended.GAP)
            assert await store.append_in(sid, [(1, "x1"), (2, b"x2"), (3, "x3")]) == (2, Appended.FULL)  # 2 unread
            assert await store.append_out(sid, [], in_read=1) == 4  # the handler finished with x1
            assert await store.append_in(sid, [(3, "x3")]) == (3, Appended.STORED)
            entries, _ = await store.read(sid, "in", 1, None, None)
            assert [(e.seq, e.data) for e in entries] == [(2, b"x2"), (3, "x3")]
            # the lease: one holder at a time; released or expired, another may take it
            assert await store.claim(sid, "p1") == 1 and await store.claim(sid, "p2") == 0
            assert await store.claim(sid, "p1") == 1  # renewed
            await store.release(sid, "p2")  # not p2's to release
            assert await store.claim(sid, "p2") == 0
            await store.release(sid, "p1")
            assert await store.claim(sid, "p2") == 1
            await asyncio.sleep(0.45)  # p2 crashed: its lease expires
            assert await store.claim(sid, "p1") == 1
            assert await store.append_out(sid, ["from p2"], owner="p2") is None  # fenced: not p2's lease
            assert await store.append_out(sid, [], owner="p1") == 4
            # a connection attaches: acknowledged up to the client's ack, announced on the control stream
            attached = await store.attach(sid, 4)
            assert attached is not None and attached[:2] == (1, 3)
            await store.ack_out(sid, 10**9)  # an ack beyond what was sent counts as all of it
            info = await store.info(sid)
            assert info is not None and info["out_ack"] == info["out_seq"] == 4
            # the end: announced with the last sequence number, then the session is gone
            await store.end(sid, "the client destroyed its socket")
            _, controls = await store.read(sid, "out", 4, "0", None)
            assert [(c.kind, c.why, c.out_seq) for c in controls][-1] == ("end", "the client destroyed its socket", 4)
            assert await store.find(sid, "http://a.test") is None and await store.touch(sid) is False
            assert await store.append_out(sid, ["late"]) is None
            assert await store.append_in(sid, [(4, "y")]) == (0, Appended.GONE)
            assert await store.claim(sid, "p1") == -1 and await store.attach(sid, 0) is None
        finally:
            await store.aclose()

    run(main)


def test_the_store_expires_a_session_and_every_key_with_it(
    redis_server: RedisServer, prefix: str, sync_redis: Redis
) -> None:
    """session_ttl without a touch: the record, both streams and the control stream expire together"""

    async def main() -> str:
        store = RedisStore(redis_server.url, prefix=prefix)
        store.configure(session_ttl=0.3, replay_limit=10, inbound_limit=10)
        sid = await store.create(None)
        await store.append_out(sid, ["a"])
        await store.append_in(sid, [(1, "b")])
        await store.attach(sid, 0)
        assert len(sync_redis.keys(f"{prefix}*")) == 4
        await asyncio.sleep(0.2)
        assert await store.touch(sid)  # connected: the clock restarts
        await asyncio.sleep(0.2)
        assert await store.find(sid, None) is not None
        await asyncio.sleep(0.25)
        assert await store.find(sid, None) is None and await store.touch(sid) is False
        await store.aclose()
        return sid

    run(main)
    assert sync_redis.keys(f"{prefix}*") == []


def test_a_redis_store_without_redis_installed_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """no redis package: RedisStore(...) raises ConfigError naming the extra; bad settings are precise"""
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ConfigError, match=r"pip install 'heartsock\[redis\]'"):
        RedisStore("redis://127.0.0.1:1/0")
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="lease"):
        RedisStore("redis://127.0.0.1:1/0", lease=0)
    with pytest.raises(ConfigTypeError, match="store must be a SessionStore"):
        serve(lambda s: None, "127.0.0.1", 0, resume=True, store="redis://x")  # type: ignore[arg-type]


# ---- real server processes -------------------------------------------------------------------


@pytest.fixture
def two_servers(redis_server: RedisServer, prefix: str) -> Iterator[tuple[list[ServerProcess], Proxies]]:
    servers = [ServerProcess(redis_server.url, prefix, count=200) for _ in range(2)]
    proxies = Proxies([s.port for s in servers])
    yield servers, proxies
    proxies.close()
    for server in servers:
        server.stop()


def test_two_server_processes_behind_an_alternating_url_provider(
    two_servers: tuple[list[ServerProcess], Proxies], sync_redis: Redis, prefix: str
) -> None:
    """connections cut every 100 ms, each next one to the other process: 200 messages each way, once, in order;
    the handler ran once, on one process, and the other relayed"""
    servers, proxies = two_servers
    count = 200

    async def main() -> dict[str, Any]:
        urls = itertools.cycle(proxies.urls)
        got: list[Any] = []
        resets: list[Any] = []
        opens: list[str] = []
        sock = heartsock.Socket(
            lambda: next(urls),
            resume=True,
            reconnect_count=-1,
            backoff="fixed",
            reconnect_time=0.01,
            min_uptime=0,
            message_cb=got.append,
            reset_cb=resets.append,
            open_cb=lambda e: opens.append(sock.url),
        )

        async def chaos() -> None:
            while True:
                await asyncio.sleep(0.1)
                await asyncio.to_thread(proxies.abort_all)

        await sock.wait_open(10)
        chaos_task = asyncio.ensure_future(chaos())
        for i in range(count):
            sock.send(f"c{i}")
            await asyncio.sleep(0.004)
        await until(lambda: len(got) >= count, 30)
        chaos_task.cancel()
        await until(lambda: sock.state is State.OPEN)
        await asyncio.wait_for(sock.drain(), 10)
        sock.destroy()
        return {"got": got, "resets": resets, "opens": opens}

    result = run(main)
    assert result["got"] == [f"s{i}" for i in range(count)]
    messages, handler_runs = one_session(sync_redis, prefix, count)
    assert messages == [f"c{i}" for i in range(count)]
    assert result["resets"] == []
    assert handler_runs == 1  # one handler run, across every connection on both processes
    assert proxies.aborts >= 5, proxies.aborts
    opened_on = set(result["opens"])
    assert opened_on == set(proxies.urls), opened_on  # the session was served by both processes


def test_a_server_restart_with_the_redis_store_loses_nothing(
    redis_server: RedisServer,
    prefix: str,
    sync_redis: Redis,
) -> None:
    """the only server process stops (SIGTERM) and a new one starts on its port: the session resumes (no reset),
    messages sent while it was down reach the new process's handler, every echo reaches the client once, in order"""
    first = ServerProcess(redis_server.url, prefix, mode="echo", count=100)
    port = first.port
    second: ServerProcess | None = None

    async def main() -> dict[str, Any]:
        nonlocal second
        got: list[Any] = []
        resets: list[Any] = []
        sock = heartsock.Socket(
            first.url,
            resume=True,
            reconnect_count=-1,
            backoff="fixed",
            reconnect_time=0.05,
            min_uptime=0,
            message_cb=got.append,
            reset_cb=resets.append,
        )
        await sock.wait_open(10)
        for i in range(30):
            sock.send(f"c{i}")
        await until(lambda: len(got) >= 30)
        assert await asyncio.to_thread(first.stop) == 0  # the client answers its close meanwhile
        await until(lambda: sock.state is not State.OPEN)
        for i in range(30, 60):  # sent while no server runs
            sock.send(f"c{i}")
        second = await asyncio.to_thread(ServerProcess, redis_server.url, prefix, mode="echo", count=100, port=port)
        await until(lambda: len(got) >= 60)
        await asyncio.wait_for(sock.drain(), 10)
        assert await asyncio.to_thread(second.stop) == 0  # while the client still answers its close
        sock.destroy()
        return {"got": got, "resets": resets}

    try:
        result = run(main)
    finally:
        first.kill()
        if second is not None:
            second.kill()
    assert result["got"] == [f"ec{i}" for i in range(60)]
    assert result["resets"] == []  # the same session, resumed
    messages, handler_runs = one_session(sync_redis, prefix, 60)
    assert messages == [f"c{i}" for i in range(60)]
    assert handler_runs == 2  # the restarted process ran the session's handler again


def test_an_expired_session_is_reset_and_a_new_one_begins(redis_server: RedisServer, prefix: str) -> None:
    """away longer than session_ttl (the Redis keys expired): the reset event, then a new session that works"""

    async def main() -> dict[str, Any]:
        handled: list[Session] = []
        inbox: list[str] = []

        async def handler(session: Session) -> None:
            handled.append(session)
            async for message in session:
                inbox.append(str(message))

        resets: list[heartsock.SessionReset] = []
        store = RedisStore(redis_server.url, prefix=prefix)
        async with serve(handler, "127.0.0.1", 0, resume=True, session_ttl=0.3, store=store) as srv:
            url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/"
            sock = heartsock.Socket(url, resume=True, backoff="fixed", reconnect_time=1.0, reset_cb=resets.append)
            await sock.wait_open(10)
            sock.send("before")
            await asyncio.wait_for(sock.drain(), 10)
            sock.onreconnect()  # away for 1 s: the session lives 0.3 s without a connection
            sock.send("while away")
            await until(lambda: resets)
            await asyncio.wait_for(sock.drain(), 10)
            sock.send("after")
            await asyncio.wait_for(sock.drain(), 10)
            await until(lambda: len(inbox) == 3)
            state = sock.state
            sock.destroy()
        await store.aclose()
        return {"resets": resets, "inbox": inbox, "handled": handled, "state": state}

    result = run(main)
    (reset,) = result["resets"]
    assert reset.resent == 1 and reset.old_session != reset.new_session
    assert result["state"] is State.OPEN
    assert result["inbox"] == ["before", "while away", "after"]
    assert len(result["handled"]) == 2 and result["handled"][0].ended


def test_when_the_handlers_process_dies_another_process_runs_the_handler_again(
    redis_server: RedisServer,
    prefix: str,
    sync_redis: Redis,
) -> None:
    """SIGKILL the process running the session's handler: the client resumes on the other process, which takes
    the lease once it expires and runs the handler again; nothing is lost and nothing reset"""
    first = ServerProcess(redis_server.url, prefix, mode="echo", count=100, lease=0.5)
    second = ServerProcess(redis_server.url, prefix, mode="echo", count=100, lease=0.5)

    async def main() -> dict[str, Any]:
        urls = itertools.cycle([first.url, second.url])
        got: list[Any] = []
        resets: list[Any] = []
        opened: list[str] = []
        sock = heartsock.Socket(
            lambda: next(urls),
            resume=True,
            reconnect_count=-1,
            backoff="fixed",
            reconnect_time=0.05,
            min_uptime=0,
            message_cb=got.append,
            reset_cb=resets.append,
            open_cb=lambda e: opened.append(sock.url),
        )
        await sock.wait_open(10)
        for i in range(20):
            sock.send(f"c{i}")
        await until(lambda: len(got) >= 20)
        # The handler waits for c20: its process records within a tick that it finished with c0..c19.
        await until(lambda: handler_progress(sync_redis, prefix) == 20)
        await asyncio.to_thread(first.kill)
        for i in range(20, 40):
            sock.send(f"c{i}")
        await until(lambda: len(got) >= 40)
        await asyncio.wait_for(sock.drain(), 10)
        assert await asyncio.to_thread(second.stop) == 0  # while the client still answers its close
        sock.destroy()
        return {"got": got, "resets": resets, "opened": opened}

    try:
        result = run(main)
    finally:
        first.kill()
        second.kill()
    assert result["opened"][0] == first.url and result["opened"][-1] == second.url
    assert result["got"] == [f"ec{i}" for i in range(40)]
    assert result["resets"] == []
    messages, handler_runs = one_session(sync_redis, prefix, 40)
    assert messages == [f"c{i}" for i in range(40)]
    assert handler_runs == 2


def test_a_redis_restart_without_persistence_resets_the_session(redis_server: RedisServer, prefix: str) -> None:
    """Redis restarts and every session is gone: the client is told (a SessionReset), then works in a new session"""

    async def main() -> dict[str, Any]:
        inbox: list[str] = []

        async def handler(session: Session) -> None:
            async for message in session:
                inbox.append(str(message))

        resets: list[heartsock.SessionReset] = []
        store = RedisStore(redis_server.url, prefix=prefix, lease=0.5)
        async with serve(handler, "127.0.0.1", 0, resume=True, store=store) as srv:
            url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/"
            sock = heartsock.Socket(
                url, resume=True, backoff="fixed", reconnect_time=0.05, reconnect_count=-1, reset_cb=resets.append
            )
            await sock.wait_open(10)
            sock.send("before")
            await asyncio.wait_for(sock.drain(), 10)
            await asyncio.to_thread(redis_server.restart)
            await until(lambda: resets)
            sock.send("after")
            await asyncio.wait_for(sock.drain(), 10)
            await until(lambda: len(inbox) == 2)
            sock.destroy()
        await store.aclose()
        return {"resets": resets, "inbox": inbox}

    result = run(main)
    (reset,) = result["resets"]
    assert reset.old_session != reset.new_session and reset.missing is None
    assert result["inbox"] == ["before", "after"]


def test_asgi_endpoints_share_sessions_through_the_redis_store(redis_server: RedisServer, prefix: str) -> None:
    """two FastAPI apps under uvicorn, each with its own asgi(..., store=RedisStore(url)) endpoint: a client that
    moves from one to the other keeps its session; the handler ran once, on the first, and the second relayed"""

    async def main() -> dict[str, Any]:
        runs_: list[str] = []

        async def echo(session: Session) -> None:
            runs_.append(session.id)
            async for message in session:
                await session.send(f"e{message}")

        def app() -> tuple[FastAPI, RedisStore]:
            store = RedisStore(redis_server.url, prefix=prefix)
            endpoint = asgi(echo, resume=True, store=store)
            application = FastAPI()

            @application.websocket("/ws")
            async def route(websocket: WebSocket) -> None:
                await endpoint(websocket)

            return application, store

        (app_a, store_a), (app_b, store_b) = app(), app()
        got: list[Any] = []
        resets: list[Any] = []
        async with uvicorn_serving(app_a) as base_a, uvicorn_serving(app_b) as base_b:
            urls = iter([f"{base_a}/ws", f"{base_b}/ws"])
            sock = heartsock.Socket(
                lambda: next(urls), resume=True, reconnect_time=0.01, message_cb=got.append, reset_cb=resets.append
            )
            await sock.wait_open(10)
            for i in range(10):
                sock.send(f"c{i}")
            await until(lambda: len(got) == 10)
            sock.onreconnect()  # the next connection goes to the other app
            for i in range(10, 20):
                sock.send(f"c{i}")
            await until(lambda: len(got) == 20)
            assert sock.url == f"{base_b}/ws"
            await asyncio.wait_for(sock.drain(), 10)
            sock.destroy()
        await store_a.aclose()
        await store_b.aclose()
        return {"got": got, "resets": resets, "runs": runs_}

    result = run(main)
    assert result["got"] == [f"ec{i}" for i in range(20)]
    assert result["resets"] == [] and len(result["runs"]) == 1
