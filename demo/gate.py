"""Who may talk to the demo server, and what a refusal says.

The demo listens on loopback, so the browser pages that may use it are the ones this
machine serves itself. Rules:

1. **Host**, on every request (pages, controls and WebSocket handshakes): the name in it
   must be a loopback name (``localhost``, ``127.x.y.z``, ``[::1]``), the address the
   server is bound to, or the host of an ``--allow-origin``; the port is not checked
   (an SSH tunnel may change it). Anything else is answered 421: a page on a
   DNS-rebinding name (``attacker.example`` resolving to 127.0.0.1) gets nothing.
2. **Origin**, on WebSocket handshakes: none (a non-browser client), any loopback origin
   (``http``/``https`` on ``localhost``, ``127.x.y.z`` or ``[::1]``, any port, so a page
   served by ``python3 -m http.server 8731`` connects), or one given with
   ``--allow-origin``. Anything else, ``null`` included (a ``file://`` page, a
   sandboxed frame), is answered 403.
3. **Origin**, on the fault controls (``POST /api/…``): none, this server's own pages
   (a loopback origin on this server's port), or an ``--allow-origin``. Pages on other
   ports may use the endpoints, not break the server.
4. Every refusal is logged at WARNING level, the default, with its reason and its fix:
   the browser shows a refused handshake only as close 1006 and hides the status.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Gate", "Refusal", "is_loopback_name", "normalize_origin"]

log = logging.getLogger("demo")

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Refusal:
    """A request the gate refuses: the HTTP status and the sentence that explains it."""

    status: int
    message: str


def is_loopback_name(host: str) -> bool:
    """Whether ``host`` (no port; IPv6 with or without brackets) names this machine's loopback."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_origin(value: str) -> str:
    """``value`` as a browser writes it in ``Origin``: ``scheme://host[:port]``, lower case,
    IPv6 in brackets, no default port; ``"null"`` stays ``"null"``.

    Raises:
        ValueError: ``value`` is not an ``http``/``https`` origin (a path, a query or
            credentials count as not).
    """
    if value == "null":
        return value
    example = "write scheme://host[:port], e.g. http://example.test:8731"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r} is not an origin: {example}") from None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{value!r} is not an origin: {example}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{value!r} is not an origin: {example}")
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + ("" if port in (None, _DEFAULT_PORTS[scheme]) else f":{port}")


def _origin_parts(origin: str) -> tuple[str, int] | None:
    """``(hostname, port)`` of a well-formed origin, else ``None``."""
    try:
        parts = urlsplit(normalize_origin(origin))
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except (ValueError, KeyError):
        return None
    return (parts.hostname or "", port)


def _host_name(host: str) -> str | None:
    """The name in a ``Host`` header (``127.0.0.1:8000`` → ``127.0.0.1``, ``[::1]:80`` → ``::1``)."""
    try:
        parts = urlsplit(f"//{host}")
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    if not parts.hostname or parts.path or parts.query or parts.fragment or parts.username is not None:
        return None
    return parts.hostname


class Gate:
    """The Host and Origin rules of one demo server.

    Args:
        scheme: ``http`` or ``https``.
        bind: the address the server listens on (``--host``).
        allowed: extra origins (``--allow-origin``), each accepted as if it were local.
    """

    def __init__(self, scheme: str, bind: str, allowed: Iterable[str] = ()) -> None:
        self.scheme = scheme
        self.bind = bind.strip("[]").lower()
        self.allowed = frozenset(normalize_origin(origin) for origin in allowed)
        names = {self.bind}
        for origin in self.allowed:
            parts = _origin_parts(origin)
            if parts is not None:
                names.add(parts[0])
        self._names = frozenset(names)
        #: The server's port, once it listens (0 until then: no page is "own").
        self.port = 0
        #: The server's own base URL, for the fixes the messages suggest.
        self.url = ""

    # ---- the rules ------------------------------------------------------------------------
    def host_ok(self, host: str) -> bool:
        """Rule 1: whether a ``Host`` header names this server."""
        name = _host_name(host)
        return name is not None and (is_loopback_name(name) or name in self._names)

    def origin_ok(self, origin: str | None) -> bool:
        """Rule 2: whether a WebSocket handshake from ``origin`` (``None``: no header) is accepted."""
        if origin is None:
            return True
        try:
            normal = normalize_origin(origin)
        except ValueError:
            return False
        if normal in self.allowed:
            return True
        parts = _origin_parts(normal)
        return parts is not None and is_loopback_name(parts[0])

    def control_origin_ok(self, origin: str | None) -> bool:
        """Rule 3: whether a control request from ``origin`` is accepted."""
        if origin is None:
            return True
        try:
            normal = normalize_origin(origin)
        except ValueError:
            return False
        if normal in self.allowed:
            return True
        parts = _origin_parts(normal)
        if parts is None:
            return False
        name, port = parts
        return port == self.port and (is_loopback_name(name) or name == self.bind)

    # ---- the verdicts, with their explanations ----------------------------------------------
    def check_host(self, host: str | None, what: str) -> Refusal | None:
        """A 421 refusal for a ``Host`` that is not this server (``what``: the request, for the log)."""
        if host is not None and self.host_ok(host):
            return None
        if host is None:
            return Refusal(421, f"421: no Host header ({what}); every HTTP/1.1 client sends one")
        if not host:
            return Refusal(421, f"421: an empty or repeated Host header ({what})")
        return Refusal(
            421,
            f"421: Host {host} is not a name of this server, which answers loopback names only "
            f"(DNS rebinding guard) ({what}); open {self.url} instead, or, if {host} is this machine, "
            f"start with --allow-origin {self.scheme}://{host}",
        )

    def check_handshake(self, origin: str | None, path: str) -> Refusal | None:
        """A 403 refusal for a WebSocket handshake from a page this server does not serve pages to."""
        if self.origin_ok(origin):
            return None
        what = f"WebSocket handshake for {path}"
        if not origin:
            return Refusal(403, f"403: an empty or repeated Origin header ({what})")
        if origin == "null":
            return Refusal(
                403,
                f"403: Origin null is not allowed ({what}): the page was opened from a file:// URL or runs "
                "in a sandboxed frame; serve it over http from 127.0.0.1 or localhost, on any port "
                "(python3 -m http.server -b 127.0.0.1 8731), or start with --allow-origin null",
            )
        try:
            fix = f"start with --allow-origin {normalize_origin(origin)}"
        except ValueError:
            fix = "only http(s) pages can be allowed: serve the page over http from 127.0.0.1 or localhost"
        return Refusal(403, f"403: Origin {origin} is not allowed; {fix} ({what})")

    def check_control(self, origin: str | None, path: str) -> Refusal | None:
        """A 403 refusal for a fault control requested by another site's page."""
        if self.control_origin_ok(origin):
            return None
        if not origin:
            return Refusal(403, f"403: an empty or repeated Origin header (POST {path})")
        return Refusal(
            403,
            f"403: Origin {origin} may not use the fault controls (POST {path}): only this server's own "
            f"pages may; start with --allow-origin {origin} to let it",
        )
