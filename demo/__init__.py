"""heartsock's demo server: ``python -m demo`` (``make demo``) on http://127.0.0.1:8000.

One process, one port: the pages in ``www/`` (the chat example and the live
dashboard), the vendored Pyodide and PyScript files, heartsock's sources, the WebSocket
endpoints the pages use (``/ws/echo``, ``/ws/chat``, ``/ws/feed``; each behind
:mod:`heartsock.server`'s heartbeat) and HTTP fault controls. See :mod:`demo.app`.
"""

from __future__ import annotations

from .app import DemoServer

__all__ = ["DemoServer"]
