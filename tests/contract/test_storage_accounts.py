"""The `AccountStore` port (persistence/port.py): every test runs against every adapter and expects the same answers.

(A new account is written by `GameStore.commit` with its player: that the two are all or nothing is tested here too.)
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from persistence.port import Change, Duplicate, PlayerWrite, RefreshToken, Storage
from tests.contract.conftest import Reopen
from tests.contract.storage_builders import account, state

# --- accounts and tokens ------------------------------------------------------------------------------------------


async def test_accounts_create_find_and_role(storage: Storage) -> None:
    alice = account("a1", "Alice")
    await storage.commit(Change(account=alice))
    assert await storage.account_by_name("Alice") == alice
    assert await storage.account_by_id("a1") == alice
    assert await storage.account_by_name("alice") is None  # names are exact
    assert await storage.account_by_name("Nobody") is None
    assert await storage.account_by_id("nope") is None
    await storage.set_role("a1", "admin")
    found = await storage.account_by_id("a1")
    assert found is not None and found.role == "admin"
    assert (await storage.account_by_name("Alice")) == found


async def test_password_hash_replaced_for_one_account_and_seen_by_another_instance(
        storage: Storage, reopen: Reopen) -> None:
    alice, bob = account("a1", "Alice"), account("a2", "Bob")
    await storage.commit(Change(account=alice))
    await storage.commit(Change(account=bob))
    await storage.set_password_hash("a1", "$argon2id$v=19$m=65536,t=3,p=4$new")
    await storage.set_password_hash("nobody", "$argon2id$v=19$m=1,t=1,p=1$x")  # unknown: nothing is created

    other = await reopen()  # another node (or the same one restarted) reads what was written
    for store in (storage, other):
        found = await store.account_by_name("Alice")
        assert found == dataclasses.replace(alice, password_hash="$argon2id$v=19$m=65536,t=3,p=4$new")
        assert await store.account_by_id("a1") == found
        assert await store.account_by_id("a2") == bob  # the other account keeps its hash
        assert await store.account_by_id("nobody") is None


async def test_account_duplicates_write_nothing(storage: Storage) -> None:
    await storage.commit(Change(account=account("a1", "Alice", "alice@example.test")))

    # Same name, other email: Duplicate("name"); the new email stays free and the player is not created.
    with pytest.raises(Duplicate) as caught:
        await storage.commit(Change(account=account("a2", "Alice", "other@example.test"),
                                    players=[PlayerWrite("a2", "Alice2", None, state())]))
    assert caught.value.what == "name"
    assert await storage.account_by_id("a2") is None
    assert await storage.load_player("a2") is None

    # Same email, other name: Duplicate("email").
    with pytest.raises(Duplicate) as caught:
        await storage.commit(Change(account=account("a3", "Bob", "alice@example.test"),
                                    players=[PlayerWrite("a3", "Bob", None, state())]))
    assert caught.value.what == "email"
    assert await storage.account_by_name("Bob") is None
    assert await storage.load_player("a3") is None
    assert await storage.player_id_by_name("Bob") is None

    # Nothing of the failed attempts was reserved: both the name Bob and the other email are free.
    await storage.commit(Change(account=account("a4", "Bob", "other@example.test"),
                                players=[PlayerWrite("a4", "Bob", None, state())]))
    bob = await storage.account_by_name("Bob")
    assert bob is not None and bob.id == "a4"
    assert await storage.player_id_by_name("Bob") == "a4"


async def test_refresh_tokens_use_once_and_revoke_family(storage: Storage) -> None:
    await storage.add_refresh_token(RefreshToken("h1", "p1", "F", 9000.0))
    await storage.add_refresh_token(RefreshToken("h2", "p1", "F", 9000.0))
    await storage.add_refresh_token(RefreshToken("h3", "p1", "G", 9000.5))

    first = await storage.use_refresh_token("h1")
    assert first == RefreshToken("h1", "p1", "F", 9000.0, used=False, revoked=False)
    second = await storage.use_refresh_token("h1")
    assert second == RefreshToken("h1", "p1", "F", 9000.0, used=True, revoked=False)
    assert await storage.use_refresh_token("unknown") is None

    await storage.revoke_token_family("F")
    h2 = await storage.use_refresh_token("h2")
    assert h2 is not None and h2.revoked and not h2.used
    h3 = await storage.use_refresh_token("h3")
    assert h3 == RefreshToken("h3", "p1", "G", 9000.5, used=False, revoked=False)


async def test_refresh_token_racing_uses_exactly_one_wins(storage: Storage) -> None:
    # Many rounds, because one round of eight racers rarely lands two of them inside the same window.
    for round_ in range(25):
        token = f"race{round_}"
        await storage.add_refresh_token(RefreshToken(token, "p1", "F", 9000.0))
        seen = await asyncio.gather(*(storage.use_refresh_token(token) for _ in range(8)))
        assert all(record is not None for record in seen)
        assert sum(1 for record in seen if record is not None and not record.used) == 1, round_


async def test_revoked_access_tokens(storage: Storage) -> None:
    assert await storage.access_token_revoked("j1") is False
    await storage.revoke_access_token("j1", 5000.0)
    await storage.revoke_access_token("j1", 6000.0)  # revoking twice is fine
    assert await storage.access_token_revoked("j1") is True
    assert await storage.access_token_revoked("j2") is False


async def test_purge_tokens_drops_expired_jtis_and_refresh_tokens(storage: Storage) -> None:
    await storage.revoke_access_token("j-old", 10.0)
    await storage.revoke_access_token("j-new", 100.0)
    await storage.add_refresh_token(RefreshToken("t-old", "p1", "F", 10.0))
    await storage.add_refresh_token(RefreshToken("t-new", "p1", "F", 100.0))

    await storage.purge_tokens(50.0)
    assert await storage.access_token_revoked("j-old") is False
    assert await storage.access_token_revoked("j-new") is True
    assert await storage.use_refresh_token("t-old") is None
    assert await storage.use_refresh_token("t-new") is not None

