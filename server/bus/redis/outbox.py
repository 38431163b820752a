"""Outgoing Redis commands queued and sent in pipelined batches by one flusher.

It keeps the connection count small and the order of a node's publications intact, and a command in a batch costs
a fraction of the CPU of one of its own (a keyed command's claim rides it: docs/PERFORMANCE.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("valgame.bus.redis")

SEND_TIMEOUT = 5.0


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Consume the outcome of a command nobody awaits (the flusher already logged a failure)."""
    if not future.cancelled():
        future.exception()


class Outbox:
    def __init__(self, redis: aioredis.Redis, node_id: str) -> None:
        self.redis = redis
        self.node_id = node_id
        self._outbox: list[tuple[Callable[[Any], None], asyncio.Future[Any]]] = []
        self._ready = asyncio.Event()

    def queue(self, add: Callable[[Any], None]) -> asyncio.Future[Any]:
        """Queue one command (`add(pipeline)`) for the next batch; the future holds its result."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._outbox.append((add, future))
        self._ready.set()
        return future

    def post(self, add: Callable[[Any], None]) -> None:
        """Queue one command nobody waits for (it goes out in order with the rest)."""
        self.queue(add).add_done_callback(_retrieve)

    async def send(self, add: Callable[[Any], None]) -> Any:
        """Queue one command for the next pipelined batch and wait for its result. During an outage the caller
        stops waiting after SEND_TIMEOUT (the command stays queued and goes out on reconnect)."""
        future = self.queue(add)
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                return await future  # cancelling the future on timeout leaves the command in the batch
        except TimeoutError:
            log.warning("bus command still queued", extra={"node": self.node_id})
            return None

    async def run(self) -> None:
        """The flusher: send what is queued, one batch at a time, until cancelled."""
        backoff = 0.05
        while True:
            await self._ready.wait()
            self._ready.clear()
            batch, self._outbox = self._outbox, []
            if not batch:
                continue
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for add, _ in batch:
                        add(pipe)
                    results = await pipe.execute(raise_on_error=False)
                backoff = 0.05
            except (RedisError, OSError) as exc:
                # The connection failed: keep the batch, in order, ahead of newer work, and retry. (A batch cut off
                # mid-way may run twice; its events then arrive twice with distinct seqs.)
                log.warning("bus publish failed, retrying", extra={"error": str(exc), "batch": len(batch)})
                self._outbox = batch + self._outbox
                self._ready.set()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 0.5)  # a failover is over in seconds: retry often
                continue
            except Exception as exc:  # a bug in one queued command must not stop the flusher
                log.exception("bus batch failed")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
