"""Fixtures shared by the tooling tier: one real redis-server per session (tests/redis_support.py)."""

from tests.redis_support import redis_server

__all__ = ["redis_server"]
