"""The in-process bus's claims are forgotten once lapsed (a single node claims a key per energy tick and per combat
round, for as long as it runs). What every adapter promises is in tests/contract/test_bus_*.py."""

from __future__ import annotations

from server.bus.memory.claims import CLAIMS_PURGE_MIN, MemoryClaims


async def test_a_zero_lifetime_claim_lapses_at_once() -> None:
    claims = MemoryClaims()
    assert await claims.claim_once("k", 0) is True
    assert await claims.claim_once("k", 60) is True


async def test_lapsed_claims_do_not_pile_up() -> None:
    claims = MemoryClaims()
    for i in range(10 * CLAIMS_PURGE_MIN):
        assert await claims.claim_once(f"lapsed:{i}", 0)
    assert await claims.claim_once("live", 60)
    assert claims.held() <= CLAIMS_PURGE_MIN
    assert await claims.claim_once("live", 60) is False  # a purge keeps the claims that still hold
