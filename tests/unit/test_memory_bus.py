"""The in-process bus's claims: exclusive while they last, released early on request, and forgotten once lapsed
(a single node claims a key per energy tick and per combat round, for as long as it runs)."""

from __future__ import annotations

from server.bus.memory import CLAIMS_PURGE_MIN, MemoryBus


async def test_a_claim_is_exclusive_until_released() -> None:
    bus = MemoryBus("n1")
    assert await bus.claim_once("k", 60) is True
    assert await bus.claim_once("k", 60) is False
    await bus.release("k")
    assert await bus.claim_once("k", 60) is True


async def test_a_lapsed_claim_can_be_taken_again() -> None:
    bus = MemoryBus("n1")
    assert await bus.claim_once("k", 0) is True  # lapses at once
    assert await bus.claim_once("k", 60) is True


async def test_lapsed_claims_do_not_pile_up() -> None:
    bus = MemoryBus("n1")
    for i in range(10 * CLAIMS_PURGE_MIN):
        assert await bus.claim_once(f"lapsed:{i}", 0)
    assert await bus.claim_once("live", 60)
    assert len(bus._claims) <= CLAIMS_PURGE_MIN
    assert await bus.claim_once("live", 60) is False  # a purge keeps the claims that still hold
