"""The Redis bus adapter: fan-out between nodes, presence, replay history, rankings and chat history.

- Per-player events: one Lua script gives each event the player's next seq, appends it to the player's history and
  publishes it to the channel of each node that holds one of the player's sockets (presence), in one round trip.
  No node decodes another player's traffic.
- Broadcast topics go to one channel every node subscribes to, encoded once by the publisher.
- Presence: a hash per player (session -> node and opening time) and a heartbeat key per node; a node whose
  heartbeat expires (`presence_seconds`, 30 by default) drops out of everybody's presence.
- Outgoing commands are queued and sent in pipelined batches by one flusher, which keeps the connection count
  small and the order of a node's publications intact.
- The subscription connection is watched: when it drops, the node reconnects with backoff and resubscribes;
  meanwhile `ping` is false (so /ready is 503), and the gap is logged and counted. Back online, before delivering
  anything new, it renews its heartbeat and its sockets' presence and calls `on_recovered`, telling whether Redis
  lost its data meanwhile (an `epoch` key, set once per data set, changed): the node then fills each socket's gap
  from the replay history, or closes the sockets whose history is gone.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from protocol import encode_event
from server.bus.port import Bus, BusListener

log = logging.getLogger("valgame.bus.redis")

P = "vg:"  # key prefix
BROADCAST = P + "broadcast"
CONTROL = P + "control"
EPOCH = P + "epoch"  # a token set once per Redis data set: it changes when Redis comes back empty
SEND_TIMEOUT = 5.0

# KEYS: seq, history, presence. ARGV: node channel prefix, alive key prefix, history size, history ttl, now,
# player id, then (event type as a JSON string, data as JSON) pairs. Returns the seqs given.
# (The presence and liveness keys read here are not in KEYS: fine on one Redis; Redis Cluster needs hash tags.)
PUBLISH_PLAYER = """
local seqs = {}
local nodes = {}
for _, entry in ipairs(redis.call('HVALS', KEYS[3])) do
  local node = string.match(entry, '^([^|]+)')
  if node and redis.call('EXISTS', ARGV[2] .. node) == 1 then nodes[node] = true end
end
local i = 7
while i + 1 <= #ARGV do
  local seq = redis.call('INCR', KEYS[1])
  local frame = '{"type":' .. ARGV[i] .. ',"seq":' .. seq .. ',"data":' .. ARGV[i + 1] .. '}'
  redis.call('RPUSH', KEYS[2], seq .. ' ' .. ARGV[5] .. ' ' .. frame)
  for node, _ in pairs(nodes) do
    redis.call('PUBLISH', ARGV[1] .. node, 'P' .. ARGV[6] .. ' ' .. seq .. ' ' .. frame)
  end
  seqs[#seqs + 1] = seq
  i = i + 2
end
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], 86400 * 30)
return seqs
"""


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Consume the outcome of a command nobody awaits (the flusher already logged a failure)."""
    if not future.cancelled():
        future.exception()


def _seq_key(player_id: str) -> str:
    return f"{P}seq:{player_id}"


class RedisBus(Bus):
    def __init__(self, url: str, node_id: str, history_size: int = 500, history_seconds: float = 900,
                 on_gap: Callable[[], None] | None = None, presence_seconds: float = 30) -> None:
        self.node_id = node_id
        self.alive_seconds = max(1, int(presence_seconds))
        self.heartbeat_seconds = self.alive_seconds / 6
        self.history_size = history_size
        self.history_seconds = int(history_seconds)
        self._pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=32, timeout=10)
        self.redis = aioredis.Redis(connection_pool=self._pool)
        self._listener: BusListener | None = None
        self._connected = False
        self._tasks: list[asyncio.Task[None]] = []
        self._outbox: list[tuple[Callable[[Any], None], asyncio.Future[Any]]] = []
        self._outbox_ready = asyncio.Event()
        self._on_gap = on_gap
        self.local_sockets: Callable[[], int] = lambda: 0
        self.stats: Callable[[], dict[str, Any]] = dict
        self._epoch: bytes | None = None
        self._attached: dict[str, tuple[str, str]] = {}  # this node's sessions: id -> (player id, presence value)

    @property
    def channel(self) -> str:
        return f"{P}node:{self.node_id}"

    # --- lifecycle -------------------------------------------------------------------------------------------
    async def start(self, listener: BusListener) -> None:
        self._listener = listener
        await self.redis.ping()
        self._epoch = await self._read_epoch()
        await self._heartbeat_once()
        subscribed = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._listen(subscribed), name="bus-listen"),
            asyncio.create_task(self._flush_loop(), name="bus-flush"),
            asyncio.create_task(self._heartbeat_loop(), name="bus-heartbeat"),
        ]
        await asyncio.wait_for(subscribed.wait(), 10)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.redis.delete(f"{P}alive:{self.node_id}")
            await self.redis.hdel(f"{P}nodes", self.node_id)
        except RedisError:
            pass
        await self.redis.aclose()
        await self._pool.aclose()
        self._listener = None

    async def ping(self) -> bool:
        if not self._connected:
            return False
        try:
            return bool(await self.redis.ping())
        except RedisError:
            return False

    async def _listen(self, subscribed: asyncio.Event) -> None:
        backoff = 0.1
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel, BROADCAST, CONTROL)
                if self._connected is False and subscribed.is_set():
                    # what arrives on the new subscription waits (unread) until the gap is dealt with
                    lost = await self._recover()
                    log.warning("bus reconnected", extra={"node": self.node_id, "data_lost": lost})
                self._connected = True
                backoff = 0.1
                subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None:
                        self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except (RedisError, OSError) as exc:
                if self._connected:
                    log.warning("bus connection lost", extra={"node": self.node_id, "error": str(exc)})
                    if self._on_gap is not None:
                        self._on_gap()
                self._connected = False
                try:
                    await pubsub.aclose()
                except Exception:
                    pass
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _read_epoch(self) -> bytes:
        await self.redis.set(EPOCH, secrets.token_hex(8), nx=True)
        return await self.redis.get(EPOCH) or b""

    async def _recover(self) -> bool:
        """Back after a gap: renew liveness and presence (other nodes may have dropped this node's entries, or Redis
        may have lost them), then let the node deal with what its sockets missed. True when Redis lost its data."""
        await self._heartbeat_once()
        epoch = await self._read_epoch()
        lost, self._epoch = epoch != self._epoch, epoch
        if lost:
            # The sessions of the old data set cannot be resumed (their history is gone): the node closes them,
            # and their session keys are not written again.
            self._attached.clear()
        elif self._attached:
            entries = list(self._attached.items())
            async with self.redis.pipeline(transaction=False) as pipe:
                for session_id, (player_id, value) in entries:
                    pipe.hset(f"{P}presence:{player_id}", session_id, value)
                await pipe.execute()
            gone = [(session_id, player_id) for session_id, (player_id, _) in entries
                    if session_id not in self._attached]  # detached meanwhile: take back what was just written
            if gone:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for session_id, player_id in gone:
                        pipe.hdel(f"{P}presence:{player_id}", session_id)
                    await pipe.execute()
        if self.on_recovered is not None:
            try:
                await self.on_recovered(lost)
            except (RedisError, OSError):
                raise
            except Exception:
                log.exception("bus recovery failed", extra={"node": self.node_id})
        return lost

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        listener = self._listener
        if listener is None:
            return
        kind = data[:1]
        if kind == b"P":  # P<player id> <seq> <frame>
            id_end = data.index(b" ")
            seq_end = data.index(b" ", id_end + 1)
            listener.deliver_player(data[1:id_end].decode(), int(data[id_end + 1:seq_end]), data[seq_end + 1:])
        elif kind == b"T":  # T<topic> <frame>
            topic_end = data.index(b" ")
            listener.deliver_topic(data[1:topic_end].decode(), data[topic_end + 1:])
        elif kind == b"C":
            listener.deliver_control(orjson.loads(data[1:]))

    # --- batching of outgoing commands ------------------------------------------------------------------------
    def _queue(self, add: Callable[[Any], None]) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._outbox.append((add, future))
        self._outbox_ready.set()
        return future

    async def _flush_loop(self) -> None:
        backoff = 0.05
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
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
                self._outbox_ready.set()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
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

    async def _send(self, add: Callable[[Any], None]) -> Any:
        """Queue one command for the next pipelined batch and wait for its result. During an outage the caller
        stops waiting after SEND_TIMEOUT (the command stays queued and goes out on reconnect)."""
        future = self._queue(add)
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                return await future  # cancelling the future on timeout leaves the command in the batch
        except TimeoutError:
            log.warning("bus command still queued", extra={"node": self.node_id})
            return None

    # --- per-player events ----------------------------------------------------------------------------------
    async def publish(self, player_id: str, events: list[tuple[str, dict[str, Any]]]) -> list[int]:
        if not events:
            return []
        args: list[Any] = [f"{P}node:", f"{P}alive:", self.history_size, self.history_seconds,
                           f"{time.time():.3f}", player_id]
        for event_type, data in events:
            args += [orjson.dumps(event_type), orjson.dumps(data)]
        keys = [_seq_key(player_id), f"{P}hist:{player_id}", f"{P}presence:{player_id}"]
        # EVAL (not EVALSHA): Redis caches the compiled script, and a restarted Redis needs no reload step.
        result = await self._send(lambda pipe: pipe.eval(PUBLISH_PLAYER, len(keys), *keys, *args))
        return [int(s) for s in result or ()]

    async def replay(self, player_id: str, after_seq: int) -> list[tuple[int, bytes]] | None:
        last = await self.last_seq(player_id)
        if after_seq > last:
            return None
        if after_seq == last:
            return []
        entries = await self.redis.lrange(f"{P}hist:{player_id}", 0, -1)
        kept: list[tuple[int, bytes]] = []
        oldest_allowed = time.time() - self.history_seconds
        for entry in entries:
            seq_raw, at_raw, frame = entry.split(b" ", 2)
            seq = int(seq_raw)
            if seq == after_seq + 1 and float(at_raw) < oldest_allowed:
                return None
            if seq > after_seq:
                kept.append((seq, frame))
        if not kept or kept[0][0] != after_seq + 1:
            return None
        return kept

    async def last_seq(self, player_id: str) -> int:
        value = await self.redis.get(_seq_key(player_id))
        return int(value) if value else 0

    # --- presence --------------------------------------------------------------------------------------------
    async def attach(self, player_id: str, session_id: str) -> None:
        value = f"{self.node_id}|{time.time():.6f}"
        self._attached[session_id] = (player_id, value)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(f"{P}presence:{player_id}", session_id, value)
            pipe.set(f"{P}session:{session_id}", player_id, ex=self.history_seconds)
            await pipe.execute()

    async def detach(self, player_id: str, session_id: str) -> None:
        current = self._attached.pop(session_id, None) is not None  # False: attached before Redis lost its data
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hdel(f"{P}presence:{player_id}", session_id)
                if current:
                    pipe.set(f"{P}session:{session_id}", player_id, ex=self.history_seconds)
                await pipe.execute()
        except RedisError:
            pass  # the node's heartbeat ends, and with it this entry's validity

    async def _alive_nodes(self, nodes: set[str]) -> set[str]:
        ordered = sorted(nodes)
        flags = await self.redis.mget([f"{P}alive:{n}" for n in ordered]) if ordered else []
        return {n for n, flag in zip(ordered, flags, strict=True) if flag}

    async def sessions_of(self, player_id: str) -> list[tuple[str, str, float]]:
        entries = await self.redis.hgetall(f"{P}presence:{player_id}")
        parsed = []
        for session_id, value in entries.items():
            node, _, opened = value.decode().partition("|")
            parsed.append((session_id.decode(), node, float(opened or 0)))
        alive = await self._alive_nodes({node for _, node, _ in parsed})
        stale = [sid for sid, node, _ in parsed if node not in alive]
        if stale:
            await self.redis.hdel(f"{P}presence:{player_id}", *stale)
        return [entry for entry in parsed if entry[1] in alive]

    async def session_owner(self, session_id: str) -> str | None:
        value = await self.redis.get(f"{P}session:{session_id}")
        return value.decode() if value else None

    async def _heartbeat_once(self) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(f"{P}alive:{self.node_id}", "1", ex=self.alive_seconds)
            pipe.hset(f"{P}nodes", self.node_id, orjson.dumps({
                "sockets": self.local_sockets(), "at": time.time(), **self.stats()}))
            await pipe.execute()

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self._heartbeat_once()
            except RedisError as exc:
                log.warning("bus heartbeat failed", extra={"error": str(exc)})

    async def nodes(self) -> dict[str, dict[str, Any]]:
        """Every live node's last heartbeat (sockets, command rate, ...)."""
        entries = await self.redis.hgetall(f"{P}nodes")
        alive = await self._alive_nodes({k.decode() for k in entries})
        return {k.decode(): orjson.loads(v) for k, v in entries.items() if k.decode() in alive}

    # --- broadcast and control -------------------------------------------------------------------------------
    async def broadcast(self, topic: str, event_type: str, data: dict[str, Any]) -> None:
        message = b"T" + topic.encode() + b" " + encode_event(event_type, data, topic=topic)
        await self._send(lambda pipe: pipe.publish(BROADCAST, message))

    async def control(self, message: dict[str, Any], node_id: str | None = None) -> None:
        channel = CONTROL if node_id is None else f"{P}node:{node_id}"
        await self._send(lambda pipe: pipe.publish(channel, b"C" + orjson.dumps(message)))

    async def claim_once(self, key: str, ttl_seconds: int) -> bool:
        name = f"{P}claim:{key}"
        if not self._connected:  # down or recovering: a command of its own, which fails at once or goes ahead
            return bool(await self.redis.set(name, self.node_id, nx=True, ex=ttl_seconds))
        # Pipelined with the node's other bus traffic: every keyed command claims its key, and a command of its own
        # costs several times the CPU of one in a batch.
        return bool(await self._send(lambda pipe: pipe.set(name, self.node_id, nx=True, ex=ttl_seconds)))

    async def release(self, key: str) -> None:
        # Not awaited: the claim only has to be gone before a twin looks again, and batches keep their order.
        self._queue(lambda pipe: pipe.delete(f"{P}claim:{key}")).add_done_callback(_retrieve)

    async def add_count(self, key: str, amount: int, ttl_seconds: int) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(f"{P}count:{key}", "calls", 1)
            pipe.hincrby(f"{P}count:{key}", "total", amount)
            pipe.expire(f"{P}count:{key}", ttl_seconds)
            await pipe.execute()

    async def get_count(self, key: str) -> tuple[int, int]:
        values = await self.redis.hmget(f"{P}count:{key}", ["calls", "total"])
        return int(values[0] or 0), int(values[1] or 0)

    # --- rankings --------------------------------------------------------------------------------------------
    async def rank_set(self, board: str, scores: dict[str, float]) -> None:
        if scores:
            await self._send(lambda pipe: pipe.zadd(f"{P}rank:{board}", scores))

    async def rank_top(self, board: str, count: int) -> list[tuple[str, float]]:
        return await self.rank_range(board, 0, count - 1)

    async def rank_of(self, board: str, member: str) -> tuple[int, float] | None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrevrank(f"{P}rank:{board}", member)
            pipe.zscore(f"{P}rank:{board}", member)
            rank, score = await pipe.execute()
        return None if rank is None else (int(rank) + 1, float(score))

    async def rank_range(self, board: str, start: int, stop: int) -> list[tuple[str, float]]:
        rows = await self.redis.zrevrange(f"{P}rank:{board}", max(start, 0), stop, withscores=True)
        return [(member.decode(), float(score)) for member, score in rows]

    async def rank_clear(self, board: str) -> None:
        await self.redis.delete(f"{P}rank:{board}")

    # --- chat history ----------------------------------------------------------------------------------------
    async def chat_append(self, message: dict[str, Any], keep: int) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(f"{P}chat", orjson.dumps(message))
            pipe.ltrim(f"{P}chat", -keep, -1)
            await pipe.execute()

    async def chat_history(self, count: int) -> list[dict[str, Any]]:
        if count <= 0:
            return []
        return [orjson.loads(raw) for raw in await self.redis.lrange(f"{P}chat", -count, -1)]

