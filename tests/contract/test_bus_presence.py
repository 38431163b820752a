"""The presence port, on every bus adapter: open sessions, owners of closed ones, live nodes and their figures."""

from __future__ import annotations

import time

from tests.contract.conftest import OpenBus


async def test_attached_sessions_are_listed_with_their_node_until_detached(open_test_bus: OpenBus) -> None:
    bus, _ = await open_test_bus("n1")
    before = time.time()
    await bus.presence.attach("p", "s1")
    await bus.presence.attach("p", "s2")
    await bus.presence.attach("q", "s3")
    sessions = sorted(await bus.presence.sessions_of("p"))
    assert [(sid, node) for sid, node, _ in sessions] == [("s1", "n1"), ("s2", "n1")]
    assert all(before - 1 <= opened <= time.time() + 1 for _, _, opened in sessions)
    await bus.presence.detach("p", "s1")
    assert [sid for sid, _, _ in await bus.presence.sessions_of("p")] == ["s2"]
    assert await bus.presence.sessions_of("nobody") == []


async def test_a_closed_session_still_names_its_owner_for_resume(open_test_bus: OpenBus) -> None:
    bus, _ = await open_test_bus()
    await bus.presence.attach("p", "s1")
    assert await bus.presence.session_owner("s1") == "p"
    await bus.presence.detach("p", "s1")
    assert await bus.presence.session_owner("s1") == "p"
    assert await bus.presence.session_owner("s-unknown") is None


async def test_live_nodes_report_their_sockets_and_figures(open_test_bus: OpenBus) -> None:
    bus, _ = await open_test_bus("n1", sockets=lambda: 7, figures=lambda: {"commands_per_second": 1.5})
    nodes = await bus.presence.nodes()
    assert set(nodes) == {"n1"}
    assert nodes["n1"]["sockets"] == 7 and nodes["n1"]["commands_per_second"] == 1.5
    assert abs(nodes["n1"]["at"] - time.time()) < 60
