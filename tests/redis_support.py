"""A real redis-server for the tests of RedisStore (Debian's package; the Makefile installs it).

``redis_server`` is a session-scoped fixture: one ``redis-server`` per pytest session, on a
free 127.0.0.1 port, without persistence, in its own temporary directory; stopped at the
end. It errors (never skips) when ``redis-server`` is missing. Import it into a test module:
``from tests.redis_support import redis_server  # noqa: F401``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


class RedisServer:
    """A ``redis-server`` process on ``127.0.0.1:port``; :meth:`restart` keeps the port (and loses the data)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is missing: run `make setup` (it installs Debian's redis-server)")
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="heartsock-redis-"))
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}: see {self.dir / 'redis.log'}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def restart(self) -> None:
        """Stop and start again on the same port: without persistence, every key is gone."""
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the whole pytest session (errors if redis-server is missing)."""
    server = RedisServer()
    try:
        yield server
    finally:
        server.close()
