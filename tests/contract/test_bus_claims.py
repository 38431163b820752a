"""The claims port, on every bus adapter: exclusive keys while they last, early release, shared counters."""

from __future__ import annotations

from tests.contract.conftest import OpenBus
from tests.support.wire import eventually


async def test_a_claim_is_exclusive_until_released(open_test_bus: OpenBus) -> None:
    bus, _ = await open_test_bus()
    assert await bus.claims.claim_once("k", 60) is True
    assert await bus.claims.claim_once("k", 60) is False
    assert await bus.claims.claim_once("other", 60) is True
    await bus.claims.release("k")  # not awaited by every adapter: it only has to be gone before the next look

    async def free() -> bool:
        return await bus.claims.claim_once("k", 60)
    await eventually(free, 5, "the released claim")


async def test_a_claim_lapses_after_its_lifetime(open_test_bus: OpenBus) -> None:
    bus, _ = await open_test_bus()
    assert await bus.claims.claim_once("short", 1) is True
    assert await bus.claims.claim_once("short", 1) is False

    async def lapsed() -> bool:
        return await bus.claims.claim_once("short", 60)
    await eventually(lapsed, 5, "the claim to lapse")


async def test_counters_count_additions_and_sum_them(open_test_bus: OpenBus) -> None:
    bus, _ = await open_test_bus()
    assert await bus.claims.get_count("ack:1") == (0, 0)
    await bus.claims.add_count("ack:1", 3, 60)
    await bus.claims.add_count("ack:1", 0, 60)
    await bus.claims.add_count("ack:1", 4, 60)
    assert await bus.claims.get_count("ack:1") == (3, 7)
    assert await bus.claims.get_count("ack:2") == (0, 0)
