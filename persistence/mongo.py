"""The distributed storage adapter: MongoDB through PyMongo's async client, ready to be sharded by player.

Layout (collection: `_id`, shard key in deploy/mongo/shard.js):
- players: player id; `name`, `version`, `state` (the state dict as is), `sweep_at`. Shard key `_id` (hashed).
- ledger, notifications, idem: documents owned by a player, shard key prefixed by `player_id` (hashed).
- listings: listing id; the listing dict's own fields at the top level (indexed), shard key `_id` (hashed).
- accounts: account id (= player id). refresh_tokens: token hash. revoked_jti: jti. Shard key `_id` (hashed).
- names: unique-name reservations, `_id` = "account:<name>", "email:<email>" or "player:<name>", `owner` = id.
  A sharded collection enforces uniqueness only on its shard key, so account names, emails and player names are
  kept unique by reserving them in this collection (sharded by `_id`) in the same transaction as the insert.
- events: a player's event log, `{player_id, seq, type, data, at, expire_at}`, unique on (player_id, seq), shard
  key `player_id` (hashed); a TTL index on `expire_at` trims it. The player's head (last seq given) is the
  `event_seq` field of its `players` document, moved in the transaction that appends.
- meta: small configuration documents `{_id: key, value}` and the schema version; never sharded.

Every read and write on a player-owned collection carries the owner id, and listing writes carry the listing id,
so a sharded cluster routes them to one shard.

This module holds the client's life (open, indexes and schema version, close) and the reads and clean-ups; `commit`
(one transaction, retried within a bound) is in persistence/mongo_commit.py, accounts and tokens in
persistence/mongo_accounts.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.monitoring import CommandListener

from persistence.mongo_accounts import Doc, MongoAccounts
from persistence.mongo_commit import COMMIT_SECONDS, MongoCommit
from persistence.mongo_errors import guard_operations
from persistence.mongo_pool import HeldCount
from persistence.port import IdemRecord, LedgerEntry, ListingQuery, LoggedEvent, Notification, PlayerDoc

DEFAULT_DATABASE = "valgame"
SCHEMA_VERSION = 1
SCHEMA_KEY = "__schema__"  # the meta document holding the schema version (not a get_meta/put_meta key)
ITER_BATCH = 500
# Players whose event heads one find reads (`event_heads`, every node's event check: all its players every few
# seconds). secantusd matches each document found against the whole `$in` list, one by one, so a find of n ids costs
# n * n / 2 comparisons: at 1,000 ids, ~0.2 s of its CPU per check (py-spy: `_in_candidate_matches` under `_find`,
# 13-19 % of its samples in a 2,000-player bench). 50 ids make that 20 times less for 20 round trips, which cost a
# real MongoDB (whose `$in` is an index lookup) next to nothing every few seconds.
HEADS_BATCH = 50
POOL_SIZE = 50  # default bound of the client's connections to each server (the node passes `storage_pool_size`)


INDEXES: dict[str, list[IndexModel]] = {
    "accounts": [],  # by `_id`; name and email are unique through `names`
    "names": [IndexModel([("owner", ASCENDING)], name="owner")],
    "players": [IndexModel([("sweep_at", ASCENDING)], name="sweep_at")],
    "ledger": [IndexModel([("player_id", ASCENDING), ("at", ASCENDING), ("_id", ASCENDING)], name="player_at")],
    "notifications": [IndexModel([("player_id", ASCENDING), ("at", ASCENDING), ("_id", ASCENDING)],
                                 name="player_at"),
                      # the unread count every commit that notifies a player takes (`change_events`)
                      IndexModel([("player_id", ASCENDING), ("read", ASCENDING)], name="player_read")],
    "idem": [IndexModel([("player_id", ASCENDING), ("key", ASCENDING)], name="player_key", unique=True),
             IndexModel([("at", ASCENDING)], name="at")],
    "refresh_tokens": [IndexModel([("family", ASCENDING)], name="family"),
                       IndexModel([("expires_at", ASCENDING)], name="expires_at")],
    "revoked_jti": [IndexModel([("expires_at", ASCENDING)], name="expires_at")],
    "events": [IndexModel([("player_id", ASCENDING), ("seq", ASCENDING)], name="player_seq", unique=True),
               IndexModel([("expire_at", ASCENDING)], name="expire_at", expireAfterSeconds=0)],
    # A market page in each sort's default order (price ascending, newest and level descending; featured first,
    # then the id) is read from an index in exactly that order, `_id` included, and stops at the page: without the
    # `_id` and the sort's own direction MongoDB sorts every active listing for each browse. A seller's own listings,
    # newest first, likewise (`market.mine`). (secantusd sorts the page in memory whatever the index, and scans a
    # collection faster than an index: `query_listings` leaves the choice to the planner.)
    "listings": [
        IndexModel([("status", ASCENDING), ("featured", DESCENDING), ("price", ASCENDING), ("_id", ASCENDING)],
                   name="page_price"),
        IndexModel([("status", ASCENDING), ("featured", DESCENDING), ("created_at", DESCENDING), ("_id", ASCENDING)],
                   name="page_newest"),
        IndexModel([("status", ASCENDING), ("featured", DESCENDING), ("level", DESCENDING), ("_id", ASCENDING)],
                   name="page_level"),
        IndexModel([("seller_id", ASCENDING), ("status", ASCENDING), ("featured", DESCENDING),
                    ("created_at", DESCENDING), ("_id", ASCENDING)], name="seller_page"),
        IndexModel([("status", ASCENDING), ("expires_at", ASCENDING)], name="status_expires"),
    ],
}
# Indexes of earlier versions that no query uses any more: dropped at start (a node of an earlier version creates
# them again at its own start, which costs only their upkeep).
RETIRED_INDEXES = {"listings": ["browse_price", "browse_newest", "browse_level", "seller_status"]}


def _player(doc: Doc) -> PlayerDoc:
    return PlayerDoc(doc["_id"], doc["name"], doc["version"], doc["state"])


def _listing(doc: Doc) -> Doc:
    doc.pop("_id", None)
    return doc


def _notification(doc: Doc) -> Notification:
    return Notification(doc["_id"], doc["player_id"], doc["kind"], doc["data"], doc["at"], doc["read"])


@guard_operations
class MongoStorage(MongoCommit, MongoAccounts):
    """Both storage ports on one client: game state here and in persistence/mongo_commit.py (`commit`, which writes
    a new account with its player in one transaction), accounts and tokens in persistence/mongo_accounts.py. Every
    port operation answers the store out of reach with `Unavailable` (persistence/mongo_errors.py)."""

    def __init__(self, url: str, *, event_listeners: Sequence[CommandListener] | None = None,
                 ping_timeout: float = 2.0, commit_seconds: float = COMMIT_SECONDS,
                 exit_at: Callable[[str], None] | None = None, event_log_seconds: float = 3600.0,
                 pool_size: int = POOL_SIZE, **client_options: Any) -> None:
        self.url = url
        self.event_log_seconds = event_log_seconds  # how long the TTL index keeps a logged event
        # HeldCount tells an operation whose caller left whether it holds a connection (persistence/mongo_pool.py)
        self.event_listeners: list[Any] = [HeldCount(), *(event_listeners or [])]
        self.ping_timeout = ping_timeout
        self.commit_seconds = commit_seconds
        self.exit_at = exit_at  # TEST ONLY: called with "in_transaction" between the writes and the commit
        self.client_options = {"maxPoolSize": pool_size, **client_options}
        self._client: AsyncMongoClient[Doc] | None = None
        self._db: AsyncDatabase[Doc] | None = None
        # `ping` (the node's /ready) goes through a client of its own, one connection: through the pool it waited
        # behind the game's operations when the store was busy, timed out on every node at once, and the load
        # balancer took all of them out (the cluster's peak scenario: 4,900 requests answered "no server").
        self._probe: AsyncMongoClient[Doc] | None = None

    # --- lifecycle -----------------------------------------------------------------------------------------------
    @property
    def client(self) -> AsyncMongoClient[Doc]:
        if self._client is None:
            raise RuntimeError("storage is not open")
        return self._client

    @property
    def db(self) -> AsyncDatabase[Doc]:
        if self._db is None:
            raise RuntimeError("storage is not open")
        return self._db

    def _c(self, name: str) -> AsyncCollection[Doc]:
        return self.db[name]

    @property
    def schema_version(self) -> int:
        return SCHEMA_VERSION

    async def open(self) -> None:
        options = {"appname": "valgame", **self.client_options}
        client: AsyncMongoClient[Doc] = AsyncMongoClient(self.url, event_listeners=self.event_listeners, **options)
        try:
            await client.admin.command("ping")
            self._client = client
            self._db = client.get_default_database(DEFAULT_DATABASE)
            await self._migrate()
            self._probe = AsyncMongoClient(self.url, **{**options, "appname": "valgame-probe", "maxPoolSize": 1})
        except BaseException:
            self._client = self._db = None
            await client.close()
            raise

    async def _migrate(self) -> None:
        meta = self._c("meta")
        found = await meta.find_one({"_id": SCHEMA_KEY})
        current = found["version"] if found else 0
        if current > SCHEMA_VERSION:
            raise RuntimeError(f"the database has schema version {current}; this node knows {SCHEMA_VERSION}")
        # Creating an existing index with the same definition is a no-op, so every node may run this at start.
        for name, indexes in INDEXES.items():
            if indexes:
                await self._c(name).create_indexes(indexes)
        for name, retired in RETIRED_INDEXES.items():
            present = {index["name"] async for index in await self._c(name).list_indexes()}
            for index_name in present.intersection(retired):
                await self._c(name).drop_index(index_name)
        if current < SCHEMA_VERSION:
            await meta.update_one({"_id": SCHEMA_KEY}, {"$max": {"version": SCHEMA_VERSION}}, upsert=True)

    async def close(self) -> None:
        if self._probe is not None:
            probe, self._probe = self._probe, None
            await probe.close()
        if self._client is not None:
            client, self._client, self._db = self._client, None, None
            await client.close()

    async def ping(self) -> bool:
        """Whether the store answers, on the probe's own connection: not whether the pool has a free one."""
        if self._probe is None:
            return False
        try:
            with pymongo.timeout(self.ping_timeout):
                reply = await self._probe.admin.command("ping")
            return bool(reply.get("ok"))
        except Exception:
            return False

    # --- meta --------------------------------------------------------------------------------------------------
    async def get_meta(self, key: str) -> Any | None:
        doc = await self._c("meta").find_one({"_id": key})
        return doc.get("value") if doc else None

    async def put_meta(self, key: str, value: Any) -> None:
        await self._c("meta").update_one({"_id": key}, {"$set": {"value": value}}, upsert=True)

    # --- players -------------------------------------------------------------------------------------------------
    async def load_player(self, player_id: str) -> PlayerDoc | None:
        doc = await self._c("players").find_one({"_id": player_id}, projection={"sweep_at": 0})
        return _player(doc) if doc else None

    async def player_id_by_name(self, name: str) -> str | None:
        reserved = await self._c("names").find_one({"_id": f"player:{name}"})
        return reserved["owner"] if reserved else None

    async def iter_players(self) -> AsyncIterator[PlayerDoc]:
        players, last = self._c("players"), ""
        while True:  # keyset batches: no cursor stays open while the caller works on a batch
            batch = await players.find({"_id": {"$gt": last}}, projection={"sweep_at": 0}).sort(
                "_id", ASCENDING).limit(ITER_BATCH).to_list()
            if not batch:
                return
            for doc in batch:
                yield _player(doc)
            last = batch[-1]["_id"]

    async def players_due(self, now: float, limit: int) -> list[str]:
        if limit <= 0:  # MongoDB reads limit(0) as "no limit"
            return []
        cursor = self._c("players").find({"sweep_at": {"$lte": now}}, projection={"_id": 1})
        return [doc["_id"] for doc in await cursor.sort("sweep_at", ASCENDING).limit(limit).to_list()]

    # --- event log -------------------------------------------------------------------------------------------------
    async def events_after(self, player_id: str, after_seq: int, limit: int) -> list[LoggedEvent]:
        if limit <= 0:
            return []
        cursor = self._c("events").find({"player_id": player_id, "seq": {"$gt": after_seq}},
                                        projection={"_id": 0, "expire_at": 0})
        return [LoggedEvent(player_id, d["seq"], d["type"], d["data"], d["at"])
                for d in await cursor.sort("seq", ASCENDING).limit(limit).to_list()]

    async def event_heads(self, player_ids: list[str]) -> dict[str, int]:
        heads: dict[str, int] = {}
        for start in range(0, len(player_ids), HEADS_BATCH):
            cursor = self._c("players").find({"_id": {"$in": player_ids[start:start + HEADS_BATCH]}},
                                             projection={"event_seq": 1})
            async for doc in cursor:
                heads[doc["_id"]] = doc.get("event_seq", 0)
        return {player_id: heads.get(player_id, 0) for player_id in player_ids}

    async def trim_events(self, older_than: float) -> int:
        # The TTL index trims too; this catches what it has not reached yet (and stores without TTL monitors).
        result = await self._c("events").delete_many({"at": {"$lt": older_than}})
        return result.deleted_count

    # --- idempotency records -------------------------------------------------------------------------------------
    async def get_idem(self, player_id: str, key: str) -> IdemRecord | None:
        doc = await self._c("idem").find_one({"player_id": player_id, "key": key})
        return IdemRecord(doc["player_id"], doc["key"], doc["type"], doc["reply"], doc["at"]) if doc else None

    async def purge_idem(self, older_than: float) -> int:
        result = await self._c("idem").delete_many({"at": {"$lt": older_than}})
        return result.deleted_count

    # --- ledger ----------------------------------------------------------------------------------------------------
    _SUMS = [{"$group": {"_id": {"p": "$player_id", "c": "$currency"}, "sum": {"$sum": "$delta"}}}]

    async def _ledger_sums(self, session: AsyncClientSession | None = None) -> dict[tuple[str, str], int]:
        cursor = await self._c("ledger").aggregate(self._SUMS, session=session)
        return {(doc["_id"]["p"], doc["_id"]["c"]): doc["sum"] async for doc in cursor}

    async def ledger_sums(self) -> dict[tuple[str, str], int]:
        return await self._ledger_sums()

    async def ledger_for(self, player_id: str, limit: int) -> list[LedgerEntry]:
        if limit <= 0:
            return []
        # Most recent first: by the entry's time, then by insertion (client-made ObjectIds grow within a process).
        cursor = self._c("ledger").find({"player_id": player_id}).sort([("at", DESCENDING), ("_id", DESCENDING)])
        return [LedgerEntry(d["player_id"], d["currency"], d["delta"], d["reason"], d["ref"], d["at"])
                for d in await cursor.limit(limit).to_list()]

    async def economy_snapshot(self) -> tuple[list[PlayerDoc], dict[tuple[str, str], int], list[dict[str, Any]]]:
        # A snapshot session: every read sees the same majority-committed point in time (MongoDB 5.0+), without
        # the lifetime limit of a transaction.
        async with self.client.start_session(snapshot=True) as s:
            players = [_player(d) async for d in self._c("players").find({}, projection={"sweep_at": 0}, session=s)]
            sums = await self._ledger_sums(s)
            listings = [_listing(d) async for d in self._c("listings").find({"status": "active"}, session=s)]
        return players, sums, listings

    # --- notifications --------------------------------------------------------------------------------------------
    async def notifications(self, player_id: str, limit: int, unread_only: bool = False) -> list[Notification]:
        if limit <= 0:
            return []
        query: Doc = {"player_id": player_id}
        if unread_only:
            query["read"] = False
        cursor = self._c("notifications").find(query).sort([("at", DESCENDING), ("_id", DESCENDING)])
        return [_notification(d) for d in await cursor.limit(limit).to_list()]

    async def mark_read(self, player_id: str, ids: list[str] | None) -> int:
        query: Doc = {"player_id": player_id, "read": False}
        if ids is not None:
            if not ids:
                return 0
            query["_id"] = {"$in": list(ids)}
        result = await self._c("notifications").update_many(query, {"$set": {"read": True}})
        return result.modified_count

    async def unread_count(self, player_id: str) -> int:
        return await self._c("notifications").count_documents({"player_id": player_id, "read": False})

    # --- listings --------------------------------------------------------------------------------------------------
    async def get_listing(self, listing_id: str) -> dict[str, Any] | None:
        doc = await self._c("listings").find_one({"_id": listing_id})
        return _listing(doc) if doc else None

    async def query_listings(self, query: ListingQuery) -> list[dict[str, Any]]:
        if query.limit <= 0:
            return []
        where: Doc = {"status": query.status}
        for field, value in (("seller_id", query.seller_id), ("kind", query.kind), ("rank", query.rank)):
            if value is not None:
                where[field] = value
        for field, op, value in (("price", "$gte", query.price_min), ("price", "$lte", query.price_max),
                                 ("level", "$gte", query.min_level), ("expires_at", "$gt", query.live_at)):
            if value is not None:
                where.setdefault(field, {})[op] = value
        if query.name:
            where["code"] = {"$regex": re.escape(query.name), "$options": "i"}
        column, direction = query.sort_column, DESCENDING if query.descending else ASCENDING
        if query.after is not None:
            featured, value, last_id = query.after
            flag, beyond = bool(featured), "$lt" if query.descending else "$gt"
            after = {"$or": [{"featured": {"$lt": flag}},
                             {"featured": flag, column: {beyond: value}},
                             {"featured": flag, column: value, "_id": {"$gt": last_id}}]}
            where = {"$and": [where, after]}
        # No index hint: MongoDB's planner races the candidate plans and takes the page index, which gives the page
        # in order and stops at it. Naming it (a hint) was measured on secantusd, whose index scan runs in Python:
        # a browse of 1,000 active listings among 10,000 took 412 ms through the hinted index against 117 ms by its
        # own choice (a collection scan and a sort), and the cluster's normal scenario went from p95 81 to 250 ms.
        cursor = self._c("listings").find(where).sort([("featured", DESCENDING), (column, direction),
                                                       ("_id", ASCENDING)])
        return [_listing(d) for d in await cursor.limit(query.limit).to_list()]

    async def listings_due(self, now: float, limit: int) -> list[dict[str, Any]]:
        if limit <= 0:
            return []
        cursor = self._c("listings").find({"status": "active", "expires_at": {"$lte": now}})
        return [_listing(d) for d in await cursor.sort("expires_at", ASCENDING).limit(limit).to_list()]
