"""Where the Redis adapter keeps things: one key prefix, the shared channels."""

P = "vg:"  # key prefix
BROADCAST = P + "broadcast"  # topic events, to every node
CONTROL = P + "control"  # control messages to every node
EPOCH = P + "epoch"  # a token set once per Redis data set: it changes when Redis comes back empty
NODE_CHANNEL = P + "node:"  # + node id: a node's own channel (its players' events, control messages to it)
ALIVE = P + "alive:"  # + node id: the node's heartbeat
