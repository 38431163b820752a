// Shard Valgame's collections. Run with mongosh against a mongos (never against a shard directly):
//
//   VALGAME_DB=valgame mongosh "mongodb://mongos-host:27017/admin" --file deploy/mongo/shard.js
//
// Safe to run again: creating an existing index is a no-op and sharding an already sharded collection with the
// same key succeeds. Needs MongoDB 5.0 or later (compound hashed shard keys: 4.4; snapshot reads of the economy
// audit: 5.0). Run it once a node has started against the database (the node creates the secondary indexes,
// including the unique ones, at start) or before any node starts: both orders work.

const dbName = (typeof process !== "undefined" && process.env.VALGAME_DB) || "valgame";
const target = db.getSiblingDB(dbName);

// collection -> shard key. Every hot-path query carries the key's first field (persistence/mongo.py).
//  - Player-owned documents are placed by their owner: one player's state, ledger, notifications and
//    idempotency records are each found on one shard. The owner id is hashed (even spread, whatever the id
//    format); the second field lets a heavy player's documents split across chunks.
//  - Documents looked up by their own id (listings, accounts, name reservations, tokens) by hashed `_id`.
//  - `names` holds the unique reservations (account name, email, player name): a sharded collection enforces
//    uniqueness only on indexes prefixed by its shard key, so uniqueness of those fields lives in the `_id` of
//    this collection, written in the same transaction as the account or player.
//  - `meta` (a few configuration documents) stays unsharded on the database's primary shard.
const shardKeys = {
  players: { _id: "hashed" },
  ledger: { player_id: "hashed", _id: 1 },
  notifications: { player_id: "hashed", _id: 1 },
  events: { player_id: "hashed", seq: 1 }, // the unique index { player_id: 1, seq: 1 } has the key's fields as prefix
  idem: { player_id: "hashed", key: 1 }, // the unique index { player_id: 1, key: 1 } has the key's fields as prefix
  listings: { _id: "hashed" },
  accounts: { _id: "hashed" },
  names: { _id: "hashed" },
  refresh_tokens: { _id: "hashed" },
  revoked_jti: { _id: "hashed" },
};

const failures = [];
try {
  sh.enableSharding(dbName); // implicit since MongoDB 6.0; harmless there
  print(`enableSharding(${dbName}): ok`);
} catch (error) {
  failures.push(`enableSharding(${dbName}): ${error.message}`);
}

for (const [name, key] of Object.entries(shardKeys)) {
  const ns = `${dbName}.${name}`;
  try {
    // A non-empty collection needs an index supporting its shard key before it can be sharded.
    target.getCollection(name).createIndex(key);
    sh.shardCollection(ns, key);
    print(`shardCollection(${ns}, ${JSON.stringify(key)}): ok`);
  } catch (error) {
    failures.push(`shardCollection(${ns}, ${JSON.stringify(key)}): ${error.message}`);
  }
}

if (failures.length) {
  print("FAILED:\n  " + failures.join("\n  "));
  quit(1);
}
print(`Done. Check with sh.status() and db.getSiblingDB("${dbName}").<collection>.getShardDistribution().`);
