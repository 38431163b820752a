"""The events port, on every bus adapter: per-player seqs, delivery where the player is, replay, topics, control."""

from __future__ import annotations

import orjson

from tests.contract.conftest import OpenBus
from tests.support.wire import eventually

WAIT = 5.0


async def test_seqs_count_up_per_player_and_last_seq_follows(open_test_bus: OpenBus) -> None:
    bus, _ = await open_test_bus()
    assert await bus.events.last_seq("p1") == 0
    assert await bus.events.publish("p1", [("a", {"n": 1}), ("b", {"n": 2})]) == [1, 2]
    assert await bus.events.publish("p2", [("a", {})]) == [1]  # each player has their own numbers
    assert await bus.events.publish("p1", [("c", {})]) == [3]
    assert await bus.events.publish("p1", []) == []
    assert await bus.events.last_seq("p1") == 3


async def test_events_reach_the_node_only_while_the_player_is_attached(open_test_bus: OpenBus) -> None:
    bus, heard = await open_test_bus()
    await bus.events.publish("away", [("x", {})])
    await bus.presence.attach("here", "s1")
    await bus.events.publish("here", [("wallet.updated", {"val": 5})])

    async def delivered() -> bool:
        return bool(heard.player)
    await eventually(delivered, WAIT, "the attached player's event")
    player_id, seq, frame = heard.player[0]
    assert (player_id, seq) == ("here", 1)
    assert orjson.loads(frame) == {"type": "wallet.updated", "seq": 1, "data": {"val": 5}}
    await bus.events.broadcast("t", "ping", {})  # topics and player events keep their order: once this is in,
    await eventually(lambda: _true(heard.topic), WAIT, "the broadcast")  # the earlier publish has been delivered
    assert [p for p, _, _ in heard.player] == ["here"]


async def _true(value: object) -> bool:
    return bool(value)


async def test_replay_gives_what_came_after_a_seq_or_none_when_it_cannot(open_test_bus: OpenBus) -> None:
    bus, _ = await open_test_bus()
    await bus.events.publish("p", [("a", {"i": 1}), ("b", {"i": 2}), ("c", {"i": 3})])
    missed = await bus.events.replay("p", 1)
    assert missed is not None
    assert [seq for seq, _ in missed] == [2, 3]
    assert [orjson.loads(frame)["data"]["i"] for _, frame in missed] == [2, 3]
    assert await bus.events.replay("p", 3) == []
    assert await bus.events.replay("p", 7) is None  # the client saw seqs this bus never gave: its history is gone


async def test_replay_is_refused_once_history_is_trimmed(open_test_bus: OpenBus) -> None:
    bus, _ = await open_test_bus()  # history of 100 events
    await bus.events.publish("p", [("e", {"i": i}) for i in range(150)])
    assert await bus.events.replay("p", 10) is None
    kept = await bus.events.replay("p", 60)
    assert kept is not None and [seq for seq, _ in kept] == list(range(61, 151))


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
