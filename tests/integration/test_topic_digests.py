"""The topics' digests over real sockets: `market:digest` and `chat:global:digest` carry their topic's events, as
the topic sends them and in order, one frame per interval, bounded per frame, and collected only while someone
follows them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Connect
from tests.support.client import Client
from tests.support.economy import quick_login
from tests.support.servers import ServerProcess

DIGEST = {"digest_seconds": 0.3, "digest_max_events": 2, "rate_per_second": 1000, "rate_burst": 1000}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("digest"), **DIGEST).start()
    yield proc
    proc.terminate()


async def player(connect: Connect, node: ServerProcess) -> Client:
    client, _ = await connect(node, await quick_login(node))
    return client


async def potions(client: Client) -> list[str]:
    return [i["id"] for i in (await client.call("inventory.get"))["items"] if i["code"] == "pocion-vida-menor"]


async def digests_until(client: Client, count: int, after: int = 0,
                        kind: str = "market.digest") -> list[dict[str, Any]]:
    """The digests received after index `after` until they account for `count` events (kept or skipped)."""
    seen: list[dict[str, Any]] = []
    while sum(len(d["data"]["events"]) + d["data"]["skipped"] for d in seen) < count:
        event = await client.wait_event(kind, after=after, timeout=10)
        after = client.events.index(event) + 1
        seen.append(event)
    return seen


async def test_a_digest_carries_the_market_events_in_order_as_the_feed_sends_them(
        connect: Connect, node: ServerProcess) -> None:
    seller, feed, digest = [await player(connect, node) for _ in range(3)]
    await feed.call("sub.add", {"topic": "market"})
    assert await digest.call("sub.add", {"topic": "market:digest"}) == {"topic": "market:digest"}

    first = (await potions(seller))[0]
    listed = (await seller.call("market.list", {"item": first, "price": 7}))["listing"]
    await seller.call("market.cancel", {"listing": listed})
    await feed.wait_event("market.cancelled", lambda d: d["listing"] == listed)

    digests = await digests_until(digest, 2)

    def about_it(event: dict[str, Any]) -> bool:
        return listed in (event["data"].get("id"), event["data"].get("listing"))

    entries = [entry for d in digests for entry in d["data"]["events"] if about_it(entry)]
    singles = [e for e in feed.events if e["type"].startswith("market.") and about_it(e)]
    assert entries == singles, "the digest's entries are the feed's events, frame for frame, in order"
    assert [e["type"] for e in entries] == ["market.listed", "market.cancelled"]
    assert all(d["topic"] == "market:digest" and d["data"]["skipped"] == 0 for d in digests)
    assert not [e for e in digest.events if e["type"] != "market.digest"], "a digest follower gets no single events"


async def test_an_interval_carries_at_most_max_events_and_counts_the_rest(connect: Connect,
                                                                         node: ServerProcess) -> None:
    seller, digest = await player(connect, node), await player(connect, node)
    await digest.call("sub.add", {"topic": "market:digest"})
    mark = len(digest.events)
    ids = []
    for potion in (await potions(seller))[:3]:  # three events, faster than the 0.3 s interval
        ids.append((await seller.call("market.list", {"item": potion, "price": 5}))["listing"])
    digests = await digests_until(digest, 3, after=mark)
    kept = [e["data"]["id"] for d in digests for e in d["data"]["events"]]
    assert all(len(d["data"]["events"]) <= DIGEST["digest_max_events"] for d in digests)
    assert kept == ids[:len(kept)], "kept in order; what does not fit is only counted"
    assert sum(d["data"]["skipped"] for d in digests) == 3 - len(kept)


async def test_nothing_is_collected_for_nobody(connect: Connect, tmp_path_factory: pytest.TempPathFactory) -> None:
    node = ServerProcess(tmp_path_factory.mktemp("digest-alone"), **DIGEST).start()  # nobody else follows it here
    try:
        await nothing_collected(connect, node)
    finally:
        node.terminate()


async def nothing_collected(connect: Connect, node: ServerProcess) -> None:
    seller, late = await player(connect, node), await player(connect, node)
    before, after = (await potions(seller))[:2]
    unseen = (await seller.call("market.list", {"item": before, "price": 5}))["listing"]
    await late.call("sub.add", {"topic": "market:digest"})
    mark = len(late.events)
    seen = (await seller.call("market.list", {"item": after, "price": 5}))["listing"]
    digests = await digests_until(late, 1, after=mark)
    assert [e["data"]["id"] for d in digests for e in d["data"]["events"]] == [seen], unseen


async def test_unsubscribing_stops_the_digest(connect: Connect, node: ServerProcess) -> None:
    seller, quitter, stayer = [await player(connect, node) for _ in range(3)]
    for client in (quitter, stayer):
        await client.call("sub.add", {"topic": "market:digest"})
    await quitter.call("sub.remove", {"topic": "market:digest"})
    mark = len(stayer.events)
    listing = (await seller.call("market.list", {"item": (await potions(seller))[0], "price": 5}))["listing"]
    await digests_until(stayer, 1, after=mark)
    await quitter.call("ping")  # the digest went to every follower at once: had it gone here, it is in by now
    assert listing and not [e for e in quitter.events if e["type"] == "market.digest"]


async def test_the_global_chat_has_a_digest_too(connect: Connect, node: ServerProcess) -> None:
    talker, listener, digest = [await player(connect, node) for _ in range(3)]
    await listener.call("sub.add", {"topic": "chat:global"})
    await digest.call("sub.add", {"topic": "chat:global:digest"})
    texts = ["first", "second"]
    for text in texts:
        await talker.call("chat.send", {"text": text})
    singles = [await listener.wait_event("chat.message", lambda d, t=text: d["text"] == t) for text in texts]
    entries = [e for d in await digests_until(digest, 2, kind="chat.digest") for e in d["data"]["events"]]
    assert entries == singles, "the same frames as the global chat's, in order"
    assert not [e for e in digest.events if e["type"] != "chat.digest"]
