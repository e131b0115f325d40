"""One session, two server processes sharing Redis, in the browser (issue 11 item 6).

Two real ``heartsock.server`` processes (tests/session_process.py) with
``store=RedisStore(url)`` on one real redis-server, each behind a TCP proxy that cuts every
connection every ~100 ms; the page's URL provider alternates between them, so the session
moves from process to process while messages flow each way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from redis import Redis

from devtools.browser import PyPage
from tests.conftest import T
from tests.multiprocess_support import Proxies, ServerProcess
from tests.redis_support import RedisServer, redis_server  # noqa: F401

pytestmark = pytest.mark.browser

COUNT = 200


@pytest.fixture
def two_servers(redis_server: RedisServer) -> Iterator[tuple[Proxies, str]]:  # noqa: F811
    prefix = f"browser-{time.monotonic_ns()}:"
    servers = [ServerProcess(redis_server.url, prefix, count=COUNT, spacing=0.004) for _ in range(2)]
    proxies = Proxies([s.port for s in servers])
    yield proxies, prefix
    proxies.close()
    for server in servers:
        server.stop()


def test_two_server_processes_one_session_every_message_once_in_order(
    py: PyPage,
    two_servers: tuple[Proxies, str],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """connections cut every ~100 ms, each next one to the other process: 200 messages each way arrive
    exactly once, in order; the session's handler ran once while both processes served it"""
    proxies, prefix = two_servers
    stop = threading.Event()

    def chaos() -> None:
        while not stop.wait(0.1 * T):
            proxies.abort_all()

    cutter = threading.Thread(target=chaos, daemon=True)
    cutter.start()
    try:
        result = py.call("sessions.exchange", proxies.urls, COUNT, 0.004)
    finally:
        stop.set()
        cutter.join(5)
    assert result["got"] == [f"s{i}" for i in range(COUNT)]
    assert result["resets"] == [] and result["queued"] == 0
    client = Redis.from_url(redis_server.url)
    try:
        keys = client.keys(f"{prefix}test:received:*")
        assert len(keys) == 1, keys  # one session received messages
        (key,) = keys
        assert [m.decode() for m in client.lrange(key, 0, -1)] == [f"c{i}" for i in range(COUNT)]
        session_id = key.decode().rpartition(":")[2]
        assert int(client.hget(f"{prefix}test:runs", session_id) or 0) == 1  # one handler run
    finally:
        client.close()
    assert proxies.aborts >= 5, proxies.aborts
    assert set(result["opened"]) == set(proxies.urls), result["opened"]  # both processes served the session
