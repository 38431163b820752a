"""The state cache: what it keeps, what announcements of changes drop, and the read/announcement race."""

from __future__ import annotations

from persistence import PlayerDoc
from server.game.state import PlayerState
from server.statecache import StateCache


def entry(player_id: str, version: int) -> tuple[PlayerDoc, PlayerState]:
    state = PlayerState(val=0, evo=0, energy=0, energy_at=0.0)
    return PlayerDoc(player_id, player_id.upper(), version, {}), state


def test_keeps_what_was_put_and_never_goes_back_a_version() -> None:
    cache = StateCache(10, 60)
    newer = entry("p", 3)
    cache.put(*newer)
    cache.put(*entry("p", 2))
    hit = cache.get("p")
    assert hit is not None and hit[0].version == 3 and hit[1] is newer[1]


def test_an_announced_newer_version_drops_the_entry_and_an_older_one_does_not() -> None:
    cache = StateCache(10, 60)
    cache.put(*entry("p", 3))
    cache.changed("p", 3)
    assert cache.get("p") is not None
    cache.changed("p", 4)
    assert cache.get("p") is None
    cache.put(*entry("p", 3))  # a slow read of the old version
    assert cache.get("p") is None
    cache.put(*entry("p", 4))
    assert cache.get("p") is not None


def test_a_read_in_flight_during_an_announcement_is_not_kept() -> None:
    cache = StateCache(10, 60)
    cache.reading("p")
    cache.changed("p", 7)  # committed elsewhere while the read was on its way
    cache.read("p", entry("p", 6))
    assert cache.get("p") is None
    cache.reading("p")
    cache.read("p", entry("p", 7))
    assert cache.get("p") is not None


def test_announcements_of_players_not_held_or_read_leave_nothing_behind() -> None:
    cache = StateCache(10, 60)
    cache.changed("stranger", 5)
    assert len(cache) == 0


def test_entries_expire_after_max_age() -> None:
    cache = StateCache(10, 0.0)
    cache.put(*entry("p", 1))
    assert cache.get("p") is None


def test_size_bound_evicts_the_oldest_and_zero_turns_it_off() -> None:
    cache = StateCache(2, 60)
    for player in ("a", "b", "c"):
        cache.put(*entry(player, 1))
    assert len(cache) == 2 and cache.get("a") is None and cache.get("c") is not None
    off = StateCache(0, 60)
    off.put(*entry("a", 1))
    assert off.get("a") is None


def test_a_cache_turned_off_keeps_nothing_even_during_reads() -> None:
    off = StateCache(0, 60)
    off.reading("p")
    off.changed("p", 3)
    off.read("p", entry("p", 3))
    assert len(off) == 0
