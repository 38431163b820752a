"""Chat and notifications over the socket: global chat to subscribers only, whispers to their target only, the
history, the limits, and the level-up notification with its unread count."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Connect
from tests.support.client import Client
from tests.support.game import MANY_COMMANDS, character, first_character, node_fixture, player, win
from tests.support.servers import ServerProcess


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from node_fixture(tmp_path_factory, "social", **MANY_COMMANDS)


def chats(client: Client, text: str) -> list[dict[str, Any]]:
    return [e for e in client.events if e["type"] == "chat.message" and e["data"]["text"] == text]


async def settled(*clients: Client) -> None:
    """A round trip on each socket: a frame queued for it before now has arrived once this returns."""
    for client in clients:
        await client.call("ping")


async def test_global_chat_reaches_every_subscriber_and_nobody_else(node: ServerProcess, connect: Connect) -> None:
    ana, ana_auth = await connect(node)
    bo, _ = await connect(node)
    cy, _ = await connect(node)  # never subscribes
    for client in (ana, bo):
        assert await client.call("sub.add", {"topic": "chat:global"}) == {"topic": "chat:global"}

    text = f"anyone for the goblin cave? {secrets.token_hex(4)}"
    sent = await ana.call("chat.send", {"text": text})
    for client in (ana, bo):
        event = await client.wait_event("chat.message", lambda d: d["text"] == text)
        assert event["topic"] == "chat:global"
        data = event["data"]
        assert (data["id"], data["at"], data["from"], data["channel"]) == (
            sent["id"], sent["at"], ana_auth["player"]["name"], "global")
    await settled(cy, bo)
    assert chats(cy, text) == [] and len(chats(bo, text)) == 1

    await bo.call("sub.remove", {"topic": "chat:global"})
    later = f"still there? {secrets.token_hex(4)}"
    await ana.call("chat.send", {"text": later})
    await ana.wait_event("chat.message", lambda d: d["text"] == later)
    await settled(bo, cy)
    assert chats(bo, later) == [] and chats(cy, later) == []


async def test_a_whisper_reaches_only_its_target(node: ServerProcess, connect: Connect) -> None:
    ana, ana_auth = await connect(node)
    bo, bo_auth = await connect(node)
    cy, _ = await connect(node)
    for client in (ana, bo, cy):
        await client.call("sub.add", {"topic": "chat:global"})
    text = f"gg {secrets.token_hex(4)}"
    sent = await ana.call("chat.whisper", {"to": bo_auth["player"]["name"], "text": text})

    event = await bo.wait_event("chat.message", lambda d: d["text"] == text)
    data = event["data"]
    assert (data["id"], data["from"], data["to"], data["channel"]) == (
        sent["id"], ana_auth["player"]["name"], bo_auth["player"]["name"], "whisper")
    assert "seq" in event and "topic" not in event  # a personal event, not a topic broadcast
    await settled(ana, cy, bo)
    assert chats(ana, text) == [] and chats(cy, text) == [] and len(chats(bo, text)) == 1
    assert text not in [m["text"] for m in (await ana.call("chat.history"))["messages"]]

    error = await ana.expect_error("chat.whisper", {"to": "nobody_" + secrets.token_hex(4), "text": "hi"})
    assert error["code"] == "not_found"
    error = await ana.expect_error("chat.whisper", {"to": ana_auth["player"]["name"], "text": "hi"})
    assert error["code"] == "bad_request"


async def test_chat_history_returns_the_last_messages_in_order(node: ServerProcess, connect: Connect) -> None:
    ana, ana_auth = await connect(node)
    tag = secrets.token_hex(4)
    texts = [f"{tag} first", f"{tag} second", f"{tag} third"]
    for text in texts:
        await ana.call("chat.send", {"text": text})

    late, _ = await connect(node)  # a late joiner reads what was said
    last = (await late.call("chat.history", {"limit": 3}))["messages"]
    assert [m["text"] for m in last] == texts
    assert all(m["from"] == ana_auth["player"]["name"] for m in last)
    assert [m["at"] for m in last] == sorted(m["at"] for m in last)
    everything = (await late.call("chat.history"))["messages"]
    assert len(everything) <= 100 and [m["text"] for m in everything[-3:]] == texts
    assert [m["text"] for m in (await late.call("chat.history", {"limit": 1}))["messages"]] == texts[-1:]
    assert (await late.expect_error("chat.history", {"limit": 101}))["code"] == "bad_request"


async def test_chat_refuses_long_or_empty_text_and_too_many_messages(node: ServerProcess, connect: Connect) -> None:
    ana, _ = await connect(node)
    bo, bo_auth = await connect(node)
    for text in ("x" * 501, ""):
        error = await ana.expect_error("chat.send", {"text": text})
        assert (error["code"], error["field"]) == ("bad_request", "data.text"), error
    error = await ana.expect_error("chat.whisper", {"to": bo_auth["player"]["name"], "text": "y" * 501})
    assert (error["code"], error["field"]) == ("bad_request", "data.text"), error

    await ana.call("chat.send", {"text": "z" * 500})  # the longest allowed: 1 of 10 in 10 s
    for i in range(9):
        await ana.call("chat.whisper" if i % 2 else "chat.send",
                       {"to": bo_auth["player"]["name"], "text": f"msg {i}"} if i % 2 else {"text": f"msg {i}"})
    for command, data in (("chat.send", {"text": "one too many"}),
                          ("chat.whisper", {"to": bo_auth["player"]["name"], "text": "one too many"})):
        error = await ana.expect_error(command, data)
        assert error["code"] == "rate_limited" and 0 < error["retry_after_ms"] <= 10_001, error
    await bo.call("chat.send", {"text": "others may still talk"})  # the limit is per player


async def test_level_up_is_notified_and_read_marks_update_the_unread_count(
        node: ServerProcess, connect: Connect) -> None:
    client, auth = await connect(node)
    assert auth["player"]["unread"] == 0
    hero = (await first_character(client))["id"]
    first = await win(client, [hero], mode="manual")
    assert first["level_ups"] == {}
    assert (await character(client, hero))["xp"] == 50  # cave XP: 50 of the 100 that level 1 needs
    mark = len(client.events)
    second = await win(client, [hero], mode="manual")
    assert second["xp"] == {hero: 50} and second["level_ups"] == {hero: 2}

    note = await client.wait_event("notification.new", lambda d: d["kind"] == "level_up", after=mark)
    assert note["data"]["data"]["character"] == hero and note["data"]["data"]["level"] == 2
    assert note["data"]["unread"] == 1
    leveled = await character(client, hero)
    assert (leveled["level"], leveled["xp"], leveled["xp_next"]) == (2, 0, 200)
    assert (leveled["hp"], leveled["hp_max"], leveled["atk"], leveled["def"]) == (30, 30, 12, 7)  # healed on level-up
    assert (await player(client))["unread"] == 1

    listed = await client.call("notification.list")
    assert listed["unread"] == 1
    assert [(n["id"], n["kind"], n["read"]) for n in listed["notifications"]] == [
        (note["data"]["id"], "level_up", False)]
    assert (await client.call("notification.list", {"unread_only": True}))["notifications"] == listed["notifications"]
    assert await client.call("notification.read", {"ids": [note["data"]["id"]]}) == {"marked": 1, "unread": 0}
    after = await client.call("notification.list")
    assert after["unread"] == 0 and [n["read"] for n in after["notifications"]] == [True]
    assert (await client.call("notification.list", {"unread_only": True}))["notifications"] == []
    assert await client.call("notification.read") == {"marked": 0, "unread": 0}
    assert (await player(client))["unread"] == 0
