"""The storage ports: what a node needs from durable storage, whatever the adapter behind it.

Two ports: `AccountStore` (accounts, refresh tokens, revoked access tokens) and `GameStore` (players, the atomic
`commit`, idempotency records, ledger, notifications, listings, meta). Each adapter implements both on one
connection (`Storage`, with open/close/ping): SQLite in persistence/sqlite.py + sqlite_commit.py +
sqlite_accounts.py, MongoDB in persistence/mongo.py + mongo_commit.py + mongo_accounts.py.

A player's game state is one versioned document (bounded: at most 50 characters, 20 equipment items and 50
consumable stacks), so most commands are a read, a pure rule and one conditional write. Writes that touch more
than one document (a trade, a sweep, an expiry) go through `commit`, which is atomic in every adapter and fails
with `Conflict` when any document changed since it was read; callers then re-read and re-apply.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

E = TypeVar("E", bound=BaseException)


class StorageError(Exception):
    """Base of the errors the port defines."""


class Conflict(StorageError):
    """A document changed since it was read (optimistic concurrency): re-read and re-apply."""


class Unavailable(StorageError):
    """The store could not finish in its time budget: documents held by other transactions (a dead node's, until
    the server's transaction lifetime ends it), or the server unreachable. A `commit` that raises it was not applied,
    or (when the budget ran out while the commit's outcome was unknown) applied whole: the idempotency record it
    carries tells a keyed retry which."""


class Duplicate(StorageError):
    """A unique key is taken (account name or email, idempotency key)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"duplicate {what}")
        self.what = what


def without_frames(error: E) -> E:
    """`error` with neither its traceback nor the exception it was raised from, for an error kept as a value past
    the frame that caught it (a group commit's outcome for one change).

    Why: the traceback holds the frames it passed through, and the catching frame holds the error (in its list of
    outcomes): a reference cycle, which only the cyclic garbage collector frees, in a full collection (a pause of
    the event loop, rare by design: server/collector.py). One node with 10,000 active players (issue #13) had about
    120 `Conflict`s a second, each such cycle keeping a whole group's changes (player states, events) alive until
    then. A `Conflict` or `Duplicate` is a verdict on the change, not a bug: its frames tell nothing."""
    error.__traceback__ = None
    error.__context__ = None
    error.__cause__ = None
    return error


@dataclass(slots=True)
class Account:
    id: str
    name: str
    email: str
    password_hash: str
    role: str = "player"
    created_at: float = 0.0


@dataclass(slots=True)
class PlayerDoc:
    id: str
    name: str
    version: int
    state: dict[str, Any]


@dataclass(slots=True)
class PlayerWrite:
    """Replace a player's state if it is still at `expected_version` (None: the player is new)."""

    id: str
    name: str
    expected_version: int | None
    state: dict[str, Any]
    sweep_at: float | None = None  # earliest moment a scheduled job must look at this player


@dataclass(slots=True)
class LedgerEntry:
    player_id: str
    currency: str  # "VAL" or "EVO"
    delta: int
    reason: str
    ref: str
    at: float


@dataclass(slots=True)
class Notification:
    id: str
    player_id: str
    kind: str
    data: dict[str, Any]
    at: float
    read: bool = False


@dataclass(slots=True, frozen=True)
class EventWrite:
    """A personal event a change commits to its player's event log; the log gives it the player's next seq."""

    player_id: str
    type: str
    data: dict[str, Any]


@dataclass(slots=True, frozen=True)
class LoggedEvent:
    """An event as the log keeps it: numbered by the commit that wrote it (1, 2, ... per player, no gap)."""

    player_id: str
    seq: int
    type: str
    data: dict[str, Any]
    at: float


NOTIFICATION_EVENT = "notification.new"


def event_counts(change: Change) -> dict[str, int]:
    """How many events each player gets from a change (its events, and a `notification.new` per notification): the
    amount an adapter moves that player's head by."""
    return dict(Counter([event.player_id for event in change.events] + [n.player_id for n in change.notifications]))


def change_events(change: Change, unread: dict[str, int]) -> list[EventWrite]:
    """Every event a change logs: its own, then a `notification.new` for each notification it writes, with the
    player's unread count. The adapter counts `unread` inside the commit, after writing the notifications: so the
    count is exact, and costs no storage round trip between a command's plan and its commit (where it would widen
    the window in which a concurrent change makes the commit conflict)."""
    return change.events + [
        EventWrite(n.player_id, NOTIFICATION_EVENT,
                   {"id": n.id, "kind": n.kind, "data": n.data, "at": n.at, "unread": unread[n.player_id]})
        for n in change.notifications]


def number_events(events: list[EventWrite], heads: dict[str, int], at: float) -> list[LoggedEvent]:
    """Number a change's events (`change_events`) given each player's head once moved past them (`event_counts`):
    the player's first event of the change gets head - count + 1, the last gets head."""
    counts = Counter(event.player_id for event in events)
    next_seq = {player_id: heads[player_id] - count + 1 for player_id, count in counts.items()}
    logged = []
    for event in events:
        seq = next_seq[event.player_id]
        next_seq[event.player_id] = seq + 1
        logged.append(LoggedEvent(event.player_id, seq, event.type, event.data, at))
    return logged


@dataclass(slots=True)
class ListingWrite:
    """Insert a listing (expected_status None) or move it from `expected_status` to `doc["status"]`."""

    id: str
    expected_status: str | None
    doc: dict[str, Any]


@dataclass(slots=True)
class ListingQuery:
    """Filters, order and keyset cursor of a market browse. Featured listings come first, then `sort`, then id."""

    status: str = "active"
    seller_id: str | None = None
    kind: str | None = None
    rank: str | None = None
    price_min: int | None = None
    price_max: int | None = None
    min_level: int | None = None
    name: str | None = None  # case-insensitive substring of the item code or character base
    live_at: float | None = None  # only listings whose `expires_at` is after this moment
    sort: str = "price"  # price, newest (created_at) or level
    descending: bool = False
    after: tuple[int, float, str] | None = None  # (featured, sort value, id) of the last listing already seen
    limit: int = 20

    @property
    def sort_column(self) -> str:
        return {"price": "price", "newest": "created_at", "level": "level"}[self.sort]


@dataclass(slots=True)
class IdemRecord:
    player_id: str
    key: str
    type: str
    reply: dict[str, Any]  # the reply frame without its id
    at: float


@dataclass(slots=True)
class RefreshToken:
    token_hash: str
    player_id: str
    family: str
    expires_at: float
    used: bool = False
    revoked: bool = False


@dataclass(slots=True)
class Change:
    """Everything one command writes, applied all or nothing."""

    players: list[PlayerWrite] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    listings: list[ListingWrite] = field(default_factory=list)
    idem: IdemRecord | None = None
    account: Account | None = None
    events: list[EventWrite] = field(default_factory=list)
    at: float = 0.0  # when the events happened (kept with them; the log's retention counts from it)

    def __bool__(self) -> bool:
        return bool(self.players or self.ledger or self.notifications or self.listings or self.idem or self.account
                    or self.events)


class AccountStore(Protocol):
    """Accounts and their tokens: who may connect. (A new account is written by `GameStore.commit`, with its
    player, all or nothing.)"""

    async def account_by_name(self, name: str) -> Account | None: ...

    async def account_by_id(self, account_id: str) -> Account | None: ...

    async def set_role(self, account_id: str, role: str) -> None: ...

    async def set_password_hash(self, account_id: str, password_hash: str) -> None:
        """Replace an account's password hash (a login re-hashes with the node's current argon2 parameters)."""
        ...

    async def add_refresh_token(self, token: RefreshToken) -> None: ...

    async def use_refresh_token(self, token_hash: str) -> RefreshToken | None:
        """Mark a refresh token used and return it as it was before (None if unknown). Atomic: of two racing
        uses, exactly one sees `used=False`."""
        ...

    async def revoke_token_family(self, family: str) -> None: ...

    async def revoke_access_token(self, jti: str, expires_at: float) -> None: ...

    async def access_token_revoked(self, jti: str) -> bool: ...

    async def purge_tokens(self, older_than: float) -> None:
        """Forget refresh tokens and revoked access tokens that expired before `older_than`."""
        ...


class GameStore(Protocol):
    """The game's state: players, the one atomic write, idempotency records, ledger, notifications, listings, and
    the configuration stored with them."""

    # --- configuration stored with the game data ---------------------------------------------------------------
    async def get_meta(self, key: str) -> Any | None: ...

    async def put_meta(self, key: str, value: Any) -> None: ...

    # --- players -------------------------------------------------------------------------------------------------
    async def load_player(self, player_id: str) -> PlayerDoc | None: ...

    async def player_id_by_name(self, name: str) -> str | None: ...

    def iter_players(self) -> AsyncIterator[PlayerDoc]: ...

    async def players_due(self, now: float, limit: int) -> list[str]:
        """Players whose `sweep_at` has come."""
        ...

    # --- the one atomic write -------------------------------------------------------------------------------------
    async def commit(self, change: Change) -> list[LoggedEvent]:
        """Apply `change` atomically, its events appended to their players' logs, each given the player's next seq;
        return them as logged, in the change's order. Raises Conflict (a document moved on) or Duplicate
        (idempotency key or account name/email taken); nothing is written then."""
        ...

    # --- the per-player event log -----------------------------------------------------------------------------------
    async def events_after(self, player_id: str, after_seq: int, limit: int) -> list[LoggedEvent]:
        """The player's logged events with seq > `after_seq`, oldest first, at most `limit`."""
        ...

    async def event_heads(self, player_ids: list[str]) -> dict[str, int]:
        """The last seq logged for each player (0: none yet)."""
        ...

    async def trim_events(self, older_than: float) -> int:
        """Forget logged events that happened before `older_than` (the heads stay: seqs go on); return how many."""
        ...

    async def get_idem(self, player_id: str, key: str) -> IdemRecord | None: ...

    async def purge_idem(self, older_than: float) -> int:
        """Forget idempotency records written before `older_than`; return how many."""
        ...

    # --- ledger ----------------------------------------------------------------------------------------------------
    async def ledger_sums(self) -> dict[tuple[str, str], int]:
        """Sum of ledger deltas by (player id, currency)."""
        ...

    async def ledger_for(self, player_id: str, limit: int) -> list[LedgerEntry]: ...

    async def economy_snapshot(self) -> tuple[list[PlayerDoc], dict[tuple[str, str], int], list[dict[str, Any]]]:
        """Every player, the ledger sums by (player, currency) and the active listings, read at one moment."""
        ...

    # --- notifications --------------------------------------------------------------------------------------------
    async def notifications(self, player_id: str, limit: int, unread_only: bool = False) -> list[Notification]: ...

    async def mark_read(self, player_id: str, ids: list[str] | None) -> int:
        """Mark the given notifications (all when None) of this player read; return how many changed."""
        ...

    async def unread_count(self, player_id: str) -> int: ...

    # --- market listings ------------------------------------------------------------------------------------------
    async def get_listing(self, listing_id: str) -> dict[str, Any] | None: ...

    async def query_listings(self, query: ListingQuery) -> list[dict[str, Any]]:
        """At most `query.limit` listings in browse order, after `query.after`."""
        ...

    async def listings_due(self, now: float, limit: int) -> list[dict[str, Any]]: ...


class Storage(AccountStore, GameStore, Protocol):
    """An adapter: both ports on one connection, opened and closed together. Services take the port they use."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...
