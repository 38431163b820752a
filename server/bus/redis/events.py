"""Redis events: per-player events, broadcast topics and control messages.

A player's events come already numbered (the storage's event log gave them their seq, in the commit that caused
them); one Lua script publishes them to the channel of each node that holds one of the player's sockets
(presence), in one round trip: no node decodes another player's traffic. Nothing is kept here: a node that misses a
publication reads the event from the log. Broadcast topics go to one channel every node subscribes to, encoded once
by the publisher. Everything published rides the outbox's pipelined batches, in the order it was queued.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

from protocol import encode_event
from server.bus.redis.keys import ALIVE, BROADCAST, CONTROL, NODE_CHANNEL, P
from server.bus.redis.outbox import Outbox

# KEYS: presence. ARGV: node channel prefix, alive key prefix, player id, then (seq, frame) pairs.
# (The liveness keys read here are not in KEYS: fine on one Redis; Redis Cluster needs hash tags.)
PUBLISH_PLAYER = """
local nodes = {}
for _, entry in ipairs(redis.call('HVALS', KEYS[1])) do
  local node = string.match(entry, '^([^|]+)')
  if node and redis.call('EXISTS', ARGV[2] .. node) == 1 then nodes[node] = true end
end
for node, _ in pairs(nodes) do
  local i = 4
  while i + 1 <= #ARGV do
    redis.call('PUBLISH', ARGV[1] .. node, 'P' .. ARGV[3] .. ' ' .. ARGV[i] .. ' ' .. ARGV[i + 1])
    i = i + 2
  end
end
return 0
"""


class RedisEvents:
    def __init__(self, redis: aioredis.Redis, outbox: Outbox) -> None:
        self.redis = redis
        self._outbox = outbox

    def publish(self, player_id: str, frames: list[tuple[int, bytes]]) -> None:
        if not frames:
            return
        args: list[Any] = [NODE_CHANNEL, ALIVE, player_id]
        for seq, frame in frames:
            args += [seq, frame]
        key = f"{P}presence:{player_id}"
        # EVAL (not EVALSHA): Redis caches the compiled script, and a restarted Redis needs no reload step.
        self._outbox.post(lambda pipe: pipe.eval(PUBLISH_PLAYER, 1, key, *args))

    async def broadcast(self, topic: str, event_type: str, data: dict[str, Any]) -> None:
        message = b"T" + topic.encode() + b" " + encode_event(event_type, data, topic=topic)
        await self._outbox.send(lambda pipe: pipe.publish(BROADCAST, message))

    async def control(self, message: dict[str, Any], node_id: str | None = None) -> None:
        channel = CONTROL if node_id is None else NODE_CHANNEL + node_id
        await self._outbox.send(lambda pipe: pipe.publish(channel, b"C" + orjson.dumps(message)))
