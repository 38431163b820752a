"""The events port, on every bus adapter: numbered player events delivered where the player is, in order; topics;
control. (Numbering and replay belong to the storage's event log: tests/contract/test_storage_game.py.)"""

from __future__ import annotations

import orjson

from protocol import encode_event
from tests.contract.conftest import OpenBus
from tests.support.wire import eventually

WAIT = 5.0


async def test_events_reach_the_node_only_while_the_player_is_attached(open_test_bus: OpenBus) -> None:
    bus, heard = await open_test_bus()
    bus.events.publish("away", [(1, encode_event("x", {}, seq=1))])
    await bus.presence.attach("here", "s1")
    frames = [(seq, encode_event("wallet.updated", {"val": seq}, seq=seq)) for seq in (7, 8, 9)]
    bus.events.publish("here", frames)
    bus.events.publish("here", [])

    async def delivered() -> bool:
        return len(heard.player) >= 3
    await eventually(delivered, WAIT, "the attached player's events")
    assert heard.player[:3] == [("here", seq, frame) for seq, frame in frames]  # in order, frames as given
    assert orjson.loads(heard.player[0][2]) == {"type": "wallet.updated", "seq": 7, "data": {"val": 7}}
    await bus.events.broadcast("t", "ping", {})  # topics and player events keep their order: once this is in,
    await eventually(lambda: _true(heard.topic), WAIT, "the broadcast")  # the earlier publish has been delivered
    assert [p for p, _, _ in heard.player] == ["here"] * 3


async def _true(value: object) -> bool:
    return bool(value)


async def test_topics_are_delivered_encoded_with_their_topic(open_test_bus: OpenBus) -> None:
    bus, heard = await open_test_bus()
    await bus.events.broadcast("market", "market.listed", {"listing": "l_1"})
    await eventually(lambda: _true(heard.topic), WAIT, "the topic event")
    topic, frame = heard.topic[0]
    assert topic == "market"
    assert orjson.loads(frame) == {"type": "market.listed", "topic": "market", "data": {"listing": "l_1"}}


async def test_control_goes_to_every_node_or_to_the_one_named(open_test_bus: OpenBus) -> None:
    bus, heard = await open_test_bus("n1")
    await bus.events.control({"kind": "elsewhere"}, "n-other")
    await bus.events.control({"kind": "mine"}, "n1")
    await bus.events.control({"kind": "all"})
    await eventually(lambda: _true(len(heard.control) >= 2), WAIT, "the control messages")
    await bus.events.broadcast("t", "x", {})  # in order behind the control messages
    await eventually(lambda: _true(heard.topic), WAIT, "the broadcast behind them")
    assert [m["kind"] for m in heard.control] == ["mine", "all"]


async def test_a_player_with_two_sockets_here_keeps_receiving_when_one_closes(open_test_bus: OpenBus) -> None:
    """(On Redis Cluster the node follows a player's sharded channel while any of its sockets is open here.)"""
    bus, heard = await open_test_bus()
    await bus.presence.attach("p", "s1")
    await bus.presence.attach("p", "s2")
    await bus.presence.detach("p", "s1")
    bus.events.publish("p", [(1, encode_event("x", {}, seq=1))])
    await eventually(lambda: _true(heard.player), WAIT, "the event of the player still attached")
    await bus.presence.detach("p", "s2")
    await bus.presence.attach("p", "s3")  # the last socket closed, a new one opened: followed again
    bus.events.publish("p", [(2, encode_event("x", {}, seq=2))])
    await eventually(lambda: _true(len(heard.player) >= 2), WAIT, "the event after a new socket")
    assert [seq for _, seq, _ in heard.player] == [1, 2]
