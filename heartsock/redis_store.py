"""``RedisStore``: heartsock sessions in Redis, shared by any number of server processes.

``serve(handler, host, port, resume=True, store=RedisStore("redis://127.0.0.1:6379/0"))``
keeps every session in Redis, so a client that reconnects to *another* server process
resumes there with nothing lost. Needs the ``redis`` package (``pip install
'heartsock[redis]'``) and Redis 7.0 or later. This module imports ``redis`` only when a
``RedisStore`` is made.

Per session ``S`` (all keys share the hash tag ``{S}``, so they live on one Cluster slot):

- ``<prefix>{S}:meta`` — a hash: the Origin, ``out_seq``/``in_ack``/``in_read``, the
  connection ``epoch``, the ``replayed``/``dropped`` counters. Its TTL is the session's
  expiry; every other key follows it.
- ``<prefix>{S}:out`` — a Stream: the replay buffer of server → client messages, entry id
  ``<seq>-0``, capped at ``replay_limit`` entries, trimmed as the client acknowledges.
- ``<prefix>{S}:in`` — a Stream: client → server messages on their way to the handler,
  entry id ``<seq>-0`` (an id Redis refuses twice: the dedup), trimmed as the handler reads.
- ``<prefix>{S}:ctl`` — a Stream: ``attach`` (a newer connection took over) and ``end`` events.
- ``<prefix>{S}:lease`` — a string with a TTL: the process that runs the handler.

Payloads are stored as they are (text as UTF-8 in field ``s``, bytes in field ``b``).
Without persistence a Redis restart loses every session: clients then get a
``SessionReset`` (see PROTOCOL.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import secrets
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ._store import Appended, Control, Entry, SessionStore, StoredSession
from .errors import ConfigError, ConfigTypeError
from .options import positive_seconds
from .wire import Data

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisStore"]

_FOLLOW = """
local function follow(meta, key)
  local at = redis.call('PEXPIRETIME', meta)
  if at > 0 then redis.call('PEXPIREAT', key, at) end
end
"""

# KEYS: meta, out, in, lease. ARGV: replay_limit, in_read, owner, then field, payload for each message.
_APPEND_OUT = (
    _FOLLOW
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if ARGV[3] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[3] then return -2 end
local limit = tonumber(ARGV[1])
local seq = tonumber(redis.call('HGET', KEYS[1], 'out_seq') or '0')
if #ARGV >= 5 then
  local n = redis.call('XLEN', KEYS[2])
  local dropped = 0
  for i = 4, #ARGV, 2 do
    seq = seq + 1
    if n >= limit then dropped = dropped + 1 else n = n + 1 end
    redis.call('XADD', KEYS[2], 'MAXLEN', limit, seq .. '-0', ARGV[i], ARGV[i + 1])
  end
  redis.call('HSET', KEYS[1], 'out_seq', seq)
  if dropped > 0 then redis.call('HINCRBY', KEYS[1], 'dropped', dropped) end
  follow(KEYS[1], KEYS[2])
end
local done = tonumber(ARGV[2])
if done > tonumber(redis.call('HGET', KEYS[1], 'in_read') or '0') then
  redis.call('HSET', KEYS[1], 'in_read', done)
  redis.call('XTRIM', KEYS[3], 'MINID', (done + 1) .. '-0')
end
return seq
"""
)

# KEYS: meta, out. ARGV: seq.
_ACK_OUT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local seq = math.min(tonumber(ARGV[1]), tonumber(redis.call('HGET', KEYS[1], 'out_seq') or '0'))
local acked = tonumber(redis.call('HGET', KEYS[1], 'out_ack') or '0')
if seq <= acked then return 1 end
redis.call('HSET', KEYS[1], 'out_ack', seq)
redis.call('XTRIM', KEYS[2], 'MINID', (seq + 1) .. '-0')
return 1
"""

# KEYS: meta, in. ARGV: inbound_limit, then seq, field, payload for each message.
_APPEND_IN = (
    _FOLLOW
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, -2} end
local ack = tonumber(redis.call('HGET', KEYS[1], 'in_ack') or '0')
local done = tonumber(redis.call('HGET', KEYS[1], 'in_read') or '0')
local limit = tonumber(ARGV[1])
local status = 1
local stored = false
for i = 2, #ARGV, 3 do
  local seq = tonumber(ARGV[i])
  if seq > ack then
    if seq ~= ack + 1 then status = -1 break end
    if ack - done >= limit then status = -3 break end
    redis.call('XADD', KEYS[2], seq .. '-0', ARGV[i + 1], ARGV[i + 2])
    ack = seq
    stored = true
  end
end
if stored then
  redis.call('HSET', KEYS[1], 'in_ack', ack)
  follow(KEYS[1], KEYS[2])
end
return {ack, status}
"""
)

# KEYS: meta, out, in, ctl. ARGV: ttl_ms.
_TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return 1
"""

# KEYS: meta, out, in, ctl. ARGV: client_ack, ttl_ms.
_ATTACH = (
    _FOLLOW
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
local ack = math.min(tonumber(ARGV[1]), tonumber(redis.call('HGET', KEYS[1], 'out_seq') or '0'))
local acked = tonumber(redis.call('HGET', KEYS[1], 'out_ack') or '0')
if ack > acked then
  redis.call('HSET', KEYS[1], 'out_ack', ack)
  redis.call('XTRIM', KEYS[2], 'MINID', (ack + 1) .. '-0')
end
local out_seq = tonumber(redis.call('HGET', KEYS[1], 'out_seq') or '0')
if out_seq > ack then redis.call('HINCRBY', KEYS[1], 'replayed', out_seq - ack) end
local pos = redis.call('XADD', KEYS[4], 'MAXLEN', '~', 64, '*', 'ev', 'attach', 'epoch', epoch)
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return {epoch, redis.call('HGET', KEYS[1], 'in_ack') or '0', pos}
"""
)

# KEYS: meta, lease. ARGV: owner, lease_ms.
_CLAIM = """
local cur = redis.call('GET', KEYS[2])
if cur == ARGV[1] then
  if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) return -1 end
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 1
end
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if cur then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS: lease. ARGV: owner.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""

# KEYS: meta, out, in, ctl, lease. ARGV: why, linger_ms.
_END = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local out_seq = redis.call('HGET', KEYS[1], 'out_seq') or '0'
redis.call('XADD', KEYS[4], 'MAXLEN', '~', 64, '*', 'ev', 'end', 'why', ARGV[1], 'out_seq', out_seq)
redis.call('DEL', KEYS[1], KEYS[3], KEYS[5])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[4], ARGV[2])
return 1
"""

_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{24}")  # secrets.token_urlsafe(18)
_LINGER_MS = 10_000  # how long an ended session's last messages stay readable
_BLOCK_MS = 1000  # the longest one blocking XREAD waits before it reads again
_WAKE_TTL_MS = 60_000  # a process's wake Stream outlives it by this much
# KEYS: wake. ARGV: ttl_ms.
_WAKE = """
redis.call('XADD', KEYS[1], 'MAXLEN', '~', 16, '*', 'w', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


class RedisStore(SessionStore):
    """Sessions in Redis (Streams for the buffers, key TTLs for expiry), for many server processes.

    ``serve(handler, host, port, resume=True, store=RedisStore("redis://127.0.0.1:6379/0"))``
    on every process, all with the same URL and ``prefix``. A client resumes its session
    on whichever process its next connection reaches; the session's handler runs on one
    process at a time — the one holding the session's lease, at first the one that
    created it — and the other processes relay: client messages into the session's
    inbound stream (which the handler's process reads), the handler's messages out of
    the replay stream to the client's connection. If the handler's process dies, its
    lease expires after ``lease`` seconds and the next process serving the client runs
    the handler again (see PROTOCOL.md, "Many server processes").

    Args:
        url: a ``redis://`` (or ``rediss://``, ``unix://``) URL, as ``redis.asyncio.from_url`` takes.
        prefix: the prefix of every key heartsock writes.
        lease: seconds a crashed handler's process keeps its sessions before another
            process may run their handlers again.
        **options: more keyword arguments for ``redis.asyncio.from_url``.

    Raises:
        ConfigError: the ``redis`` package is missing (``pip install 'heartsock[redis]'``),
            or a bad setting.

    Attributes:
        url: the Redis URL.
        prefix: the prefix of every key.
        lease: seconds a handler's lease lasts without renewal.
        redis: the ``redis.asyncio.Redis`` client (its connection pool).
    """

    def __init__(self, url: str, *, prefix: str = "heartsock:", lease: float = 5.0, **options: Any) -> None:
        try:
            from redis.asyncio import from_url
        except ImportError as exc:
            raise ConfigError(
                "RedisStore needs the redis package: pip install 'heartsock[redis]' (or pip install redis)"
            ) from exc
        if not isinstance(url, str):
            raise ConfigTypeError(f"RedisStore url must be a str, got {type(url).__name__}")
        if not isinstance(prefix, str):
            raise ConfigTypeError(f"prefix must be a str, got {type(prefix).__name__}")
        positive_seconds("lease", lease)
        self.url = url
        self.prefix = prefix
        self.lease = float(lease)
        options.setdefault("protocol", 2)
        self.redis: Redis = from_url(url, decode_responses=False, **options)
        # Every waiting read of this process shares one connection's blocking XREAD.
        self._waits = _Multiplexer(
            self.redis,
            lambda: from_url(url, single_connection_client=True, **options),
            f"{prefix}wake:{secrets.token_hex(8)}",
        )
        script = self.redis.register_script
        self._append_out = script(_APPEND_OUT)
        self._ack_out = script(_ACK_OUT)
        self._append_in = script(_APPEND_IN)
        self._touch = script(_TOUCH)
        self._attach = script(_ATTACH)
        self._claim = script(_CLAIM)
        self._release = script(_RELEASE)
        self._end = script(_END)

    def __repr__(self) -> str:
        return f"RedisStore({self.url.split('@')[-1]!r}, prefix={self.prefix!r})"

    # ---- keys -----------------------------------------------------------------------------
    def _key(self, session_id: str, name: str) -> str:
        return f"{self.prefix}{{{session_id}}}:{name}"

    def _keys(self, session_id: str, *names: str) -> list[str]:
        return [self._key(session_id, name) for name in names]

    @property
    def _ttl_ms(self) -> int:
        return max(1, round(self.session_ttl * 1000))

    # ---- the interface ------------------------------------------------------------------
    async def create(self, origin: str | None) -> str:
        """Create a session bound to ``origin``; return its new id (144 random bits)."""
        session_id = secrets.token_urlsafe(18)
        meta = self._key(session_id, "meta")
        fields: dict[str, str | int] = {"out_seq": 0, "in_ack": 0, "in_read": 0, "out_ack": 0, "epoch": 0}
        if origin is not None:
            fields["origin"] = origin
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(meta, mapping=fields)  # type: ignore[arg-type]
            pipe.pexpire(meta, self._ttl_ms)
            await pipe.execute()
        return session_id

    async def find(self, session_id: str, origin: str | None) -> StoredSession | None:
        """The session, if it exists and was created from ``origin``."""
        if not _SESSION_ID.fullmatch(session_id):
            return None  # not an id this store made (and never a key name a client chose)
        meta, out = self._keys(session_id, "meta", "out")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hmget(meta, ["origin", "in_ack", "out_seq", "in_read", "epoch"])
            pipe.xrange(out, "-", "+", count=1)
            fields, first = await pipe.execute()
        if fields[4] is None:
            return None
        stored_origin = fields[0].decode() if fields[0] is not None else None
        if stored_origin != origin:
            return None
        out_seq = int(fields[2])
        out_first = _seq(first[0][0]) if first else out_seq + 1
        return StoredSession(stored_origin, int(fields[1]), out_seq, out_first, int(fields[3]))

    async def attach(self, session_id: str, client_ack: int) -> tuple[int, int, str] | None:
        """Number a new connection, acknowledge ``client_ack``, announce it, restart the expiry clock."""
        keys = self._keys(session_id, "meta", "out", "in", "ctl")
        result = await self._attach(keys=keys, args=[client_ack, self._ttl_ms])
        if not result:
            return None
        epoch, in_ack, position = result
        return int(epoch), int(in_ack), position.decode()

    async def touch(self, session_id: str) -> bool:
        """Restart the expiry clock; ``False`` if the session is gone."""
        keys = self._keys(session_id, "meta", "out", "in", "ctl")
        return bool(await self._touch(keys=keys, args=[self._ttl_ms]))

    async def append_out(
        self, session_id: str, messages: Sequence[Data], in_read: int = 0, owner: str = ""
    ) -> int | None:
        """Number and keep ``messages`` and record the handler's progress; ``None`` if the session is
        gone or ``owner`` no longer holds its lease."""
        args: list[Any] = [self.replay_limit, in_read, owner]
        for data in messages:
            args.extend(_field(data))
        keys = self._keys(session_id, "meta", "out", "in", "lease")
        seq = int(await self._append_out(keys=keys, args=args))
        return None if seq < 0 else seq

    async def ack_out(self, session_id: str, seq: int) -> None:
        """Forget the server → client messages up to ``seq``."""
        await self._ack_out(keys=self._keys(session_id, "meta", "out"), args=[seq])

    async def append_in(self, session_id: str, messages: Sequence[tuple[int, Data]]) -> tuple[int, Appended]:
        """Store client → server messages, each only if it is the next one."""
        args: list[Any] = [self.inbound_limit]
        for seq, data in messages:
            args.append(seq)
            args.extend(_field(data))
        in_ack, outcome = await self._append_in(keys=self._keys(session_id, "meta", "in"), args=args)
        return int(in_ack), Appended(int(outcome))

    async def read(
        self,
        session_id: str,
        stream: Literal["out", "in"],
        after: int,
        control_after: str | None,
        timeout: float | None,
    ) -> tuple[list[Entry], list[Control]]:
        """Messages after ``after`` and control events after ``control_after``, waiting up to ``timeout``."""
        data_key, ctl_key = self._keys(session_id, stream, "ctl")
        streams: dict[Any, Any] = {data_key: f"{after}-0"}
        if control_after is not None:
            streams[ctl_key] = control_after
        reply = await self.redis.xread(streams, count=256)  # what is there already
        if not reply and timeout is not None:
            reply = await self._waits.read(streams, timeout)
        entries: list[Entry] = []
        controls: list[Control] = []
        for name, items in _streams(reply):
            if name.decode().endswith(":ctl"):
                controls.extend(_control(entry_id.decode(), fields) for entry_id, fields in items)
            else:
                entries.extend(Entry(_seq(entry_id), _payload(fields)) for entry_id, fields in items)
        return entries, controls

    async def info(self, session_id: str) -> dict[str, int] | None:
        """The session's counters, or ``None`` if it is gone."""
        names = ["out_seq", "out_ack", "replayed", "dropped", "in_ack", "in_read"]
        values = await self.redis.hmget(self._key(session_id, "meta"), names)
        if values[0] is None:
            return None
        return {name: int(value or 0) for name, value in zip(names, values, strict=True)}

    async def claim(self, session_id: str, owner: str) -> int:
        """Take or renew the handler's lease: 1 held, 0 held by another, -1 session gone."""
        keys = self._keys(session_id, "meta", "lease")
        return int(await self._claim(keys=keys, args=[owner, max(1, round(self.lease * 1000))]))

    async def release(self, session_id: str, owner: str) -> None:
        """Give the lease up, if ``owner`` holds it."""
        await self._release(keys=[self._key(session_id, "lease")], args=[owner])

    async def end(self, session_id: str, why: str) -> None:
        """Announce the end on the control channel and forget the session."""
        keys = self._keys(session_id, "meta", "out", "in", "ctl", "lease")
        await self._end(keys=keys, args=[why, _LINGER_MS])

    async def aclose(self) -> None:
        """Close the connections."""
        await self._waits.aclose()
        await self.redis.aclose()


class _Multiplexer:
    """One blocking ``XREAD`` for all of a process's waiting reads, on a connection of its own.

    A read that found nothing registers the streams it waits for; the loop reads them all in
    one ``XREAD … BLOCK`` and hands each waiter what is past its position. A waiter whose
    streams the pending ``XREAD`` does not cover adds an entry to this process's own *wake*
    Stream, which every ``XREAD`` of the loop also reads: it returns at once, even if the
    entry landed before it began to block, and the loop reads again with the new streams.
    So a process holds two Redis connections for reads however many sessions it serves.
    """

    def __init__(self, redis: Redis, connect: Callable[[], Redis], wake_key: str) -> None:
        self.redis = redis
        self.connect = connect
        self.reader: Redis | None = None
        self.wake_key = wake_key
        self.wake_position = (0, 0)
        self._wake = redis.register_script(_WAKE)
        self.waiters: dict[int, tuple[dict[Any, Any], asyncio.Future[Any]]] = {}
        self.covered: dict[str, tuple[int, int]] | None = None  # what the blocked XREAD reads
        self.task: asyncio.Task[None] | None = None
        self.ids = itertools.count()

    async def read(self, streams: dict[Any, Any], timeout: float) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        token = next(self.ids)
        self.waiters[token] = (streams, future)
        try:
            if self.task is None or self.task.done():
                self.task = asyncio.ensure_future(self._loop())
            elif self.covered is not None and not self._covers(streams):
                await self._wake(keys=[self.wake_key], args=[_WAKE_TTL_MS])
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(future, timeout)
            return []
        finally:
            del self.waiters[token]

    def _covers(self, streams: dict[Any, Any]) -> bool:
        covered = self.covered or {}
        return all(key in covered and covered[key] <= _position(pos) for key, pos in streams.items())

    async def _loop(self) -> None:
        while self.waiters:
            try:
                if self.reader is None:
                    self.reader = self.connect()
                merged: dict[str, tuple[int, int]] = {}
                for streams, future in self.waiters.values():
                    if future.done():
                        continue  # answered; its reader removes it when it runs
                    for key, pos in streams.items():
                        position = _position(pos)
                        merged[key] = min(merged.get(key, position), position)
                if not merged:
                    await asyncio.sleep(0)
                    continue
                self.covered = merged
                wanted: dict[Any, Any] = {key: f"{ms}-{seq}" for key, (ms, seq) in merged.items()}
                wanted[self.wake_key] = "{}-{}".format(*self.wake_position)
                reply = await self.reader.xread(wanted, count=256, block=_BLOCK_MS)
            except Exception as exc:
                self.covered = None
                for _, future in self.waiters.values():
                    if not future.done():
                        future.set_exception(exc)
                with contextlib.suppress(Exception):
                    if self.reader is not None:
                        await self.reader.aclose()
                self.reader = None
                return
            self.covered = None
            streams_read = _streams(reply)
            for name, items in streams_read:
                if name.decode() == self.wake_key and items:
                    self.wake_position = _position(items[-1][0])
            for streams, future in self.waiters.values():
                if future.done():
                    continue
                mine = []
                for name, items in streams_read:
                    key = name.decode()
                    if key in streams:
                        after = _position(streams[key])
                        newer = [item for item in items if _position(item[0]) > after]
                        if newer:
                            mine.append((name, newer))
                if mine:
                    future.set_result(mine)

    async def aclose(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
        if self.reader is not None:
            await self.reader.aclose()
            self.reader = None


def _position(entry_id: Any) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _field(data: Data) -> tuple[str, bytes]:
    if isinstance(data, str):
        return "s", data.encode("utf-8", "surrogatepass")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return "b", bytes(data)
    raise TypeError(f"a session message must be str or bytes, got {type(data).__name__}")


def _payload(fields: dict[bytes, bytes]) -> Data:
    if b"s" in fields:
        return fields[b"s"].decode("utf-8", "surrogatepass")
    return fields[b"b"]


def _seq(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0])


def _control(position: str, fields: dict[bytes, bytes]) -> Control:
    kind = fields.get(b"ev", b"").decode()
    return Control(
        position,
        kind,
        epoch=int(fields.get(b"epoch", b"0")),
        why=fields.get(b"why", b"").decode("utf-8", "replace"),
        out_seq=int(fields.get(b"out_seq", b"0")),
    )


def _streams(reply: Any) -> list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]:
    """XREAD's reply as ``[(stream, [(id, fields), …]), …]`` (RESP2's list or RESP3's dict)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [(name, items[0] if items and isinstance(items[0], list) else items) for name, items in reply.items()]
    return [(name, items) for name, items in reply]
