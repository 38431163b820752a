"""Redis events: per-player events, broadcast topics and control messages.

One Lua script gives each of a player's events the player's next seq, appends it to the player's history and
publishes it to the channel of each node that holds one of the player's sockets (presence), in one round trip:
no node decodes another player's traffic. Broadcast topics go to one channel every node subscribes to, encoded once
by the publisher. Everything published rides the outbox's pipelined batches, in the order it was queued.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis.asyncio as aioredis

from protocol import encode_event
from server.bus.redis.keys import ALIVE, BROADCAST, CONTROL, NODE_CHANNEL, P
from server.bus.redis.outbox import Outbox

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


def _seq_key(player_id: str) -> str:
    return f"{P}seq:{player_id}"


class RedisEvents:
    def __init__(self, redis: aioredis.Redis, outbox: Outbox, history_size: int = 500,
                 history_seconds: float = 900) -> None:
        self.redis = redis
        self._outbox = outbox
        self.history_size = history_size
        self.history_seconds = int(history_seconds)

    async def publish(self, player_id: str, events: list[tuple[str, dict[str, Any]]]) -> list[int]:
        if not events:
            return []
        args: list[Any] = [NODE_CHANNEL, ALIVE, self.history_size, self.history_seconds,
                           f"{time.time():.3f}", player_id]
        for event_type, data in events:
            args += [orjson.dumps(event_type), orjson.dumps(data)]
        keys = [_seq_key(player_id), f"{P}hist:{player_id}", f"{P}presence:{player_id}"]
        # EVAL (not EVALSHA): Redis caches the compiled script, and a restarted Redis needs no reload step.
        result = await self._outbox.send(lambda pipe: pipe.eval(PUBLISH_PLAYER, len(keys), *keys, *args))
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

    async def broadcast(self, topic: str, event_type: str, data: dict[str, Any]) -> None:
        message = b"T" + topic.encode() + b" " + encode_event(event_type, data, topic=topic)
        await self._outbox.send(lambda pipe: pipe.publish(BROADCAST, message))

    async def control(self, message: dict[str, Any], node_id: str | None = None) -> None:
        channel = CONTROL if node_id is None else NODE_CHANNEL + node_id
        await self._outbox.send(lambda pipe: pipe.publish(channel, b"C" + orjson.dumps(message)))
