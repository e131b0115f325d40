"""One socket for every tab (``shared=``, issue 14): several pages of one browser context, a real server.

The pages of one Playwright context share an origin's Web Locks and BroadcastChannels, as
the tabs of one browser profile do; another context is another profile.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext

from devtools.browser import PyPage
from devtools.static import StaticServer
from heartsock.server import serve
from tests.browser.conftest import HSTEST, SCENARIOS
from tests.conftest import T

pytestmark = pytest.mark.browser


class CountingServer:
    """heartsock.server on its own loop: counts handshakes, records what each peer sent, broadcasts."""

    def __init__(self, resume: bool = False) -> None:
        self.resume = resume
        self.handshakes = 0
        self.peers: list[Any] = []
        self.received: list[str] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="shared-server", daemon=True)
        self._thread.start()
        self.port = self.call(self._start())

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    async def _start(self) -> int:
        def count(connection: Any, request: Any) -> None:
            self.handshakes += 1

        self.server = await serve(self.handler, "127.0.0.1", 0, resume=self.resume, process_request=count)
        return int(self.server.sockets[0].getsockname()[1])

    async def handler(self, peer: Any) -> None:
        self.peers.append(peer)
        async for message in peer:
            self.received.append(message if isinstance(message, str) else "b:" + bytes(message).hex())

    def broadcast(self, messages: list[str], spacing: float = 0.0) -> None:
        async def go() -> None:
            for message in messages:
                for peer in list(self.peers):
                    await peer.send(message)
                if spacing:
                    await asyncio.sleep(spacing)

        self.call(go())

    def blast(self, index: int, payload: str | bytes, count: int) -> None:
        """Send ``payload`` ``count`` times to peer number ``index``, as fast as it goes (measurements)."""

        async def go() -> None:
            peer = self.peers[index]
            for _ in range(count):
                await peer.send(payload)

        self.call(go())

    def stream(self, messages: list[str], spacing: float) -> None:
        """Start broadcasting ``messages`` in the background, one every ``spacing`` seconds."""
        self.loop.call_soon_threadsafe(lambda: self.loop.create_task(self._stream(messages, spacing)))

    async def _stream(self, messages: list[str], spacing: float) -> None:
        for message in messages:
            for peer in list(self.peers):
                await peer.send(message)
            await asyncio.sleep(spacing)

    def close(self) -> None:
        async def stop() -> None:
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


def boot(context: BrowserContext, static_server: StaticServer) -> PyPage:
    """A page of ``context`` with Pyodide booted and ``hstest`` importable (conftest's boot, in a context)."""
    py = PyPage(context.new_page(), static_server.url, scenarios=SCENARIOS)
    py.page.evaluate("(src) => window.pyodide.FS.writeFile('/home/pyodide/hstest.py', src)", HSTEST.read_text())
    py.run(f"import hstest\nhstest.T = {T!r}\n''")
    return py


@pytest.fixture(scope="module")
def tabs(browser: Browser, static_server: StaticServer) -> Iterator[list[PyPage]]:
    """Three tabs of one browser profile (one context); the last test closes one of them."""
    context = browser.new_context()
    pages = [boot(context, static_server) for _ in range(3)]
    yield pages
    context.close()


def _cleanup(pages: list[PyPage]) -> None:
    for py in pages:
        if not py.page.is_closed():
            py.run("import hstest\nstr(hstest.destroy_all())")


@pytest.fixture
def plain() -> Iterator[CountingServer]:
    server = CountingServer()
    yield server
    server.close()


@pytest.fixture
def sessions() -> Iterator[CountingServer]:
    server = CountingServer(resume=True)
    yield server
    server.close()


def _wait(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout * T
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout * T:.1f}s")
        time.sleep(0.02)


def test_three_tabs_share_one_connection_every_tab_gets_every_broadcast_once_sends_in_order(
    tabs: list[PyPage], plain: CountingServer
) -> None:
    """one server connection for 3 tabs; 50 broadcasts (and a binary one) reach each tab once, in order;
    40 sends from each tab arrive once each, in each tab's order"""
    try:
        first = tabs[0].call("shared.join", plain.url, "feed", pong_msg="pong")  # heartbeat replies not delivered
        others = [py.call("shared.join", plain.url, "feed", pong_msg="pong") for py in tabs[1:]]
        assert first["sharing"] == "leader" and first["live_sockets"] == 1
        assert [o["sharing"] for o in others] == ["follower", "follower"]
        assert [o["live_sockets"] for o in others] == [0, 0]
        assert tabs[0].call("shared.wait_tabs", 3) == 3
        _wait(lambda: len(plain.peers) == 1, 5, "the connection's handler")
        plain.broadcast([f"n{i}" for i in range(50)] + ["end"])
        for py in tabs:
            got = py.call("shared.wait_messages", 51, 10)
            assert got == [f"n{i}" for i in range(50)] + ["end"]
        for t, py in enumerate(tabs):
            py.call("shared.send_numbered", f"t{t}", 0, 20)
        for t, py in enumerate(tabs):
            py.call("shared.send_numbered", f"t{t}", 20, 20)
        tabs[2].call("shared.send_bytes", "00ff10")
        _wait(lambda: len(plain.received) == 121, 10, "121 messages at the server")
        for t in range(3):
            assert [m for m in plain.received if m.startswith(f"t{t}:")] == [f"t{t}:{i}" for i in range(40)]
        assert plain.received.count("b:00ff10") == 1
        assert plain.handshakes == 1  # one connection for three tabs
        assert [py.call("shared.status")["errors"] for py in tabs] == [[], [], []]
    finally:
        _cleanup(tabs)


def test_a_tab_of_another_profile_gets_its_own_connection(
    tabs: list[PyPage], py: PyPage, plain: CountingServer
) -> None:
    """the same shared name in another browser context (another profile): a second connection, its own leader"""
    try:
        assert tabs[0].call("shared.join", plain.url, "feed")["sharing"] == "leader"
        other = py.call("shared.join", plain.url, "feed")
        assert other["sharing"] == "leader" and other["live_sockets"] == 1
        _wait(lambda: len(plain.peers) == 2, 5, "two handlers")
        assert plain.handshakes == 2
    finally:
        _cleanup(tabs)


def test_without_broadcastchannel_or_locks_the_socket_is_private_and_says_why(
    browser: Browser, static_server: StaticServer, plain: CountingServer
) -> None:
    """a page without BroadcastChannel and navigator.locks: shared= falls back to a private socket that works"""
    context = browser.new_context()
    try:
        context.add_init_script("delete window.BroadcastChannel; delete Navigator.prototype.locks;")
        page = boot(context, static_server)
        result = page.call("shared.join", plain.url, "feed")
        assert result["sharing"] == "private" and result["is_leader"] and result["live_sockets"] == 1
        assert "BroadcastChannel" in result["reason"] and "navigator.locks" in result["reason"]
        plain.broadcast(["hello"])
        assert page.call("shared.wait_messages", 1, 5) == ["hello"]
        assert plain.handshakes == 1
        page.run("import hstest\nstr(hstest.destroy_all())")
    finally:
        context.close()


HANDOVER_BOUND = 5.0  # seconds (scaled): the lock moves at once; the rest is one connect and resume


def test_closing_the_leader_tab_hands_over_within_the_bound_and_loses_nothing(
    tabs: list[PyPage], sessions: CountingServer
) -> None:
    """resume=True: the leader tab closes while the server streams 300 messages and the followers send;
    another tab leads within the bound, resumes the session, and every message arrives once, in order,
    both ways"""
    options = {"resume": True, "reconnect_time": 0.05, "backoff": "fixed", "reconnect_count": -1}
    leader, followers = tabs[0], tabs[1:]
    assert leader.call("shared.join", sessions.url, "session-feed", **options)["sharing"] == "leader"
    for py in followers:
        assert py.call("shared.join", sessions.url, "session-feed", **options)["sharing"] == "follower"
    _wait(lambda: len(sessions.peers) == 1, 5, "the session's handler")
    count = 300
    sessions.stream([f"s{i}" for i in range(count)], 0.005)
    for t, py in enumerate(followers):
        py.call("shared.send_numbered", f"f{t}", 0, 30)
    followers[0].call("shared.wait_messages", 60, 10)  # the stream is under way
    closed_at = time.time() * 1000
    leader.page.close()
    for t, py in enumerate(followers):
        py.call("shared.send_numbered", f"f{t}", 30, 30)  # while the hand-over is under way
    took = followers[0].call("shared.wait_leading_open", HANDOVER_BOUND)  # the next in the lock's queue
    opened_ms = [at for at, leading in took["opened_at"] if leading][0]
    handover = (opened_ms - closed_at) / 1000
    assert handover < HANDOVER_BOUND * T, handover
    try:
        for py in followers:
            got = py.call("shared.wait_messages", count, 20)
            assert got == [f"s{i}" for i in range(count)]  # once each, in order, across the hand-over
        _wait(lambda: len(sessions.received) == 120, 20, "120 messages at the server")
        for t in range(2):
            assert [m for m in sessions.received if m.startswith(f"f{t}:")] == [f"f{t}:{i}" for i in range(60)]
        assert len(sessions.peers) == 1  # one session throughout: resumed, not reset
        assert sessions.handshakes == 2
        final = [py.call("shared.status") for py in followers]
        assert sorted(s["sharing"] for s in final) == ["follower", "leader"]
        assert all(s["errors"] == [] for s in final), final
        assert final[1]["states"][-2:] == [["OPEN", "CONNECTING"], ["CONNECTING", "OPEN"]], final[1]["states"]
    finally:
        _cleanup(followers)


def test_a_crashed_leader_tab_hands_over_and_loses_nothing(tabs: list[PyPage], sessions: CountingServer) -> None:
    """resume=True: the leader tab's renderer crashes (CDP Page.crash) mid-stream; the other tab takes the
    lock, resumes the session, and gets every message once, in order; its sends arrive once each, in order"""
    options = {"resume": True, "reconnect_time": 0.05, "backoff": "fixed", "reconnect_count": -1}
    leader, follower = [py for py in tabs if not py.page.is_closed()][:2]
    assert leader.call("shared.join", sessions.url, "crash-feed", **options)["sharing"] == "leader"
    assert follower.call("shared.join", sessions.url, "crash-feed", **options)["sharing"] == "follower"
    _wait(lambda: len(sessions.peers) == 1, 5, "the session's handler")
    count = 200
    sessions.stream([f"s{i}" for i in range(count)], 0.005)
    follower.call("shared.send_numbered", "f", 0, 20)
    follower.call("shared.wait_messages", 40, 10)
    crashed: list[bool] = []
    leader.page.on("crash", lambda page: crashed.append(True))
    try:  # a renderer crash, as the browser's own debug URL makes one (the navigation never completes)
        leader.page.goto("chrome://crash", wait_until="commit", timeout=3000)
    except Exception:  # the page died under the call: that is the point
        pass
    for _ in range(50):  # Playwright delivers the page's "crash" event while it waits
        if crashed:
            break
        follower.page.wait_for_timeout(100)
    assert crashed, "the leader's renderer did not crash"
    follower.call("shared.send_numbered", "f", 20, 20)
    try:
        follower.call("shared.wait_leading_open", HANDOVER_BOUND)
        assert follower.call("shared.wait_messages", count, 20) == [f"s{i}" for i in range(count)]
        _wait(lambda: len(sessions.received) == 40, 20, "40 messages at the server")
        assert sessions.received == [f"f:{i}" for i in range(40)]
        assert len(sessions.peers) == 1 and sessions.handshakes == 2
        assert follower.call("shared.status")["errors"] == []
    finally:
        _cleanup([follower])
