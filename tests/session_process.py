"""A heartsock session server in its own process, sharing sessions through Redis (tests of RedisStore).

``python -m tests.session_process --redis URL --prefix P [--mode produce|echo] [--count N]``
serves ``resume=True`` sessions with ``store=RedisStore(URL, prefix=P)`` on 127.0.0.1 and
prints ``PORT <n>`` once listening. The handler counts its runs per session (hash
``<P>test:runs``, by session id) and records every client message (list
``<P>test:received:<session id>``) in Redis, so a test sees what the handler got whichever
process ran it. ``produce`` sends ``s0``..``s<N-1>``; ``echo``
answers each message ``m`` with ``e`` + ``m``. SIGTERM shuts the process down cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from redis.asyncio import from_url

from heartsock.server import RedisStore, Session, serve


async def main(args: argparse.Namespace) -> None:
    store = RedisStore(args.redis, prefix=args.prefix, lease=args.lease)
    redis = from_url(args.redis)
    runs = f"{args.prefix}test:runs"

    async def handler(session: Session) -> None:
        received = f"{args.prefix}test:received:{session.id}"
        logging.getLogger("test").info("handler run %s", await redis.hincrby(runs, session.id, 1))
        producer = None
        if args.mode == "produce":

            async def produce() -> None:
                for i in range(args.count):
                    await session.send(f"s{i}")
                    await asyncio.sleep(args.spacing)

            producer = asyncio.ensure_future(produce())
        async for message in session:
            await redis.rpush(received, message)
            if args.mode == "echo":
                await session.send(f"e{message}")
        if producer is not None:
            producer.cancel()

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with serve(
        handler, "127.0.0.1", args.port, resume=True, session_ttl=args.ttl, store=store, replay_limit=args.count * 2
    ) as server:
        print("PORT", server.sockets[0].getsockname()[1], flush=True)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--mode", choices=["produce", "echo"], default="produce")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--spacing", type=float, default=0.002)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttl", type=float, default=30.0)
    parser.add_argument("--lease", type=float, default=5.0)
    parser.add_argument("--log", default="")
    options = parser.parse_args()
    if options.log:
        logging.basicConfig(filename=options.log, level=logging.INFO, format="%(created).3f %(name)s %(message)s")
    asyncio.run(main(options))
