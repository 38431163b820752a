#!/usr/bin/env bash
# Initiate the config and shard replica sets, wait for primaries, add the shards through a temporary mongos,
# then enable sharding (shard.js). Safe to run again: each step checks what is already done.
set -euo pipefail

initiate() {  # host:port replica-set-name [configsvr]
    local host=$1 set=$2 configsvr=${3:-false}
    mongosh --quiet "mongodb://$host" --eval "
        try { rs.status().ok } catch (e) {
            rs.initiate({_id: '$set', configsvr: $configsvr, members: [{_id: 0, host: '$host'}]})
        }
        while (!db.hello().isWritablePrimary) { sleep(200) }"
}

initiate config:27019 cfg true
initiate shard1:27018 shard1
initiate shard2:27018 shard2

mongos --configdb cfg/config:27019 --port 27017 --bind_ip_all --fork --logpath /tmp/mongos.log
until mongosh --quiet --eval "db.adminCommand('ping').ok" >/dev/null 2>&1; do sleep 0.5; done
mongosh --quiet --eval "
    const shards = db.adminCommand({listShards: 1}).shards.map(s => s._id);
    if (!shards.includes('shard1')) sh.addShard('shard1/shard1:27018');
    if (!shards.includes('shard2')) sh.addShard('shard2/shard2:27018');"
mongosh --quiet /deploy/mongo/shard.js
mongosh --quiet --eval "db.adminCommand({shutdown: 1})" >/dev/null 2>&1 || true
