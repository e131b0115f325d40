"""create(), destroy(), stale socket ids, user callbacks and the URL provider."""

from __future__ import annotations

from typing import Any

import pytest

from heartsock import Socket, SocketClosed, State
from heartsock.testing import FakeRuntime

from .helpers import URL, Recorder, attempts, make_socket, opened_ids, run_until_next_attempt

# ---- destroy() --------------------------------------------------------------------------------


def test_destroy_closes_with_1000_and_tells_close_cb() -> None:
    """destroy() closes the open socket with 1000 and close_cb hears about it once"""
    sock, rt, rec = make_socket()
    rt.net.opened(1)
    sock.destroy()
    assert rt.net.sockets[1].abandoned is not None and rt.net.sockets[1].abandoned[0] == 1000
    assert rec.close_codes == [1000]
    assert sock.state is State.DESTROYED
    assert rt.net.live_ids() == []


@pytest.mark.parametrize("phase", ["connecting", "open", "pong-pending", "reconnecting", "closed", "offline"])
def test_destroy_leaves_no_timer_and_no_further_attempt(phase: str) -> None:
    """after destroy(), from any state, no timer is armed and nothing ever opens again"""
    sock, rt, rec = make_socket(reconnect_time=1, heart_time=1, reconnect_count=0)
    if phase in ("open", "pong-pending", "offline"):
        rt.net.opened(1)
    if phase == "pong-pending":
        rt.advance(1.5)
    if phase == "reconnecting":
        sock.onreconnect()
    if phase == "closed":
        rt.net.closed_by_peer(1)
        assert sock.state is State.CLOSED
    if phase == "offline":
        rt.set_online(False)
        rt.net.closed_by_peer(1)
    before = attempts(rt)
    sock.destroy()
    assert rt.armed == []
    assert all(t.closed for t in rt.timers)
    assert rt.net.closed
    assert all(w.closed for w in rt.watches)
    rt.set_online(True)
    rt.became_visible()
    rt.advance(10_000)
    assert attempts(rt) == before
    assert rt.net.live_ids() == []


def test_destroy_is_idempotent() -> None:
    """a second destroy() does nothing and returns []"""
    sock, rt, rec = make_socket()
    rt.net.opened(1)
    sock.send("x")
    assert sock.destroy() == []
    assert sock.destroy() == []
    assert rec.close_codes == [1000]
    assert [s for _, s in rec.states].count(State.DESTROYED) == 1


def test_no_open_event_after_destroy() -> None:
    """a late open/message/close for the destroyed socket reaches no callback"""
    sock, rt, rec = make_socket()
    sock.destroy()
    n = len(rec.log)
    rt.net.sink.on_open(1)
    rt.net.sink.on_message(1, "late")
    rt.net.sink.on_error(1)
    rt.net.sink.on_close(1, 1006, "", False)
    assert rec.log[n:] == []
    assert sock.state is State.DESTROYED


def test_user_calls_after_destroy_raise_socket_closed() -> None:
    """create() and onreconnect() after destroy() raise SocketClosed"""
    sock, rt, _ = make_socket()
    sock.destroy()
    with pytest.raises(SocketClosed):
        sock.create()
    with pytest.raises(SocketClosed):
        sock.onreconnect()
    assert attempts(rt) == 1


# ---- destroy() called from inside a callback ----------------------------------------------------


def test_destroy_inside_state_cb_ends_the_attempt() -> None:
    """destroy() from state_cb(…→CONNECTING) abandons that attempt; no attempt is made after it"""
    rt = FakeRuntime()
    rec = Recorder()
    log_at_destroy: list[int] = []
    holder: dict[str, Socket] = {}

    def state_cb(old: State, new: State) -> None:
        if new is State.CONNECTING and "sock" in holder:
            holder["sock"].destroy()
            log_at_destroy.append(len(rt.net.log))

    holder["sock"] = Socket(URL, runtime=rt, reconnect_time=1, state_cb=state_cb, close_cb=rec.callbacks()["close_cb"])
    rt.net.opened(1)
    rt.net.closed_by_peer(1)
    rt.advance(1)  # the retry: RECONNECTING -> CONNECTING, where state_cb destroys
    assert log_at_destroy, "state_cb was not called for the retry"
    after = rt.net.log[log_at_destroy[0] :]
    assert [e for e in after if e[0] == "open"] == [], f"connection attempt after destroy(): {after}"
    assert opened_ids(rt) == [1, 2]
    assert rt.net.live_ids() == []
    assert rt.net.sockets[2].abandoned == (1000, "destroyed")


def test_destroy_inside_state_cb_no_open_cb_afterwards() -> None:
    """destroy() from state_cb(CONNECTING→OPEN): open_cb is not called after destroy() returned"""
    rt = FakeRuntime()
    events: list[str] = []
    holder: dict[str, Socket] = {}

    def state_cb(old: State, new: State) -> None:
        if new is State.OPEN:
            holder["sock"].destroy()
            events.append("destroyed")

    holder["sock"] = Socket(URL, runtime=rt, state_cb=state_cb, open_cb=lambda e: events.append("open_cb"))
    rt.net.opened(1)
    assert events == ["destroyed"]


def test_destroy_inside_close_cb_announces_no_retry() -> None:
    """destroy() from close_cb: no reconnect_cb or RECONNECTING state change is reported after it"""
    rt = FakeRuntime()
    rec = Recorder()
    holder: dict[str, Socket] = {}
    marks: list[int] = []

    def close_cb(event: Any) -> None:
        holder["sock"].destroy()
        marks.append(len(rec.log))

    cbs = rec.callbacks()
    holder["sock"] = Socket(
        URL, runtime=rt, close_cb=close_cb, reconnect_cb=cbs["reconnect_cb"], state_cb=cbs["state_cb"]
    )
    rt.net.opened(1)
    rt.net.closed_by_peer(1)
    after = rec.log[marks[0] :]
    assert [e for e in after if e[0] == "reconnect"] == [], f"reconnect_cb after destroy(): {after}"
    assert [e for e in after if e[0] == "state" and e[2] is not State.DESTROYED] == [], after
    assert rt.armed == []
    assert attempts(rt) == 1


def test_create_from_close_cb_settles_after_a_replacement() -> None:
    """close_cb calling create() (manual-reconnect idiom) plus a user create() does not recurse forever"""
    calls: list[int] = []
    holder: dict[str, Socket] = {}

    def close_cb(event: Any) -> None:
        calls.append(event.socket_id)
        if len(calls) < 100:  # guard: without it a recursion would hang the test run
            holder["sock"].create()

    sock, rt, _ = make_socket(close_cb=close_cb)
    holder["sock"] = sock
    rt.net.opened(1)
    sock.create()
    assert len(calls) <= 3, f"close_cb ran {len(calls)} times for sockets {calls[:6]}…"
    assert len(rt.net.live_ids()) == 1
    assert all(sid in rt.net.sockets for sid in calls), "close_cb told about a socket that never existed"


def test_destroy_inside_message_cb() -> None:
    """destroy() from message_cb stops everything cleanly"""
    holder: dict[str, Socket] = {}
    sock, rt, rec = make_socket(message_cb=lambda data: holder["sock"].destroy())
    holder["sock"] = sock
    rt.net.opened(1)
    rt.net.message(1, "bye")
    assert sock.state is State.DESTROYED
    assert rt.armed == []
    assert rt.net.live_ids() == []


# ---- create() ---------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["connecting", "open"])
def test_create_replaces_a_live_socket_abandoning_it_first(phase: str) -> None:
    """create() on CONNECTING/OPEN abandons the old socket before opening the new: never two live"""
    sock, rt, rec = make_socket()
    if phase == "open":
        rt.net.opened(1)
    sock.create()
    assert rt.net.live_ids() == [2]
    kinds = [(e[0], e[1]) for e in rt.net.log if e[0] in ("open", "abandon")]
    assert kinds == [("open", 1), ("abandon", 1), ("open", 2)]
    assert rt.net.sockets[1].abandoned is not None and rt.net.sockets[1].abandoned[0] == 1000
    # an open socket's end is reported; an attempt still connecting ends silently
    assert rec.close_codes == ([1000] if phase == "open" else [])
    assert sock.state is State.CONNECTING


def test_create_from_reconnecting_connects_now() -> None:
    """create() while waiting to retry connects at once and cancels the pending retry"""
    sock, rt, rec = make_socket(reconnect_time=10, backoff="fixed")
    rt.net.closed_by_peer(1)
    sock.create()
    assert opened_ids(rt) == [1, 2]
    rt.advance(10)
    assert opened_ids(rt) == [1, 2]


def test_create_from_closed_restarts() -> None:
    """create() after the socket gave up starts connecting again"""
    sock, rt, _ = make_socket(is_reconnect=False)
    rt.net.closed_by_peer(1, 1006)
    assert sock.state is State.CLOSED
    sock.create()
    rt.net.opened(2)
    assert sock.state is State.OPEN


def test_repeated_create_never_leaves_two_live_sockets() -> None:
    """many create() calls in a row leave exactly one live socket, the last"""
    sock, rt, _ = make_socket()
    for _ in range(20):
        sock.create()
        assert len(rt.net.live_ids()) == 1
    assert rt.net.live_ids() == [21]


# ---- stale socket ids -------------------------------------------------------------------------


def test_late_events_from_an_abandoned_socket_change_nothing() -> None:
    """open, message, error and close from an abandoned socket id are ignored"""
    sock, rt, rec = make_socket(heart_time=100)
    rt.net.opened(1)
    sock.create()  # 1 abandoned, 2 connecting
    rt.net.opened(2)
    n = len(rec.log)
    rt.net.sink.on_open(1)
    rt.net.sink.on_message(1, "stale")
    rt.net.sink.on_error(1)
    rt.net.sink.on_close(1, 1011, "late", False)
    assert rec.log[n:] == []
    assert sock.state is State.OPEN
    assert rt.net.live_ids() == [2]
    assert sock.send("x") is True
    assert rt.net.sent(2) == ["x"]


def test_late_open_of_an_abandoned_connecting_socket_is_ignored() -> None:
    """a connect-timed-out socket that opens late is not adopted"""
    sock, rt, rec = make_socket(connect_timeout=1, reconnect_time=5, backoff="fixed")
    rt.advance(1)
    assert sock.state is State.RECONNECTING
    rt.net.sink.on_open(1)
    assert sock.state is State.RECONNECTING
    assert rec.opens == []


def test_events_for_unknown_ids_are_ignored() -> None:
    """events for an id that never existed are ignored"""
    sock, rt, rec = make_socket()
    rt.net.sink.on_open(99)
    rt.net.sink.on_close(99, 1000, "", True)
    assert sock.state is State.CONNECTING
    assert rec.log == []


# ---- callbacks ---------------------------------------------------------------------------------


def test_callback_args_match_the_contract() -> None:
    """message_cb gets str/bytes; open, close and error callbacks get an event with .type"""
    sock, rt, rec = make_socket()
    rt.net.opened(1)
    rt.net.message(1, "text")
    rt.net.message(1, b"\x00bin")
    rt.net.error(1)
    rt.net.closed_by_peer(1, 1011, "overload", False)
    assert rec.messages == ["text", b"\x00bin"]
    assert rec.opens[0].type == "open"
    assert rec.errors[0].type == "error"
    close = rec.closes[0]
    assert (close.type, close.code, close.reason, close.was_clean) == ("close", 1011, "overload", False)


def test_onx_callbacks_replace_the_options_and_survive_reconnects() -> None:
    """callbacks set by onopen/onmessage/onclose/onerror replace the *_cb options and outlive reconnects"""
    got: list[tuple[str, object]] = []
    old: list[object] = []
    sock, rt, _ = make_socket(reconnect_time=1, message_cb=old.append, heart_time=100)
    sock.onopen(lambda e: got.append(("open", e.socket_id)))
    sock.onmessage(lambda d: got.append(("message", d)))
    sock.onclose(lambda e: got.append(("close", e.code)))
    sock.onerror(lambda e: got.append(("error", e.socket_id)))
    for sid in (1, 2, 3):
        rt.net.opened(sid)
        rt.net.message(sid, f"hello {sid}")
        rt.net.error(sid)
        rt.net.closed_by_peer(sid, 1006)
        run_until_next_attempt(rt)
    assert old == []
    assert got == [
        item
        for sid in (1, 2, 3)
        for item in (("open", sid), ("message", f"hello {sid}"), ("error", sid), ("close", 1006))
    ]


def test_onx_none_removes_the_callback() -> None:
    """onmessage(None) removes the message callback"""
    got: list[object] = []
    sock, rt, _ = make_socket(message_cb=got.append)
    sock.onmessage(None)
    rt.net.opened(1)
    rt.net.message(1, "x")
    assert got == []


def test_onx_rejects_non_callables() -> None:
    """onmessage(5) raises TypeError"""
    sock, rt, _ = make_socket()
    with pytest.raises(TypeError):
        sock.onmessage(5)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["open_cb", "message_cb", "close_cb", "error_cb", "reconnect_cb", "state_cb"])
def test_exceptions_in_callbacks_are_reported_and_harmless(kind: str) -> None:
    """an exception inside any user callback goes to the runtime's report, and the socket carries on"""

    def boom(*args: object) -> None:
        raise RuntimeError(f"boom in {kind}")

    sock, rt, rec = make_socket(reconnect_time=1, backoff="fixed", heart_time=100, **{kind: boom})
    sock.send("queued")
    rt.net.opened(1)
    rt.net.message(1, "m1")
    rt.net.error(1)
    rt.net.closed_by_peer(1)
    rt.advance(1)
    rt.net.opened(2)
    rt.net.message(2, "m2")
    assert rt.reported, "the exception was swallowed"
    assert all(str(error) == f"boom in {kind}" and "boom" in context for error, context in rt.reported)
    assert sock.state is State.OPEN
    assert rt.net.sent(1) == ["queued"]
    assert sock.send("still works") is True
    assert opened_ids(rt) == [1, 2]
    if kind != "message_cb":
        assert rec.messages == ["m1", "m2"]


# ---- URL provider -----------------------------------------------------------------------------


def test_url_provider_is_called_before_every_attempt() -> None:
    """a callable url is called once before each attempt and its answer is dialled"""
    calls = []

    def provider() -> str:
        calls.append(len(calls) + 1)
        return f"ws://server-{len(calls)}.test/ws?token={len(calls)}"

    sock, rt, _ = make_socket(provider, reconnect_time=1)
    for _ in range(3):
        rt.net.closed_by_peer(rt.net.last_id)
        run_until_next_attempt(rt)
    assert calls == [1, 2, 3, 4]
    assert [rt.net.sockets[i].url for i in (1, 2, 3, 4)] == [f"ws://server-{i}.test/ws?token={i}" for i in (1, 2, 3, 4)]
    assert sock.url == "ws://server-4.test/ws?token=4"


def test_url_provider_exception_is_an_error_event_and_a_failed_attempt() -> None:
    """a URL provider that raises reports through error_cb and counts as a failed attempt"""
    failures = iter([True, True, False])

    def provider() -> str:
        if next(failures):
            raise LookupError("no token")
        return URL

    sock, rt, rec = make_socket(provider, reconnect_time=1, reconnect_count=5)
    assert len(rec.errors) == 1
    err = rec.errors[0]
    assert err.type == "error"
    assert isinstance(err.error, LookupError)
    assert "no token" in err.reason
    assert sock.state is State.RECONNECTING
    assert sock.attempt == 1
    rt.advance(rec.delays[-1])
    assert len(rec.errors) == 2 and sock.attempt == 2
    rt.advance(rec.delays[-1])
    assert sock.state is State.CONNECTING
    rt.net.opened(rt.net.last_id)
    assert sock.state is State.OPEN


def test_url_provider_that_always_fails_gives_up() -> None:
    """with the provider always raising, reconnect_count=2 means 3 calls then CLOSED"""
    calls = []

    def provider() -> str:
        calls.append(1)
        raise RuntimeError("down")

    sock, rt, rec = make_socket(provider, reconnect_time=1, reconnect_count=2)
    rt.advance(1000)
    assert len(calls) == 3
    assert len(rec.errors) == 3
    assert sock.state is State.CLOSED
    assert rt.net.sockets == {}


def test_url_provider_returning_a_bad_url_is_a_failed_attempt() -> None:
    """a provider answer that is not ws:// is reported through error_cb, not raised"""
    sock, rt, rec = make_socket(lambda: "http://nope/", reconnect_time=1, reconnect_count=0)
    assert len(rec.errors) == 1
    assert isinstance(rec.errors[0].error, ValueError)
    assert sock.state is State.CLOSED


def test_transport_failure_to_create_is_a_failed_attempt() -> None:
    """a WebSocket constructor that throws is an error event and a retry, not a stuck socket"""
    sock, rt, rec = make_socket(reconnect_time=1)
    rt.net.closed_by_peer(1)
    rt.net.fail_next_open = OSError("SecurityError")
    assert run_until_next_attempt(rt)  # attempt 2 throws, attempt 3 reaches the transport
    assert len(rec.errors) == 1
    assert isinstance(rec.errors[0].error, OSError)
    assert opened_ids(rt) == [1, 3]
    assert sock.attempt == 2
    assert sock.state is State.CONNECTING


def test_listeners_after_a_destroying_callback_do_not_get_the_event() -> None:
    """destroy() from message_cb: the message being delivered reaches no listener after it"""
    got: list[str] = []
    holder: dict[str, Socket] = {}
    sock, rt, rec = make_socket(message_cb=lambda data: holder["sock"].destroy())
    holder["sock"] = sock
    sock.on("message", got.append)
    sock.on("close", lambda event: got.append(f"close {event.code}"))
    rt.net.opened(1)
    rt.net.message(1, "last")
    assert got == ["close 1000"]  # the destroy's own close is told; the message is not


def test_send_of_a_lone_surrogate_is_refused() -> None:
    """send() of text that is not valid UTF-8 raises ConfigError naming the index; nothing is sent or queued"""
    from heartsock import ConfigError

    sock, rt, rec = make_socket()
    rt.net.opened(1)
    with pytest.raises(ConfigError, match="lone surrogate at index 1"):
        sock.send("a\ud800b")
    assert sock.send("ok é ✓") is True
    assert rt.net.sent(1) == ["ok é ✓"] and sock.queued == 0
