"""Sessions (resume=True) in the browser against heartsock.server with real faults (issue 11)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.browser import PyPage
from devtools.faults import ThreadedFaultServer
from heartsock.server import Session, serve
from tests.conftest import T

pytestmark = pytest.mark.browser

COUNT = 500


class SessionServer:
    """heartsock.server with resume=True on its own loop; can abort the live TCP connection on a timer."""

    def __init__(self, count: int, session_ttl: float = 30.0) -> None:
        self.count = count
        self.session_ttl = session_ttl
        self.received: list[str] = []
        self.sessions: list[Session] = []
        self.aborts = 0
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sessions", daemon=True)
        self._thread.start()
        self.port = self.call(self._start())
        self._chaos: asyncio.Task[None] | None = None

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    async def _start(self) -> int:
        self.server = await serve(self.handler, "127.0.0.1", 0, resume=True, session_ttl=self.session_ttl)
        return int(self.server.sockets[0].getsockname()[1])

    async def handler(self, session: Session) -> None:
        self.sessions.append(session)

        async def produce() -> None:
            for i in range(self.count):
                await session.send(f"s{i}")
                await asyncio.sleep(0.002)

        producer = asyncio.ensure_future(produce())
        async for message in session:
            self.received.append(str(message))
        producer.cancel()

    def abort_every(self, seconds: float) -> None:
        async def chaos() -> None:
            while True:
                await asyncio.sleep(seconds)
                for session in self.sessions:
                    conn = session.connection
                    if conn is not None:
                        conn.transport.abort()
                        self.aborts += 1

        async def start() -> None:
            self._chaos = asyncio.ensure_future(chaos())

        self.call(start())

    def close(self) -> None:
        async def stop() -> None:
            if self._chaos is not None:
                self._chaos.cancel()
            self.server.close()
            await self.server.wait_closed()
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:  # session handlers outlive their connections: end them here
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"


@pytest.fixture
def sessions() -> Iterator[SessionServer]:
    server = SessionServer(COUNT)
    yield server
    server.close()


def test_every_message_arrives_once_in_order_through_tcp_aborts(py: PyPage, sessions: SessionServer) -> None:
    """TCP aborted every ~100 ms while 500 messages flow each way: each side gets 0..499 once, in order"""
    sessions.abort_every(0.1 * T)
    result = py.call("sessions.exchange", sessions.url, COUNT, 0.004)
    assert result["got"] == [f"s{i}" for i in range(COUNT)]
    assert sessions.call(asyncio.sleep(0.2 * T, result=None)) is None
    assert sessions.received == [f"c{i}" for i in range(COUNT)]
    assert result["resets"] == [] and result["queued"] == 0
    assert sessions.aborts >= 5 and result["connections"] >= 5, (sessions.aborts, result["connections"])
    assert len(sessions.sessions) == 1  # one session, one handler run, across every connection


def test_a_session_socket_against_a_server_without_sessions_says_why(py: PyPage, server: ThreadedFaultServer) -> None:
    """resume=True against a plain server: Chromium refuses the handshake (no subprotocol chosen); closed_reason
    names that possibility, and no connection ever opened"""
    result = py.call("sessions.against_a_plain_server", server.url("/echo"))
    assert result["code"] == 1006 and result["attempts"] == 0
    assert "server without heartsock sessions" in result["reason"] and "heartsock.v1" in result["reason"]
    assert [h[2] for h in server.call(lambda: list(server.server.handshakes))] == ["accepted", "accepted"]


def test_a_plain_socket_is_refused_by_a_session_server(py: PyPage, sessions: SessionServer) -> None:
    """a socket without resume meets a session server: closed with 4400, final, with the reason"""
    result = py.call("sessions.without_resume", sessions.url)
    assert result["code"] == 4400 and "Socket(url, resume=True)" in result["why"]
    assert result["reason"] == "close code 4400 is final"


def test_a_session_that_expired_is_reset_and_a_new_one_begins(py: PyPage) -> None:
    """away longer than session_ttl: the reset event (with the unacknowledged message resent), then a new session"""
    server = SessionServer(0, session_ttl=0.3 * T)
    try:
        result = py.call("sessions.outlive_the_session", server.url, 1.0 * T)
    finally:
        server.close()
    assert result["resets"] == [{"resent": 1, "missing": None, "same": False}]
    assert result["state"] == "OPEN"
    assert server.received == ["before", "while away", "after"]
    assert len(server.sessions) == 2 and server.sessions[0].ended
