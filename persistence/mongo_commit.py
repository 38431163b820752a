"""The MongoDB adapter's one write, `commit` (the `GameStore` port): the multi-document transaction, its bounded
retries, and how a `Change` becomes documents (players, names, listings, ledger, notifications, the idempotency
record, the event log). Mixed into `MongoStorage` (persistence/mongo.py, which also describes the collections),
whose client it uses.

`commit` is one multi-document transaction. Its loop retries the transaction as a whole on an error labelled
TransientTransactionError (a write conflict with another transaction, a lost connection) and the commit alone on
UnknownTransactionCommitResult (a retried commitTransaction answers for the same transaction), with a short
backoff, for at most `commit_seconds` in all; every operation of an attempt is bounded by what is left of it
(`pymongo.timeout`). Past it, `Unavailable`: a document held by a transaction that will not end soon (a dead
node's lives until the server's `transactionLifetimeLimitSeconds`), or a server that does not answer, fails the
command in seconds instead of the two minutes PyMongo's `with_transaction` would retry. A failed attempt is
aborted at once, outside that bound, so it holds nothing it wrote. Version and status checks are conditional
updates inside the transaction: when one matches nothing `_apply` raises `Conflict`, the transaction is aborted
and nothing of the change is written.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pymongo
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import BulkWriteError, PyMongoError

from persistence.mongo_accounts import Doc
from persistence.port import (
    Change,
    Conflict,
    Duplicate,
    LoggedEvent,
    Unavailable,
    change_events,
    event_counts,
    number_events,
)

if TYPE_CHECKING:
    from pymongo import AsyncMongoClient
    from pymongo.asynchronous.collection import AsyncCollection

DUPLICATE_KEY = 11000
COMMIT_SECONDS = 5.0  # default bound of one commit's retries (the node passes its `storage_commit_seconds`)
ABORT_SECONDS = 2.0  # bound of aborting a failed attempt (an abort that cannot reach the server is left to it)
BACKOFF_FIRST, BACKOFF_MAX = 0.005, 0.25  # seconds before a retry: grows 1.5 times per attempt, with jitter


def _duplicate(exc: PyMongoError) -> bool:
    """Whether a write failed on a unique index (single write or bulk insert)."""
    if isinstance(exc, BulkWriteError):
        return any(e.get("code") == DUPLICATE_KEY for e in exc.details.get("writeErrors", []))
    return getattr(exc, "code", None) == DUPLICATE_KEY


def _backoff(attempt: int) -> float:
    """Seconds to wait before retry `attempt + 1` of a transaction or a commit (jittered, so twins drift apart)."""
    return random.random() * min(BACKOFF_FIRST * 1.5 ** attempt, BACKOFF_MAX)


def _listing_doc(listing_id: str, doc: Doc) -> Doc:
    # `featured` is stored as a boolean whatever the caller gave: BSON orders booleans apart from numbers, and the
    # browse order and keyset cursor need one type.
    return {**doc, "_id": listing_id, "featured": bool(doc.get("featured"))}


class MongoCommit:
    if TYPE_CHECKING:  # provided by MongoStorage
        @property
        def client(self) -> AsyncMongoClient[Doc]: ...

        def _c(self, name: str) -> AsyncCollection[Doc]: ...

    # Set by MongoStorage.__init__.
    commit_seconds: float  # the bound of one commit's retries
    event_log_seconds: float  # how long the TTL index keeps a logged event
    exit_at: Callable[[str], None] | None  # TEST ONLY: called with "in_transaction" between the writes and the commit

    async def commit(self, change: Change) -> list[LoggedEvent]:
        if not change:
            return []
        ends = time.monotonic() + self.commit_seconds
        async with self.client.start_session() as session:
            for attempt in itertools.count():
                await session.start_transaction()
                try:
                    with pymongo.timeout(max(ends - time.monotonic(), 0.001)):
                        logged = await self._apply(change, session)
                        if self.exit_at is not None:
                            self.exit_at("in_transaction")
                        await self._commit_transaction(session, ends)
                    return logged
                except PyMongoError as exc:
                    await self._abort(session)
                    transient = exc.has_error_label("TransientTransactionError")
                    backoff = _backoff(attempt)
                    if transient and time.monotonic() + backoff < ends:
                        await asyncio.sleep(backoff)
                        continue
                    if transient or exc.timeout or exc.has_error_label("UnknownTransactionCommitResult"):
                        raise Unavailable(f"storage commit not done in {self.commit_seconds:g} s: {exc}") from exc
                    raise
                except BaseException:  # Conflict, Duplicate, the caller cancelled
                    await self._abort(session)
                    raise

    async def _commit_transaction(self, session: AsyncClientSession, ends: float) -> None:
        """Commit; while its outcome is unknown (the reply was lost) and time is left, ask again: the server answers
        a repeated commitTransaction for the same transaction, so it is never applied twice."""
        attempt = 0
        while True:
            try:
                await session.commit_transaction()
                return
            except PyMongoError as exc:
                backoff = _backoff(attempt)
                if not exc.has_error_label("UnknownTransactionCommitResult") or time.monotonic() + backoff >= ends:
                    raise
            await asyncio.sleep(backoff)
            attempt += 1

    @staticmethod
    async def _abort(session: AsyncClientSession) -> None:
        """Abort the attempt in progress, if any (not after its commit was tried: that outcome is the server's),
        outside the commit's bound: an attempt left open would hold the documents it wrote until the server's
        transaction lifetime ends it. PyMongo ignores the server's refusals of an abort."""
        if session.in_transaction:
            with pymongo.timeout(ABORT_SECONDS):
                await session.abort_transaction()

    async def _insert(self, collection: str, doc: Doc, session: AsyncClientSession, what: str) -> None:
        try:
            await self._c(collection).insert_one(doc, session=session)
        except PyMongoError as exc:
            if _duplicate(exc):
                raise Duplicate(what) from None
            raise

    async def _insert_many(self, collection: str, docs: list[Doc], session: AsyncClientSession, what: str) -> None:
        try:
            await self._c(collection).insert_many(docs, session=session)
        except PyMongoError as exc:
            if _duplicate(exc):
                raise Duplicate(what) from None
            raise

    async def _apply(self, change: Change, s: AsyncClientSession) -> list[LoggedEvent]:
        # Errors other than Conflict/Duplicate propagate untouched: `commit` retries by their labels.
        if change.idem is not None:
            idem = change.idem
            await self._insert("idem", {"player_id": idem.player_id, "key": idem.key, "type": idem.type,
                                        "reply": idem.reply, "at": idem.at}, s, "idempotency key")
        if change.account is not None:
            acc = change.account
            await self._insert("names", {"_id": f"account:{acc.name}", "owner": acc.id}, s, "name")
            await self._insert("names", {"_id": f"email:{acc.email}", "owner": acc.id}, s, "email")
            await self._insert("accounts", {"_id": acc.id, "name": acc.name, "email": acc.email,
                                            "password_hash": acc.password_hash, "role": acc.role,
                                            "created_at": acc.created_at}, s, "name")
        players = self._c("players")
        counts = event_counts(change)
        heads: dict[str, int] = {}  # the player's head, moved past this change's events with its write
        for write in change.players:
            count = counts.get(write.id, 0)
            if write.expected_version is None:
                await self._insert("names", {"_id": f"player:{write.name}", "owner": write.id}, s, "name")
                await self._insert("players", {"_id": write.id, "name": write.name, "version": 1,
                                               "state": write.state, "sweep_at": write.sweep_at,
                                               "event_seq": count}, s, "name")
                heads[write.id] = count
            else:
                match = {"_id": write.id, "version": write.expected_version}
                update = {"$set": {"state": write.state, "sweep_at": write.sweep_at},
                          "$inc": {"version": 1, "event_seq": count}}
                if count:  # the head moves with the write, and comes back with it
                    moved = await players.find_one_and_update(match, update, projection={"event_seq": 1},
                                                              return_document=ReturnDocument.AFTER, session=s)
                    if moved is None:
                        raise Conflict(f"player {write.id} changed")
                    heads[write.id] = moved["event_seq"]
                elif (await players.update_one(match, update, session=s)).matched_count != 1:
                    raise Conflict(f"player {write.id} changed")
        for player_id, count in counts.items():
            if player_id not in heads:  # events for a player this change does not otherwise write (a whisper)
                moved = await players.find_one_and_update(
                    {"_id": player_id}, {"$inc": {"event_seq": count}}, projection={"event_seq": 1},
                    return_document=ReturnDocument.AFTER, session=s)
                if moved is None:
                    raise Conflict(f"player {player_id} does not exist")
                heads[player_id] = moved["event_seq"]
        listings = self._c("listings")
        for listing in change.listings:
            doc = _listing_doc(listing.id, listing.doc)
            if listing.expected_status is None:
                await self._insert("listings", doc, s, "listing id")
            else:
                result = await listings.replace_one({"_id": listing.id, "status": listing.expected_status}, doc,
                                                    session=s)
                if result.matched_count != 1:
                    raise Conflict(f"listing {listing.id} changed")
        if change.ledger:
            await self._insert_many("ledger", [
                {"player_id": e.player_id, "currency": e.currency, "delta": e.delta, "reason": e.reason,
                 "ref": e.ref, "at": e.at} for e in change.ledger], s, "ledger entry")
        if change.notifications:
            await self._insert_many("notifications", [
                {"_id": n.id, "player_id": n.player_id, "kind": n.kind, "data": n.data, "at": n.at,
                 "read": n.read} for n in change.notifications], s, "notification id")
        notified = {n.player_id for n in change.notifications}
        unread = {player_id: await self._c("notifications").count_documents(
            {"player_id": player_id, "read": False}, session=s) for player_id in notified}
        logged = number_events(change_events(change, unread), heads, change.at)
        if logged:
            expire_at = datetime.fromtimestamp(change.at + self.event_log_seconds, UTC)
            await self._insert_many("events", [
                {"player_id": e.player_id, "seq": e.seq, "type": e.type, "data": e.data, "at": e.at,
                 "expire_at": expire_at} for e in logged], s, "event seq")
        return logged
