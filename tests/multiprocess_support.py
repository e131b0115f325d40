"""Two or more heartsock server processes sharing Redis, and a TCP proxy in front of each to cut connections.

:class:`ServerProcess` runs ``tests.session_process`` (a real process with its own
``serve()`` and session manager). :class:`Proxies` forwards one loopback port to each
server, on its own event loop in a thread, and :meth:`Proxies.abort_all` aborts every
forwarded TCP connection at once (both sides: the client sees a dropped connection) —
the real fault the multi-process tests inject while messages flow.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class ServerProcess:
    """``python -m tests.session_process …`` on 127.0.0.1; :attr:`port` once it listens."""

    def __init__(self, redis_url: str, prefix: str, *, port: int = 0, **options: Any) -> None:
        args = [sys.executable, "-m", "tests.session_process", "--redis", redis_url, "--prefix", prefix]
        args += ["--port", str(port)]
        for name, value in options.items():
            args += [f"--{name}", str(value)]
        self.process = subprocess.Popen(
            args, cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"the session server process did not start: {line!r}")
        self.port = int(line.split()[1])

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def stop(self) -> int:
        """SIGTERM (a clean shutdown) and wait; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(15)

    def kill(self) -> None:
        """SIGKILL: the process dies without a word (its leases expire). Nothing if it already exited."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(15)


class Proxies:
    """A TCP proxy per backend port on its own loop in a thread; ``abort_all()`` cuts every connection."""

    def __init__(self, backends: list[int]) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="proxies", daemon=True)
        self._thread.start()
        self.transports: set[asyncio.Transport] = set()
        self.accepted = [0 for _ in backends]
        self.aborts = 0
        self._servers: list[asyncio.Server] = []
        self.ports: list[int] = [self.call(self._listen(i, port)) for i, port in enumerate(backends)]

    def call(self, coro: Any) -> Any:
        future: concurrent.futures.Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(15)

    @property
    def urls(self) -> list[str]:
        return [f"ws://127.0.0.1:{port}/" for port in self.ports]

    async def _listen(self, index: int, backend: int) -> int:
        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.transport.abort()

        async def accept(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
            self.accepted[index] += 1
            try:
                server_reader, server_writer = await asyncio.open_connection("127.0.0.1", backend)
            except OSError:
                client_writer.transport.abort()
                return
            pair = {client_writer.transport, server_writer.transport}
            self.transports |= pair  # type: ignore[arg-type]
            try:
                await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))
            finally:
                self.transports -= pair  # type: ignore[arg-type]

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    def abort_all(self) -> int:
        """Abort every forwarded connection (thread-safe); how many there were."""

        async def abort() -> int:
            live = list(self.transports)
            for transport in live:
                transport.abort()
            self.aborts += len(live) // 2
            return len(live) // 2

        return int(self.call(abort()))

    def close(self) -> None:
        async def stop() -> None:
            for transport in list(self.transports):
                transport.abort()
            for server in self._servers:
                server.close()

        self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
