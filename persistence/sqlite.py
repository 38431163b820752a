"""The embedded storage adapter: one SQLite file in WAL mode, written from a single writer thread, read from a
reader thread of its own.

SQLite serialises writers anyway; one thread that owns the writing connection keeps the blocking calls off the
event loop and makes `commit` a plain `BEGIN IMMEDIATE ... COMMIT` with version checks inside it. Pure reads run on
a second, read-only connection and thread (`_read`), so they do not queue behind commits; a ":memory:" database
cannot be shared by two connections, and there they run on the writer's.

This module holds the connections' life (open, schema migrations, close), the reads and the clean-ups; `commit`
and its group commit are in persistence/sqlite_commit.py, accounts and tokens in persistence/sqlite_accounts.py,
the background WAL checkpoints in persistence/sqlite_checkpoint.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson

from persistence.port import Change, IdemRecord, LedgerEntry, ListingQuery, LoggedEvent, Notification, PlayerDoc
from persistence.sqlite_accounts import SQLiteAccounts
from persistence.sqlite_checkpoint import BACKSTOP_PAGES, Checkpointer
from persistence.sqlite_commit import SQLiteCommit, dumps
from persistence.sqlite_errors import LOCK_SECONDS, unavailable_if_locked
from persistence.sqlite_thread import ConnectionThread
from persistence.worker_thread import WorkerThread

T = TypeVar("T")

# Each entry moves the schema one version up; a database is brought to the last one at open.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, email TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL, role TEXT NOT NULL, created_at REAL NOT NULL);
    CREATE TABLE players (
        id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, version INTEGER NOT NULL,
        state TEXT NOT NULL, sweep_at REAL);
    CREATE INDEX players_sweep ON players (sweep_at) WHERE sweep_at IS NOT NULL;
    CREATE TABLE ledger (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, player_id TEXT NOT NULL, currency TEXT NOT NULL,
        delta INTEGER NOT NULL, reason TEXT NOT NULL, ref TEXT NOT NULL, at REAL NOT NULL);
    CREATE INDEX ledger_player ON ledger (player_id, seq);
    CREATE TABLE notifications (
        id TEXT PRIMARY KEY, player_id TEXT NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL,
        at REAL NOT NULL, read INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX notifications_player ON notifications (player_id, at);
    CREATE TABLE idem (
        player_id TEXT NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL, reply TEXT NOT NULL, at REAL NOT NULL,
        PRIMARY KEY (player_id, key));
    CREATE INDEX idem_at ON idem (at);
    CREATE TABLE refresh_tokens (
        token_hash TEXT PRIMARY KEY, player_id TEXT NOT NULL, family TEXT NOT NULL,
        expires_at REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0, revoked INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX refresh_family ON refresh_tokens (family);
    CREATE TABLE revoked_jti (jti TEXT PRIMARY KEY, expires_at REAL NOT NULL);
    CREATE TABLE listings (
        id TEXT PRIMARY KEY, status TEXT NOT NULL, seller_id TEXT NOT NULL, kind TEXT NOT NULL,
        code TEXT NOT NULL, rank TEXT, level INTEGER NOT NULL DEFAULT 0, price INTEGER NOT NULL,
        featured INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, expires_at REAL NOT NULL,
        doc TEXT NOT NULL);
    CREATE INDEX listings_active ON listings (status, featured, price);
    CREATE INDEX listings_seller ON listings (seller_id, status);
    CREATE INDEX listings_expiry ON listings (status, expires_at);
    """,
    # 2: the per-player event log; `event_seq` is the player's head (the last seq given).
    """
    ALTER TABLE players ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE events (
        player_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, at REAL NOT NULL,
        PRIMARY KEY (player_id, seq)) WITHOUT ROWID;
    CREATE INDEX events_at ON events (at);
    """,
    # 3: a player's unread notifications, counted in every commit that notifies the player (`change_events`): the
    # partial index holds only unread ones, so the count reads them alone, not the player's whole history.
    """
    CREATE INDEX notifications_unread ON notifications (player_id) WHERE read=0;
    """,
    # 4: a market page in each sort's default order (price ascending, newest and level descending, featured first)
    # is read from an index in that order and stops at the page. Before, only price had an index, and in the wrong
    # direction for featured-first: every browse sorted all the active listings (`market.browse` by newest took
    # ~9 % of a node's CPU in the peak scenario, growing with the market). A seller's own listings, newest first,
    # likewise.
    """
    DROP INDEX listings_active;
    DROP INDEX listings_seller;
    CREATE INDEX listings_seller ON listings (seller_id, status, featured, created_at);
    CREATE INDEX listings_price ON listings (status, featured DESC, price);
    CREATE INDEX listings_newest ON listings (status, featured, created_at);
    CREATE INDEX listings_level ON listings (status, featured, level);
    """,
]

SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")  # the pragma's values, checked before it is formatted into SQL


class SQLiteStorage(SQLiteCommit, SQLiteAccounts):
    """Both storage ports on one file, through a writing and a reading connection: game state here and in
    persistence/sqlite_commit.py (`commit`, which writes a new account with its player in one transaction), accounts
    and tokens in persistence/sqlite_accounts.py.

    Which connection: a pure read goes to the reader (`_read`); a write, and any read that decides a write, to the
    writer (`_run`), in the write's transaction (the version checks in `commit`, `use_refresh_token`)."""

    def __init__(self, path: str | Path, synchronous: str = "NORMAL", checkpoint_seconds: float = 1.0,
                 lock_seconds: float = LOCK_SECONDS) -> None:
        """`checkpoint_seconds`: how often a background connection checkpoints the WAL (persistence/
        sqlite_checkpoint.py); 0 leaves checkpoints to SQLite, on the committing connection. `lock_seconds`: how
        long a write waits for the file's write lock while another process holds it, before it raises
        `Unavailable` (the node passes its `storage_commit_seconds`)."""
        if synchronous.upper() not in SYNCHRONOUS:
            raise ValueError(f"sqlite synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}")
        if not lock_seconds > 0:
            raise ValueError(f"sqlite lock_seconds must be above 0, not {lock_seconds}")
        self.path = str(path)
        self.synchronous = synchronous
        self.lock_seconds = lock_seconds
        self._checkpointer = (Checkpointer(self.path, checkpoint_seconds)
                              if checkpoint_seconds > 0 and self.path != ":memory:" else None)
        self._db: sqlite3.Connection | None = None
        self._thread = WorkerThread("sqlite")
        self._reader = (ConnectionThread(self.path, "sqlite-read", timeout=30, query_only=True)
                        if self.path != ":memory:" else None)
        self._queued: list[tuple[Change, asyncio.Future[list[LoggedEvent]]]] = []
        self._writing = False  # a group is with the writer thread; changes queue for the next

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """A write, or a read that must see the writer's connection (`fn(*args)` on the writer thread). The file's
        write lock held by another process past `lock_seconds` raises `Unavailable`."""
        try:
            return await self._thread.run(fn, *args)
        except sqlite3.OperationalError as exc:
            raise unavailable_if_locked(exc) from exc

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """A pure read, `fn(connection, *args)`: on the reader's connection and thread, or on the writer's where
        there is no reader (":memory:").

        Why a reader: on the writer's one thread, a read waited for every commit queued before it; on one node with
        10,000 active players (issue #13) commands that read the store (`unread_count` in `state.get`,
        `query_listings` for `market.browse`, `load_player` on a cache miss, `account_by_name` at login) waited
        7.5-10.7 s at the median, those the node's cache answered under 1.2 s. In WAL mode a reader waits for no
        writer. What stays on the writer: every write, and every read that decides a write inside its transaction
        (the version checks of `commit`, `use_refresh_token`).

        Read-your-writes: a read transaction that begins after the writer's COMMIT returned sees that commit, so
        `fn` must leave none open between calls: it runs each statement to its end (`fetchall`, or `fetchone` of
        at most one row, which steps the statement to its end and resets it) or ends its own BEGIN with COMMIT."""
        if self._reader is not None:
            return await self._reader.run(fn, *args)
        return await self._run(fn, self.db, *args)

    @property
    def threads(self) -> int:
        """How many of its operations run at once: the writer, and the reader where there is one."""
        return 1 if self._reader is None else 2

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("storage is not open")
        return self._db

    # --- lifecycle -----------------------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._db is not None:
            return
        await self._run(self._open)
        if self._reader is not None:
            await self._reader.open()
        if self._checkpointer is not None:
            await self._checkpointer.start()

    def _open(self) -> None:
        if self.path != ":memory:":
            # Owner-only: the file holds password hashes and every player's data. SQLite gives its -wal and -shm
            # files the database file's permissions.
            path = Path(self.path)
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.touch(mode=0o600, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=self.lock_seconds)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        if self._checkpointer is not None:
            db.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        db.execute("PRAGMA foreign_keys=ON")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):  # written by a newer node (e.g. a restored backup): its schema is unknown here
            db.close()
            raise RuntimeError(f"the database has schema version {version}; this node knows {len(MIGRATIONS)}")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            db.executescript(f"BEGIN IMMEDIATE; {script}; PRAGMA user_version={number}; COMMIT;")
        self._db = db

    async def close(self) -> None:
        if self._checkpointer is not None:
            await self._checkpointer.stop()
        if self._reader is not None:
            await self._reader.close()
        if self._db is not None:
            await self._run(self.db.close)
            self._db = None
        self._thread.shutdown()

    async def ping(self) -> bool:
        # On the writer: the readiness probe asks whether the store takes changes, and a wedged writer does not.
        try:
            return await self._run(lambda: self.db.execute("SELECT 1").fetchone()[0] == 1)
        except Exception:
            return False

    @property
    def schema_version(self) -> int:
        return len(MIGRATIONS)

    # --- meta --------------------------------------------------------------------------------------------------
    async def get_meta(self, key: str) -> Any | None:
        row = await self._read(lambda db: db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone())
        return orjson.loads(row[0]) if row else None

    async def put_meta(self, key: str, value: Any) -> None:
        await self._run(lambda: self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
            (key, dumps(value))))

    # --- players -------------------------------------------------------------------------------------------------
    async def load_player(self, player_id: str) -> PlayerDoc | None:
        row = await self._read(lambda db: db.execute(
            "SELECT id, name, version, state FROM players WHERE id=?", (player_id,)).fetchone())
        return PlayerDoc(row[0], row[1], row[2], orjson.loads(row[3])) if row else None

    async def player_id_by_name(self, name: str) -> str | None:
        row = await self._read(lambda db: db.execute("SELECT id FROM players WHERE name=?", (name,)).fetchone())
        return row[0] if row else None

    @staticmethod
    def _players_after(db: sqlite3.Connection, last: str) -> list[tuple[Any, ...]]:
        return db.execute(
            "SELECT id, name, version, state FROM players WHERE id>? ORDER BY id LIMIT 500", (last,)).fetchall()

    async def iter_players(self) -> AsyncIterator[PlayerDoc]:
        last = ""
        while True:
            rows = await self._read(self._players_after, last)
            if not rows:
                return
            for row in rows:
                yield PlayerDoc(row[0], row[1], row[2], orjson.loads(row[3]))
            last = rows[-1][0]

    async def players_due(self, now: float, limit: int) -> list[str]:
        rows = await self._read(lambda db: db.execute(
            "SELECT id FROM players WHERE sweep_at IS NOT NULL AND sweep_at<=? ORDER BY sweep_at LIMIT ?",
            (now, limit)).fetchall())
        return [r[0] for r in rows]

    # --- event log -------------------------------------------------------------------------------------------------
    async def events_after(self, player_id: str, after_seq: int, limit: int) -> list[LoggedEvent]:
        rows = await self._read(lambda db: db.execute(
            "SELECT seq, type, data, at FROM events WHERE player_id=? AND seq>? ORDER BY seq LIMIT ?",
            (player_id, after_seq, limit)).fetchall())
        return [LoggedEvent(player_id, r[0], r[1], orjson.loads(r[2]), r[3]) for r in rows]

    async def event_heads(self, player_ids: list[str]) -> dict[str, int]:
        def read(db: sqlite3.Connection) -> dict[str, int]:
            heads: dict[str, int] = {}
            for start in range(0, len(player_ids), 500):  # below SQLite's limit of bound parameters
                chunk = player_ids[start:start + 500]
                heads.update(db.execute(
                    f"SELECT id, event_seq FROM players WHERE id IN ({','.join('?' * len(chunk))})", chunk).fetchall())
            return {player_id: heads.get(player_id, 0) for player_id in player_ids}
        return await self._read(read)

    async def trim_events(self, older_than: float) -> int:
        return await self._run(lambda: self.db.execute("DELETE FROM events WHERE at<?", (older_than,)).rowcount)

    # --- idempotency records -------------------------------------------------------------------------------------
    async def get_idem(self, player_id: str, key: str) -> IdemRecord | None:
        row = await self._read(lambda db: db.execute(
            "SELECT player_id, key, type, reply, at FROM idem WHERE player_id=? AND key=?", (player_id, key)
        ).fetchone())
        return IdemRecord(row[0], row[1], row[2], orjson.loads(row[3]), row[4]) if row else None

    async def purge_idem(self, older_than: float) -> int:
        return await self._run(lambda: self.db.execute("DELETE FROM idem WHERE at<?", (older_than,)).rowcount)

    # --- ledger ----------------------------------------------------------------------------------------------------
    async def ledger_sums(self) -> dict[tuple[str, str], int]:
        rows = await self._read(lambda db: db.execute(
            "SELECT player_id, currency, SUM(delta) FROM ledger GROUP BY player_id, currency").fetchall())
        return {(r[0], r[1]): r[2] for r in rows}

    async def ledger_for(self, player_id: str, limit: int) -> list[LedgerEntry]:
        rows = await self._read(lambda db: db.execute(
            "SELECT player_id, currency, delta, reason, ref, at FROM ledger WHERE player_id=? "
            "ORDER BY seq DESC LIMIT ?", (player_id, limit)).fetchall())
        return [LedgerEntry(*r) for r in rows]

    async def economy_snapshot(self) -> tuple[list[PlayerDoc], dict[tuple[str, str], int], list[dict[str, Any]]]:
        def read(db: sqlite3.Connection) -> tuple[list[PlayerDoc], dict[tuple[str, str], int], list[dict[str, Any]]]:
            db.execute("BEGIN")  # one read transaction: a consistent snapshot in WAL mode (ended before returning)
            try:
                players = [PlayerDoc(r[0], r[1], r[2], orjson.loads(r[3])) for r in
                           db.execute("SELECT id, name, version, state FROM players").fetchall()]
                sums = {(r[0], r[1]): r[2] for r in db.execute(
                    "SELECT player_id, currency, SUM(delta) FROM ledger GROUP BY player_id, currency").fetchall()}
                listings = [orjson.loads(r[0]) for r in
                            db.execute("SELECT doc FROM listings WHERE status='active'").fetchall()]
            finally:
                db.execute("COMMIT")
            return players, sums, listings
        return await self._read(read)

    # --- notifications --------------------------------------------------------------------------------------------
    async def notifications(self, player_id: str, limit: int, unread_only: bool = False) -> list[Notification]:
        where = "player_id=?" + (" AND read=0" if unread_only else "")
        rows = await self._read(lambda db: db.execute(
            f"SELECT id, player_id, kind, data, at, read FROM notifications WHERE {where} "
            "ORDER BY at DESC, id DESC LIMIT ?", (player_id, limit)).fetchall())
        return [Notification(r[0], r[1], r[2], orjson.loads(r[3]), r[4], bool(r[5])) for r in rows]

    async def mark_read(self, player_id: str, ids: list[str] | None) -> int:
        def mark() -> int:
            if ids is None:
                return self.db.execute("UPDATE notifications SET read=1 WHERE player_id=? AND read=0",
                                       (player_id,)).rowcount
            marks = ",".join("?" * len(ids))
            return self.db.execute(f"UPDATE notifications SET read=1 WHERE player_id=? AND read=0 AND id IN ({marks})",
                                   (player_id, *ids)).rowcount
        return await self._run(mark)

    async def unread_count(self, player_id: str) -> int:
        row = await self._read(lambda db: db.execute(
            "SELECT COUNT(*) FROM notifications WHERE player_id=? AND read=0", (player_id,)).fetchone())
        return int(row[0])

    # --- listings --------------------------------------------------------------------------------------------------
    async def get_listing(self, listing_id: str) -> dict[str, Any] | None:
        row = await self._read(lambda db: db.execute("SELECT doc FROM listings WHERE id=?", (listing_id,)).fetchone())
        return orjson.loads(row[0]) if row else None

    async def query_listings(self, query: ListingQuery) -> list[dict[str, Any]]:
        sql, args = listings_sql(query)
        rows = await self._read(lambda db: db.execute(sql, args).fetchall())
        return [orjson.loads(r[0]) for r in rows]

    async def listings_due(self, now: float, limit: int) -> list[dict[str, Any]]:
        rows = await self._read(lambda db: db.execute(
            "SELECT doc FROM listings WHERE status='active' AND expires_at<=? ORDER BY expires_at LIMIT ?",
            (now, limit)).fetchall())
        return [orjson.loads(r[0]) for r in rows]


def listings_sql(query: ListingQuery) -> tuple[str, list[Any]]:
    """The SELECT of one market page: filters, keyset cursor, order (featured first, then the sort, then id)."""
    where, args = ["status=?"], [query.status]
    # `+expires_at`: the unary plus keeps the planner from reading the expiry index for the liveness filter (its
    # range looks selective without statistics) when the sort's index gives the page in order.
    for column, op, value in (("seller_id", "=", query.seller_id), ("kind", "=", query.kind),
                              ("rank", "=", query.rank), ("price", ">=", query.price_min),
                              ("price", "<=", query.price_max), ("level", ">=", query.min_level),
                              ("+expires_at", ">", query.live_at)):
        if value is not None:
            where.append(f"{column}{op}?")
            args.append(value)
    if query.name:
        escaped = query.name.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("code LIKE ? ESCAPE '\\'")
        args.append(f"%{escaped}%")
    column, direction = query.sort_column, "DESC" if query.descending else "ASC"
    if query.after is not None:
        featured, value, last_id = query.after
        beyond = "<" if query.descending else ">"
        where.append(f"(featured<? OR (featured=? AND ({column}{beyond}? OR ({column}=? AND id>?))))")
        args += [featured, featured, value, value, last_id]
    sql = (f"SELECT doc FROM listings WHERE {' AND '.join(where)} "
           f"ORDER BY featured DESC, {column} {direction}, id ASC LIMIT ?")
    args.append(query.limit)
    return sql, args
