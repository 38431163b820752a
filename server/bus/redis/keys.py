"""Where the Redis adapter keeps things: one key prefix, the shared channels.

On Redis Cluster a player's keys and channel carry the player id as a hash tag (`{...}`), so they live in the slot,
and on the shard, that the player id hashes to. On one Redis the names stay as they were (nodes of two versions
share them during a rolling upgrade)."""

P = "vg:"  # key prefix
BROADCAST = P + "broadcast"  # topic events, to every node
CONTROL = P + "control"  # control messages to every node
EPOCH = P + "epoch"  # a token set once per Redis data set: it changes when Redis comes back empty
NODE_CHANNEL = P + "node:"  # + node id: a node's own channel (its players' events, control messages to it)
ALIVE = P + "alive:"  # + node id: the node's heartbeat


def presence_key(player_id: str, sharded: bool = False) -> str:
    """The player's open sessions: session id -> node and opening time."""
    return f"{P}presence:{{{player_id}}}" if sharded else f"{P}presence:{player_id}"


def player_channel(player_id: str) -> str:
    """On Redis Cluster, the sharded channel of the player's events (nodes holding the player subscribe to it)."""
    return f"{P}player:{{{player_id}}}"
