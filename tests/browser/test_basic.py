"""The reference design's behaviour, in headless Chromium against a real server (issue 2)."""

from __future__ import annotations

import pytest

from devtools.browser import PyPage, PythonError
from devtools.faults import ThreadedFaultServer
from tests.conftest import T

pytestmark = pytest.mark.browser

# The page side of each test is a function of tests/browser/pages/scenarios/basic.py.


def test_text_and_binary_round_trip(py: PyPage, server: ThreadedFaultServer) -> None:
    """text (non-ASCII, emoji) arrives as a text frame, bytes as one binary frame, byte for byte."""
    blob = bytes(range(256)) * 4
    result = py.call("basic.round_trip", server.url("/echo"), blob.hex())
    sent, echoes, ready_state, url = result
    assert sent == [True, True, True, True]
    assert echoes == ["héllo wörld 🎉", "b:" + blob.hex(), "b:0001", "b:" + b"mv".hex()]
    assert ready_state == 1 and url == server.url("/echo")
    received = server.peers("/echo")[0].received
    assert received == ["héllo wörld 🎉", blob, b"\x00\x01", b"mv"]
    assert [type(m) for m in received] == [str, bytes, bytes, bytes]


def test_send_rejects_other_types(py: PyPage, server: ThreadedFaultServer) -> None:
    """send() of anything but str or bytes-like raises TypeError, and nothing is sent."""
    result = py.call("basic.send_other_types", server.url("/echo"))
    assert len(result) == 4 and all("str or bytes-like" in e for e in result)
    assert server.peers("/echo")[0].messages == []


def test_heartbeat_every_heart_time_of_silence(py: PyPage, server: ThreadedFaultServer) -> None:
    """a ping reaches the server after each heart_time without inbound traffic."""
    heart = 0.25 * T
    py.call("basic.stay_quiet", server.url("/sink"), heart)
    peer = server.peers("/sink")[0]
    pings = peer.pings
    assert 3 <= len(pings) <= 5, pings
    gaps = [b - a for a, b in zip(pings, pings[1:], strict=False)]
    # each ping is answered ("pong" proves life) and the next one follows heart_time later
    assert all(heart * 0.8 <= g <= heart * 1.6 for g in gaps), gaps
    assert peer.opened_at + heart * 0.8 <= pings[0] <= peer.opened_at + heart * 1.6


def test_reconnects_after_the_server_drops_it(py: PyPage, server: ThreadedFaultServer) -> None:
    """a connection the server drops is replaced by a new one, and the socket is OPEN again."""
    py.call("common.open_socket", server.url("/echo"), reconnect_time=0.1 * T)
    assert server.call(server.server.drop_all) == 1
    result = py.call("basic.reopen_and_echo")
    closes, states = result
    assert closes == [[1, 1006, ""]]
    assert states == ["OPEN", "RECONNECTING", "CONNECTING", "OPEN"]
    assert len(server.peers("/echo")) == 2


def test_reconnect_count_limits_attempts_while_server_down(py: PyPage, server: ThreadedFaultServer) -> None:
    """reconnect_count=2 makes exactly 3 attempts in all with the server refusing, then CLOSED."""
    server.call(server.server.refuse_next, 10)
    result = py.call("basic.give_up", server.url("/echo"), 0.05 * T, 0.3 * T)
    state, reconnects, closes, errors, ready_state = result
    assert state == "CLOSED"
    assert [r[0] for r in reconnects] == [1, 2]
    assert closes == 3 and errors == 3
    assert ready_state == 3
    assert [h[2] for h in server.call(lambda: list(server.server.handshakes))] == ["refused"] * 3


def test_unlimited_reconnect_keeps_trying(py: PyPage, server: ThreadedFaultServer) -> None:
    """reconnect_count=-1 goes on past any count, then connects when the server accepts."""
    server.call(server.server.refuse_next, 8)
    result = py.call("basic.keep_trying", server.url("/echo"), 0.02 * T)
    assert result[0] == 8
    outcomes = [h[2] for h in server.call(lambda: list(server.server.handshakes))]
    assert outcomes == ["refused"] * 8 + ["accepted"]


def test_is_reconnect_false_makes_no_attempt(py: PyPage, server: ThreadedFaultServer) -> None:
    """is_reconnect=False: after the server drops the connection, no new attempt; state CLOSED."""
    py.call("common.open_socket", server.url("/echo"), is_reconnect=False, reconnect_time=0.02 * T)
    server.call(server.server.drop_all)
    result = py.call("basic.stays_closed", 0.3 * T)
    assert result == ["CLOSED", []]
    assert len(server.call(lambda: list(server.server.handshakes))) == 1


def test_onmessage_callback_survives_reconnects(py: PyPage, server: ThreadedFaultServer) -> None:
    """callbacks set with onmessage()/onopen() still fire after two reconnects."""
    py.call("basic.listen", server.url("/echo"), 0.05 * T)
    for round_ in range(2):
        server.call(server.server.drop_all)
        py.call("basic.echo_after_reopen", round_)
    result = py.call("basic.listened")
    got, opens, via_option = result
    assert got == ["m0", "m1"] and opens == [2, 3]
    assert via_option == []  # onmessage(cb) replaced message_cb, as in the reference


def test_destroy_stops_everything_seen_from_server(py: PyPage, server: ThreadedFaultServer) -> None:
    """after destroy(): closed with 1000, then no heartbeat and no connection attempt reach the server."""
    heart = 0.1 * T
    result = py.call("basic.destroy_then_wait", server.url("/sink"), heart, 0.02 * T)
    state, closes, unsent, again, errors, ready_state = result
    assert state == "DESTROYED" and closes == [[1, 1000, "destroyed"]]
    assert unsent == [] and again == [] and errors == ["SocketClosed"] * 3 and ready_state == 3
    peer = server.peers("/sink")[0]
    assert peer.close_code == 1000
    pings_at_close = [p for p in peer.pings if peer.closed_at is not None and p <= peer.closed_at]
    assert peer.pings == pings_at_close and len(peer.pings) >= 1
    assert len(server.call(lambda: list(server.server.handshakes))) == 1


def test_unsupported_when_websocket_deleted(py: PyPage) -> None:
    """constructing a Socket after the page deleted WebSocket raises UnsupportedError, saying why."""
    try:
        result = py.call("basic.construct_without_websocket")
    finally:
        py.run("import js\nstr(hasattr(js, 'WebSocket'))")
    assert "no WebSocket" in result[0] and result[1] is True


def test_bad_url_raises_before_any_connection(py: PyPage, server: ThreadedFaultServer) -> None:
    """a missing or non-ws URL raises ValueError naming it; an unknown option raises TypeError."""
    result = py.call("basic.bad_constructions")
    assert result[0][1] is True and "ws://" in result[0][3]
    assert result[1][1] is True and "url" in result[1][3]
    assert result[2][1] is True and "url" in result[2][3]
    assert result[3][2] is True and "heart_tme" in result[3][3]
    assert result[4][2] is True and "open_cb" in result[4][3]
    assert server.call(lambda: list(server.server.handshakes)) == []


def test_seed_dict_end_to_end(py: PyPage, server: ThreadedFaultServer) -> None:
    """the reference's option dict (camelCase, milliseconds) works end to end, callbacks included."""
    result = py.call("basic.seed_dict", server.url("/echo"), 100 * T, 50 * T, 0.25 * T)
    first, heart_time, reconnect_time, count, got_pong = result
    assert first == [["open", "open"], ["message", "hello"]]
    assert heart_time == pytest.approx(0.1 * T) and reconnect_time == pytest.approx(0.05 * T) and count == -1
    assert got_pong  # pong_msg=None by default: the reply is an ordinary message, as in the reference
    assert len(server.peers("/echo")[0].pings) >= 1


def test_create_replaces_a_live_socket(py: PyPage, server: ThreadedFaultServer) -> None:
    """create() on an OPEN socket closes the old one before the new one opens: never two live."""
    result = py.call("basic.create_again", server.url("/echo"))
    assert result == [[[1, 1000, "replaced by create()"]], [1, 2]]
    peers = server.peers("/echo")
    assert len(peers) == 2 and peers[0].close_code == 1000 and peers[1].closed_at is None


def test_python_errors_surface_in_tests(py: PyPage) -> None:
    """the harness reports a Python exception raised in the page as a test failure."""
    with pytest.raises(PythonError, match="ZeroDivisionError"):
        py.run("1 / 0")


def test_call_errors_surface_in_tests(py: PyPage) -> None:
    """py.call() reports what the page raised (here: no such function) as a test failure."""
    with pytest.raises(PythonError, match="no_such_scenario"):
        py.call("basic.no_such_scenario")


def test_heart_beats_until_reset(py: PyPage) -> None:
    """Heart(timeout).start(cb) calls cb every timeout on the browser's timer; a raising cb keeps it going."""
    result = py.call("basic.heart_beats", 0.05 * T)
    counted, after_reset, timeout = result
    assert 3 <= counted <= 5 and after_reset == counted and timeout == pytest.approx(0.05 * T)
