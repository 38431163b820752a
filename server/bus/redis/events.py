"""Redis events: per-player events, broadcast topics and control messages.

A player's events come already numbered (the storage's event log gave them their seq, in the commit that caused
them); one Lua script publishes them to the channel of each node that holds one of the player's sockets
(presence), in one round trip: no node decodes another player's traffic. Nothing is kept here: a node that misses a
publication reads the event from the log. Broadcast topics go to one channel every node subscribes to, encoded once
by the publisher. Everything published rides the outbox's pipelined batches, in the order it was queued.

On Redis Cluster (`sharded`) there is no script: a script may touch only its own slot, and presence is spread over
every shard. Each frame is `SPUBLISH`ed on the player's own sharded channel, which lives on the shard that owns the
player's slot, and the nodes holding the player subscribe to it (server/bus/redis/link.py): a player's events
touch that one shard. Topics and control messages are sharded channels too (`SPUBLISH`, not the cluster-wide
`PUBLISH`, which every shard would relay to every other).
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

from protocol import encode_event
from server.bus.redis.keys import ALIVE, BROADCAST, CONTROL, NODE_CHANNEL, player_channel, presence_key
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
    def __init__(self, redis: aioredis.Redis, outbox: Outbox, sharded: bool = False) -> None:
        self.redis = redis
        self._outbox = outbox
        self._sharded = sharded

    def _send(self, pipe: Any, channel: str, message: bytes) -> None:
        if self._sharded:
            pipe.spublish(channel, message)
        else:
            pipe.publish(channel, message)

    def publish(self, player_id: str, frames: list[tuple[int, bytes]]) -> None:
        if not frames:
            return
        if self._sharded:
            channel, head = player_channel(player_id), b"P" + player_id.encode() + b" "
            for seq, frame in frames:
                message = head + str(seq).encode() + b" " + frame
                self._outbox.post(lambda pipe, message=message: pipe.spublish(channel, message))
            return
        args: list[Any] = [NODE_CHANNEL, ALIVE, player_id]
        for seq, frame in frames:
            args += [seq, frame]
        key = presence_key(player_id)
        # EVAL (not EVALSHA): Redis caches the compiled script, and a restarted Redis needs no reload step.
        self._outbox.post(lambda pipe: pipe.eval(PUBLISH_PLAYER, 1, key, *args))

    async def broadcast(self, topic: str, event_type: str, data: dict[str, Any]) -> None:
        message = b"T" + topic.encode() + b" " + encode_event(event_type, data, topic=topic)
        await self._outbox.send(lambda pipe: self._send(pipe, BROADCAST, message))

    async def control(self, message: dict[str, Any], node_id: str | None = None) -> None:
        channel = CONTROL if node_id is None else NODE_CHANNEL + node_id
        await self._outbox.send(lambda pipe: self._send(pipe, channel, b"C" + orjson.dumps(message)))
