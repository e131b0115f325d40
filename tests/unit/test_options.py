"""Options: the three construction forms, the seed dict's mapping, and fail-fast validation."""

from __future__ import annotations

import math
from typing import Any

import pytest

import heartsock
from heartsock import Socket, State
from heartsock.options import SEED_KEYS
from heartsock.testing import FakeRuntime

from .helpers import URL, attempts, make_socket, mentions


def build(*args: Any, **options: Any) -> Socket:
    """A socket on a throwaway FakeRuntime."""
    return Socket(*args, runtime=FakeRuntime(), **options)


def noop(*args: Any) -> None:
    """A callback that does nothing."""


# ---- the three forms ------------------------------------------------------------------


def test_defaults_match_the_spec() -> None:
    """an unconfigured socket has the documented defaults, in seconds"""
    o = build(URL).options
    assert o.url == URL
    assert o.protocols == ()
    assert (o.heart_time, o.heart_msg) == (5.0, "ping")
    assert (o.is_reconnect, o.reconnect_time, o.reconnect_count) == (True, 5.0, 5)
    assert (o.open_cb, o.close_cb, o.message_cb, o.error_cb) == (None, None, None, None)
    assert o.effective_pong_timeout == 5.0
    assert o.pong_msg is None
    assert o.backoff == "exponential"
    assert (o.reconnect_max_time, o.min_uptime, o.connect_timeout) == (60.0, 5.0, 10.0)
    assert (o.max_queue, o.max_recv_queue) == (1000, 10000)


def test_url_string_with_keywords_in_seconds() -> None:
    """a URL string plus snake_case keywords configures the socket, times in seconds"""
    o = build(URL, heart_time=2.5, heart_msg=b"hb", reconnect_time=0.25, reconnect_count=-1, message_cb=noop).options
    assert (o.url, o.heart_time, o.heart_msg, o.reconnect_time, o.reconnect_count) == (URL, 2.5, b"hb", 0.25, -1)
    assert o.message_cb is noop


def test_url_keyword() -> None:
    """Socket(url=...) is the same as passing the URL positionally"""
    assert build(url=URL, heart_time=3).options == build(URL, heart_time=3).options


def test_seed_dict_is_camel_case_in_milliseconds() -> None:
    """the reference's option dict maps camelCase keys to options and milliseconds to seconds"""
    cbs = {name: (lambda *a, n=name: n) for name in ("openCb", "closeCb", "messageCb", "errorCb")}
    o = build(
        {
            "url": URL,
            "heartTime": 2000,
            "heartMsg": "hb",
            "isReconnect": False,
            "reconnectTime": 1500,
            "reconnectCount": -1,
            **cbs,
        }
    ).options
    assert (o.url, o.heart_time, o.heart_msg, o.is_reconnect) == (URL, 2.0, "hb", False)
    assert (o.reconnect_time, o.reconnect_count) == (1.5, -1)
    assert (o.open_cb, o.close_cb, o.message_cb, o.error_cb) == (
        cbs["openCb"],
        cbs["closeCb"],
        cbs["messageCb"],
        cbs["errorCb"],
    )


def test_seed_dict_and_keywords_are_equivalent() -> None:
    """the dict form and the keyword form of the same configuration give equal options"""
    seed = {"url": URL, "heartTime": 2500, "reconnectTime": 500, "reconnectCount": 3, "messageCb": noop}
    assert (
        build(seed).options
        == build(URL, heart_time=2.5, reconnect_time=0.5, reconnect_count=3, message_cb=noop).options
    )


def test_keywords_override_the_seed_dict() -> None:
    """keyword options given beside the dict override the dict's values, the rest is kept"""
    o = build({"url": URL, "heartTime": 2000, "reconnectCount": 1}, heart_time=3.0, url="wss://other.example/x").options
    assert (o.url, o.heart_time, o.reconnect_count) == ("wss://other.example/x", 3.0, 1)


def test_seed_keys_are_exactly_the_references() -> None:
    """the seed dict accepts exactly the reference's eleven keys"""
    assert set(SEED_KEYS) == {
        "url",
        "heartTime",
        "heartMsg",
        "isReconnect",
        "isRestory",
        "reconnectTime",
        "reconnectCount",
        "openCb",
        "closeCb",
        "messageCb",
        "errorCb",
    }


def test_seed_dict_message_cb_is_called() -> None:
    """messageCb from the dict receives the message data end to end"""
    got: list[object] = []
    rt = FakeRuntime()
    Socket({"url": URL, "messageCb": got.append}, runtime=rt)
    rt.net.opened(1)
    rt.net.message(1, "hello")
    rt.net.message(1, b"\x00\xff")
    assert got == ["hello", b"\x00\xff"]


def test_is_restory_true_means_no_reconnect() -> None:
    """isRestory=True (the reference's "destroyed") disables reconnection"""
    sock, rt, rec = make_socket({"url": URL, "isRestory": True})
    assert sock.options.is_reconnect is False
    rt.net.opened(1)
    rt.net.closed_by_peer(1, 1006)
    rt.advance(1000)
    assert sock.state is State.CLOSED
    assert attempts(rt) == 1
    assert rec.reconnects == []


def test_protocols_accept_a_string_or_a_list() -> None:
    """protocols may be one name or a list; they reach the transport"""
    assert build(URL, protocols="chat").options.protocols == ("chat",)
    sock, rt, _ = make_socket(protocols=["chat", "superchat"])
    assert rt.net.sockets[1].protocols == ("chat", "superchat")


def test_url_may_be_wss() -> None:
    """wss:// URLs are accepted as well as ws://"""
    assert build("wss://example.org/socket").url == "wss://example.org/socket"


# ---- validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((), {}),
        (({},), {}),
        (({"heartTime": 1000},), {}),
        ((), {"heart_time": 1.0}),
        ((None,), {}),
        (("",), {}),
    ],
    ids=["nothing", "empty-dict", "dict-without-url", "keywords-only", "None", "empty-string"],
)
def test_missing_url_is_a_value_error(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """a missing url raises ValueError naming url"""
    with pytest.raises(ValueError) as info:
        build(*args, **kwargs)
    assert mentions(str(info.value), "url")


def test_missing_url_fails_before_the_runtime_is_needed() -> None:
    """validation runs first: on CPython a missing url is a ValueError, not UnsupportedError"""
    with pytest.raises(ValueError, match="url"):
        Socket()


@pytest.mark.parametrize(
    "url", ["http://example.org/", "https://example.org/", "example.org/ws", "ws://", "ws:///path", "ftp://x"]
)
def test_non_websocket_url_is_a_value_error(url: str) -> None:
    """a url that is not ws:// or wss:// (with a host) raises ValueError naming url"""
    with pytest.raises(ValueError) as info:
        build(url)
    assert mentions(str(info.value), "url")


def test_url_of_the_wrong_type_is_rejected() -> None:
    """a url that is neither a string nor a callable raises TypeError"""
    with pytest.raises(TypeError, match="url"):
        build(url=123)


def test_url_given_twice_is_rejected() -> None:
    """a url both positionally and as url= is a TypeError"""
    with pytest.raises(TypeError, match="url"):
        build(URL, url=URL)


TIME_OPTIONS = ["heart_time", "reconnect_time", "reconnect_max_time", "min_uptime", "connect_timeout", "pong_timeout"]


@pytest.mark.parametrize("name", TIME_OPTIONS)
def test_negative_time_is_a_value_error(name: str) -> None:
    """a negative time raises ValueError naming the option"""
    with pytest.raises(ValueError) as info:
        build(URL, **{name: -1})
    assert mentions(str(info.value), name)


@pytest.mark.parametrize("name", TIME_OPTIONS)
@pytest.mark.parametrize("value", ["5", [5], object()], ids=["str", "list", "object"])
def test_non_numeric_time_is_a_type_error(name: str, value: object) -> None:
    """a non-numeric time raises TypeError naming the option"""
    with pytest.raises(TypeError) as info:
        build(URL, **{name: value})
    assert mentions(str(info.value), name)


@pytest.mark.parametrize("name", TIME_OPTIONS)
def test_nan_time_is_a_value_error(name: str) -> None:
    """a NaN time raises ValueError naming the option"""
    with pytest.raises(ValueError) as info:
        build(URL, **{name: math.nan})
    assert mentions(str(info.value), name)


@pytest.mark.parametrize("key", ["heartTime", "reconnectTime"])
def test_seed_dict_bad_milliseconds_name_the_key(key: str) -> None:
    """negative or non-numeric millisecond times in the dict are rejected naming the key"""
    with pytest.raises(ValueError) as info:
        build({"url": URL, key: -1000})
    assert mentions(str(info.value), key)
    with pytest.raises(TypeError) as info2:
        build({"url": URL, key: "5000"})
    assert mentions(str(info2.value), key)


@pytest.mark.parametrize("form", ["keyword", "dict"])
def test_reconnect_count_below_minus_one_is_a_value_error(form: str) -> None:
    """reconnect_count < -1 raises ValueError naming it (keyword and dict forms)"""
    with pytest.raises(ValueError) as info:
        if form == "keyword":
            build(URL, reconnect_count=-2)
        else:
            build({"url": URL, "reconnectCount": -2})
    assert mentions(str(info.value), "reconnect_count")


def test_reconnect_count_must_be_an_integer() -> None:
    """a non-integer reconnect_count is a TypeError naming it"""
    with pytest.raises(TypeError) as info:
        build(URL, reconnect_count=1.5)
    assert mentions(str(info.value), "reconnect_count")


@pytest.mark.parametrize("name", ["max_queue", "max_recv_queue"])
def test_negative_queue_bounds_are_rejected(name: str) -> None:
    """max_queue and max_recv_queue below 0 raise ValueError naming the option"""
    with pytest.raises(ValueError) as info:
        build(URL, **{name: -1})
    assert mentions(str(info.value), name)


@pytest.mark.parametrize("key", ["heart_time", "pongTimeout", "backoff", "bogus", "HeartTime"])
def test_unknown_key_in_the_seed_dict_is_a_type_error(key: str) -> None:
    """a key the reference did not have (snake_case, heartsock-only, typo) is a TypeError naming it"""
    with pytest.raises(TypeError) as info:
        build({"url": URL, key: 1})
    assert key in str(info.value)


@pytest.mark.parametrize("name", ["hearttime", "heartTime", "reconnect_counts", "retries"])
def test_unknown_keyword_is_a_type_error(name: str) -> None:
    """an unknown keyword option is a TypeError naming it"""
    with pytest.raises(TypeError) as info:
        build(URL, **{name: 1})
    assert name in str(info.value)


CALLBACKS = ["open_cb", "close_cb", "message_cb", "error_cb", "reconnect_cb", "state_cb", "should_reconnect"]


@pytest.mark.parametrize("name", CALLBACKS)
def test_non_callable_callback_is_a_type_error(name: str) -> None:
    """a callback option that is not callable raises TypeError naming it"""
    with pytest.raises(TypeError) as info:
        build(URL, **{name: "not callable"})
    assert mentions(str(info.value), name)


@pytest.mark.parametrize("key", ["openCb", "closeCb", "messageCb", "errorCb"])
def test_non_callable_callback_in_the_seed_dict_is_a_type_error(key: str) -> None:
    """a non-callable callback in the dict raises TypeError naming it"""
    with pytest.raises(TypeError) as info:
        build({"url": URL, key: 5})
    assert mentions(str(info.value), key)


def test_none_callbacks_are_allowed() -> None:
    """None is a valid value for every callback option"""
    o = build(URL, **{name: None for name in CALLBACKS}).options
    assert all(getattr(o, name) is None for name in CALLBACKS)


@pytest.mark.parametrize(
    "value", [5, [""], ["chat", 1], "", {"chat"}], ids=["int", "empty-name", "int-in-list", "empty", "set"]
)
def test_bad_protocols_are_a_type_error(value: object) -> None:
    """protocols that are not a string or a list of non-empty strings raise TypeError naming protocols"""
    with pytest.raises(TypeError) as info:
        build(URL, protocols=value)
    assert mentions(str(info.value), "protocols")


def test_repeated_protocols_are_a_value_error() -> None:
    """a protocol name given twice is a ValueError (the browser would throw)"""
    with pytest.raises(ValueError, match="protocols"):
        build(URL, protocols=["chat", "chat"])


@pytest.mark.parametrize("value", ["linear", "", 5, None])
def test_bad_backoff_is_rejected(value: object) -> None:
    """backoff must be 'exponential', 'fixed' or a callable; anything else names backoff"""
    with pytest.raises(ValueError) as info:
        build(URL, backoff=value)
    assert mentions(str(info.value), "backoff")


def test_backoff_accepts_names_and_callables() -> None:
    """backoff='fixed', 'exponential' and a callable are all accepted"""

    def policy(n: int) -> float:
        return 1.0

    assert build(URL, backoff="fixed").options.backoff == "fixed"
    assert build(URL, backoff="exponential").options.backoff == "exponential"
    assert build(URL, backoff=policy).options.backoff is policy


@pytest.mark.parametrize("name, value", [("heart_msg", 5), ("pong_msg", 5), ("is_reconnect", "yes")])
def test_other_wrongly_typed_options_are_rejected(name: str, value: object) -> None:
    """heart_msg, pong_msg and is_reconnect of the wrong type are rejected naming the option"""
    with pytest.raises((TypeError, ValueError)) as info:
        build(URL, **{name: value})
    assert mentions(str(info.value), name)


def test_bad_options_fail_before_any_connection_attempt() -> None:
    """a bad option raises before the runtime opens anything or arms a timer"""
    rt = FakeRuntime()
    with pytest.raises(ValueError):
        Socket(URL, runtime=rt, heart_time=-1)
    assert not hasattr(rt, "net")  # no transport was even created
    assert rt.timers == []


def test_url_provider_callable_is_accepted() -> None:
    """url may be a callable returning the URL"""
    sock, rt, _ = make_socket(lambda: URL)
    assert rt.net.sockets[1].url == URL
    assert sock.url == URL


def test_socket_is_exported() -> None:
    """the public names of the contract are importable from heartsock"""
    from heartsock import Heart, Socket, State, UnsupportedError  # noqa: F401

    assert heartsock.Socket is Socket
