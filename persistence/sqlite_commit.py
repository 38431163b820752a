"""The SQLite adapter's one write, `commit` (the `GameStore` port): group commit on the writer thread, and how a
`Change` becomes rows (players, listings, ledger, notifications, the idempotency record, the event log). Mixed into
`SQLiteStorage` (persistence/sqlite.py), whose connection and single writer thread it uses.

Group commit: changes that arrive while the writer thread is busy wait together and commit in its next
transaction, each inside a savepoint of its own, so one change's `Conflict` or `Duplicate` rolls back that change
only. Each change is still acknowledged only once its transaction committed; what a group saves is the
transaction's fixed cost and the pages every change touches (the event log's and the ledger's last index leaves,
the WAL frame headers), written once per group instead of once per change.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import TYPE_CHECKING, Any

import orjson

from persistence.port import (
    Change,
    Conflict,
    Duplicate,
    LoggedEvent,
    change_events,
    event_counts,
    number_events,
    without_frames,
)
from persistence.sqlite_errors import unavailable_if_locked
from persistence.worker_thread import WorkerThread

LISTING_COLUMNS = ("status", "seller_id", "kind", "code", "rank", "level", "price", "featured", "created_at",
                   "expires_at")


def dumps(value: Any) -> str:
    """A value as the JSON text the adapter stores in its TEXT columns."""
    return orjson.dumps(value).decode()


class SQLiteCommit:
    if TYPE_CHECKING:  # provided by SQLiteStorage
        @property
        def db(self) -> sqlite3.Connection: ...

        _thread: WorkerThread

    # Set by SQLiteStorage.__init__: the changes waiting for the writer thread, and whether a group is with it.
    _queued: list[tuple[Change, asyncio.Future[list[LoggedEvent]]]]
    _writing: bool

    async def commit(self, change: Change) -> list[LoggedEvent]:
        loop = asyncio.get_running_loop()
        committed: asyncio.Future[list[LoggedEvent]] = loop.create_future()
        self._queued.append((change, committed))
        if not self._writing:
            self._write_group(loop)
        try:
            return await committed
        finally:
            # A `Conflict` raised here holds this frame in its traceback, and the future holds the `Conflict`:
            # without this, a cycle only the garbage collector frees (persistence.port.without_frames says why
            # that matters).
            del committed

    def _write_group(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hand the queued changes to the writer thread as one group; when it is done, settle each change and hand
        over the next group. Callbacks, not a task, so a change reaches the thread without waiting a turn of the
        event loop (every turn between a command's plan and its commit widens the window for a conflict). A change
        whose caller stopped waiting before its group formed is left out (as a cancelled call to the thread
        would be)."""
        group = [(change, committed) for change, committed in self._queued if not committed.done()]
        self._queued = []
        self._writing = bool(group)
        if group:
            written = self._thread.run(self._commit_group, [change for change, _ in group])
            written.add_done_callback(lambda done: self._settle(loop, group, done))

    def _settle(self, loop: asyncio.AbstractEventLoop, group: list[tuple[Change, asyncio.Future[list[LoggedEvent]]]],
                written: asyncio.Future[list[list[LoggedEvent] | Exception]]) -> None:
        if written.cancelled():  # the loop is closing: the group may or may not have committed
            outcomes: list[list[LoggedEvent] | Exception] = [RuntimeError(
                "the node stopped while this change was committing; its outcome is unknown")] * len(group)
        elif (failed := written.exception()) is not None:  # the transaction itself failed: no change committed
            outcomes = [failed if isinstance(failed, Exception) else RuntimeError(repr(failed))] * len(group)
        else:
            outcomes = written.result()
        for (_, committed), outcome in zip(group, outcomes, strict=True):
            if committed.done():
                continue
            if isinstance(outcome, Exception):
                committed.set_exception(outcome)
            else:
                committed.set_result(outcome)
        self._write_group(loop)

    def _commit_group(self, changes: list[Change]) -> list[list[LoggedEvent] | Exception]:
        """Commit `changes` in one transaction, each in its own savepoint: what each logged, or why it did not."""
        db = self.db
        outcomes: list[list[LoggedEvent] | Exception] = []
        try:
            db.execute("BEGIN IMMEDIATE")  # waits for the file's write lock, at most the connection's busy timeout
        except sqlite3.OperationalError as exc:
            raise unavailable_if_locked(exc) from exc
        try:
            for change in changes:
                db.execute("SAVEPOINT change")
                try:
                    counts = event_counts(change)
                    heads = self._apply(db, change, counts)
                    logged = self._log_events(db, change, counts, heads)
                except Exception as exc:  # Conflict, Duplicate, or a constraint: this change only
                    db.execute("ROLLBACK TO change")
                    db.execute("RELEASE change")
                    outcomes.append(without_frames(exc))
                    continue
                db.execute("RELEASE change")
                outcomes.append(logged)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return outcomes

    @staticmethod
    def _log_events(db: sqlite3.Connection, change: Change, counts: dict[str, int],
                    heads: dict[str, int]) -> list[LoggedEvent]:
        """Move the head of each player the change has events for but does not write (`_apply` moved the others'
        with their write) past them, number the events and append them to the log."""
        for player_id, count in counts.items():
            if player_id in heads:
                continue
            row = db.execute("UPDATE players SET event_seq=event_seq+? WHERE id=? RETURNING event_seq",
                             (count, player_id)).fetchone()
            if row is None:
                raise Conflict(f"player {player_id} does not exist")
            heads[player_id] = row[0]
        unread = {player_id: db.execute("SELECT COUNT(*) FROM notifications WHERE player_id=? AND read=0",
                                        (player_id,)).fetchone()[0]
                  for player_id in {n.player_id for n in change.notifications}}
        logged = number_events(change_events(change, unread), heads, change.at)
        if logged:
            db.executemany("INSERT INTO events (player_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)",
                           [(e.player_id, e.seq, e.type, dumps(e.data), e.at) for e in logged])
        return logged

    @staticmethod
    def _apply(db: sqlite3.Connection, change: Change, counts: dict[str, int]) -> dict[str, int]:
        """Write the change; return the heads of the players it wrote, each moved past its `counts` events in the
        same statement as the player's row."""
        heads: dict[str, int] = {}
        if change.idem is not None:
            idem = change.idem
            try:
                db.execute("INSERT INTO idem (player_id, key, type, reply, at) VALUES (?, ?, ?, ?, ?)",
                           (idem.player_id, idem.key, idem.type, dumps(idem.reply), idem.at))
            except sqlite3.IntegrityError:
                raise Duplicate("idempotency key") from None
        if change.account is not None:
            acc = change.account
            try:
                db.execute("INSERT INTO accounts (id, name, email, password_hash, role, created_at) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           (acc.id, acc.name, acc.email, acc.password_hash, acc.role, acc.created_at))
            except sqlite3.IntegrityError as exc:
                raise Duplicate("email" if "email" in str(exc) else "name") from None
        for write in change.players:
            state = dumps(write.state)
            count = counts.get(write.id, 0)
            if write.expected_version is None:
                try:
                    db.execute("INSERT INTO players (id, name, version, state, sweep_at, event_seq) "
                               "VALUES (?, ?, 1, ?, ?, ?)", (write.id, write.name, state, write.sweep_at, count))
                except sqlite3.IntegrityError:
                    raise Duplicate("name") from None
                heads[write.id] = count
            else:
                row = db.execute("UPDATE players SET version=version+1, state=?, sweep_at=?, event_seq=event_seq+? "
                                 "WHERE id=? AND version=? RETURNING event_seq",
                                 (state, write.sweep_at, count, write.id, write.expected_version)).fetchone()
                if row is None:
                    raise Conflict(f"player {write.id} changed")
                heads[write.id] = row[0]
        for listing in change.listings:
            doc = listing.doc
            values = [doc.get(c) for c in LISTING_COLUMNS]
            if listing.expected_status is None:
                db.execute(f"INSERT INTO listings (id, {', '.join(LISTING_COLUMNS)}, doc) "
                           f"VALUES (?, {', '.join('?' * len(LISTING_COLUMNS))}, ?)",
                           (listing.id, *values, dumps(doc)))
            else:
                cursor = db.execute(f"UPDATE listings SET {', '.join(c + '=?' for c in LISTING_COLUMNS)}, doc=? "
                                    "WHERE id=? AND status=?",
                                    (*values, dumps(doc), listing.id, listing.expected_status))
                if cursor.rowcount != 1:
                    raise Conflict(f"listing {listing.id} changed")
        if change.ledger:
            db.executemany("INSERT INTO ledger (player_id, currency, delta, reason, ref, at) VALUES (?, ?, ?, ?, ?, ?)",
                           [(e.player_id, e.currency, e.delta, e.reason, e.ref, e.at) for e in change.ledger])
        if change.notifications:
            db.executemany("INSERT INTO notifications (id, player_id, kind, data, at, read) VALUES (?, ?, ?, ?, ?, ?)",
                           [(n.id, n.player_id, n.kind, dumps(n.data), n.at, int(n.read))
                            for n in change.notifications])
        return heads
