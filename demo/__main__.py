"""``python -m demo [--host 127.0.0.1] [--port 8000] [--allow-origin ORIGIN] [--certfile F --keyfile F]``.

Serves the demos and prints their URL; Ctrl+C (or SIGTERM) stops it. Every refused
request is logged, with its reason and its fix, at the default verbosity.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

from devtools.static import MissingAssets, check_assets
from heartsock.wire import DEFAULT_HEART_TIME

from .app import MAX_SIZE, WWW, DemoServer
from .gate import is_loopback_name, normalize_origin
from .listener import Limits
from .memory import Memory

log = logging.getLogger("demo")

ORIGIN_HELP = """\
Browser pages may open WebSockets here when they come from this machine's loopback
interface: http(s)://127.0.0.1, http(s)://localhost or http(s)://[::1], on any port
(python3 -m http.server 8731 serves such a page). A page from any other origin is
refused with HTTP 403, and the refusal is logged with the --allow-origin that admits
it. Every request must also name this server in its Host header (a loopback name, the
--host address, or the host of an --allow-origin), or it gets 421 (DNS rebinding
guard). The fault controls (POST /api/...) answer this server's own pages only."""


def _origin(value: str) -> str:
    try:
        return normalize_origin(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Serve heartsock's demo pages and endpoints.",
        epilog=ORIGIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000; 0 picks a free one)")
    parser.add_argument("--certfile", help="TLS certificate (PEM): serve https:// and wss://")
    parser.add_argument("--keyfile", help="TLS private key (PEM) for --certfile")
    parser.add_argument("--max-size", type=int, default=MAX_SIZE, help=f"largest message in bytes (default {MAX_SIZE})")
    parser.add_argument("--tick-period", type=float, default=1.0, help="seconds between rounds of market ticks")
    parser.add_argument(
        "--silence-timeout",
        type=float,
        default=30.0,
        help="probe every WebSocket with a Ping this often, in seconds, and abort one that does not answer "
        f"within 5 s (default 30; keep it above the clients' heart_time, {DEFAULT_HEART_TIME:g} s by default)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=Limits.max_connections,
        help=f"open connections at most; more are answered 503 (default {Limits.max_connections})",
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=Limits.header_timeout,
        help=f"seconds a client has to send a request line and headers (default {Limits.header_timeout:g})",
    )
    parser.add_argument(
        "--accept-rate",
        type=float,
        default=Limits.accept_rate,
        help="new connections and closing handshakes handled per second at most; more wait their turn "
        f"(default {Limits.accept_rate:g}, after a burst of {Limits.accept_burst})",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        type=_origin,
        metavar="ORIGIN",
        help="also accept WebSocket handshakes and control requests from pages of ORIGIN "
        "(scheme://host[:port], e.g. http://example.test:8731 or http://192.168.1.5:8000; "
        "'null' for file:// pages), and ORIGIN's host in Host headers; repeatable. "
        "Loopback origins need no flag (see below)",
    )
    parser.add_argument("--www", type=Path, default=WWW, help="the directory served at / (default: www/)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every control and connection")
    args = parser.parse_args(argv)
    if bool(args.certfile) != bool(args.keyfile):
        parser.error("--certfile and --keyfile go together")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if args.max_connections < 1:
        parser.error("--max-connections must be at least 1")
    if not (args.header_timeout > 0 and args.silence_timeout > 0 and args.tick_period > 0 and args.accept_rate > 0):
        parser.error("--header-timeout, --silence-timeout, --tick-period and --accept-rate must be positive")
    return args


def _file_limit(wanted: int) -> int:
    """Raise the soft limit on open files towards ``wanted`` + headroom; return the connections it allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + 64
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < need:
        allowed = max(1, soft - 64)
        log.warning("only %d open files allowed: serving at most %d connections", soft, allowed)
        return allowed
    return wanted


def _quiet_accept_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's handler, but one line (no traceback) when accept() fails (EMFILE…)."""
    exception = context.get("exception")
    if isinstance(exception, OSError) and "accept" in str(context.get("message", "")):
        log.warning("%s: %s", context.get("message"), exception)
        return
    loop.default_exception_handler(context)


async def run(args: argparse.Namespace) -> None:
    context = None
    if args.certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)
    limits = Limits(
        max_connections=_file_limit(args.max_connections),
        header_timeout=args.header_timeout,
        accept_rate=args.accept_rate,
        ping_interval=args.silence_timeout,
        ping_timeout=5.0,
        max_size=args.max_size,
    )
    server = DemoServer(
        args.host,
        args.port,
        ssl_context=context,
        max_size=args.max_size,
        tick_period=args.tick_period,
        www=args.www,
        extra_origins=tuple(args.allow_origin),
        limits=limits,
    )
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_quiet_accept_errors)
    await server.start()
    Memory.take_over()  # short GC pauses with thousands of connections open (demo.memory)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    url = server.url
    ws = url.replace("http", "ws", 1)
    print(f"heartsock demo: {url}", flush=True)
    print(f"  dashboard   {url}dashboard.html", flush=True)
    print(f"  chat        {url}", flush=True)
    print(f"  endpoints   {ws}ws/feed  {ws}ws/chat  {ws}ws/echo", flush=True)
    allowed = " ".join(sorted(server.gate.allowed))
    print(f"  pages from  any loopback origin (127.0.0.1, localhost, [::1]; any port) {allowed}".rstrip(), flush=True)
    if not is_loopback_name(args.host):
        print(f"  warning: listening on {args.host}, not only on loopback", flush=True)
    print("Ctrl+C stops it.", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def _with_system_malloc(argv: list[str] | None) -> None:
    """Run again (same process, :func:`os.execv`) with ``PYTHONMALLOC=malloc``, unless it is set.

    Python's own allocator keeps the arenas of freed objects mapped when a few objects
    remain in them, so the memory of connections that left never goes back to the
    system; on the C heap, :func:`demo.memory.trim` gives it back (measured: 2,000 idle
    connections, then none: RSS 108 MiB → 40 MiB instead of 82 MiB, from 33 MiB).
    """
    if argv is not None or "PYTHONMALLOC" in os.environ or not sys.platform.startswith("linux"):
        return  # main() called from Python (argv given) never replaces its process
    os.environ["PYTHONMALLOC"] = "malloc"
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "demo", *sys.argv[1:]])


def main(argv: list[str] | None = None) -> int:
    _with_system_malloc(argv)
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    # uvicorn's per-connection lines ("WebSocket /ws/echo [accepted]") only with -v.
    for name in ("uvicorn", "websockets"):
        logging.getLogger(name).setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        check_assets()
    except MissingAssets as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    try:
        asyncio.run(run(args))
    except OSError as exc:
        print(f"demo: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
