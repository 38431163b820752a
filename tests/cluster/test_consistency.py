"""What must hold whichever node a command lands on: one winner per listing, idempotent retries, gapless seqs,
and scheduled jobs that every node runs over the same players."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tests.cluster.conftest import Cluster, item_id, list_dagger
from tests.conftest import Connect
from tests.support.client import Client
from tests.support.game import MANY_COMMANDS, first_character, inventory, lose, player
from tests.support.wire import eventually, sample, scrape

BUYERS = 50
SWEPT_PLAYERS = 20


@pytest.mark.timeout(240)  # fifty registrations (password hashing) on a loaded machine
async def test_fifty_buyers_on_three_nodes_race_for_one_listing(cluster: Cluster, connect: Connect) -> None:
    seller_login = await cluster.login(cluster[0])
    seller, hello = await connect(cluster[0], seller_login)
    logins = await cluster.quick_logins(BUYERS, "race")
    buyers: list[Client] = []
    for i, login in enumerate(logins):
        client, _ = await connect(cluster[i % len(cluster)], login)
        buyers.append(client)
    listing = await list_dagger(seller, 30)
    dagger = next(e for e in (await seller.call("market.mine"))["listings"] if e["id"] == listing)["item"]["id"]

    replies = await asyncio.gather(*(b.request("market.buy", {"listing": listing}, timeout=60) for b in buyers))

    winners = [i for i, reply in enumerate(replies) if reply["ok"]]
    assert len(winners) == 1, [r for r in replies if r["ok"]]
    losers = [reply["error"]["code"] for reply in replies if not reply["ok"]]
    assert set(losers) == {"conflict"}, losers
    winner = buyers[winners[0]]
    assert replies[winners[0]]["data"]["val"] == 100 - 30
    assert dagger in [i["id"] for i in await inventory(winner)]
    for i, buyer in enumerate(buyers):
        if i != winners[0]:
            assert (await player(buyer))["val"] == 100
            assert dagger not in [item["id"] for item in await inventory(buyer)]
    await seller.wait_event("wallet.updated", lambda d: d["val"] == hello["player"]["val"] + 30 - 1, timeout=15)
    sold = (await seller.call("market.mine", {"status": "sold"}))["listings"]
    assert [s["id"] for s in sold] == [listing]
    assert (await cluster.audit())["ok"] is True


async def test_an_idem_retry_on_another_node_replays_the_first_reply(cluster: Cluster, connect: Connect) -> None:
    seller, _ = await connect(cluster[0])
    login = await cluster.login(cluster[1])
    on_b, _ = await connect(cluster[1], login)
    listing = await list_dagger(seller, 20)

    first = await on_b.request("market.buy", {"listing": listing}, idem="buy-once")
    assert first["ok"] is True, first
    assert first.get("replayed") is not True
    await on_b.close()
    on_b_again, _ = await connect(cluster[2], login)
    after_first = (await player(on_b_again), await inventory(on_b_again))

    retry = await on_b_again.request("market.buy", {"listing": listing}, idem="buy-once")
    assert retry["ok"] is True, retry
    assert retry["replayed"] is True
    assert retry["data"] == first["data"]
    assert (await player(on_b_again), await inventory(on_b_again)) == after_first
    assert after_first[0]["val"] == 100 - 20

    # the same on a third node, with a state-creating command: listing twice under one key makes one listing
    lister, _ = await connect(cluster[0], login)
    potion = await item_id(lister, "pocion-vida-menor")
    listed = await lister.request("market.list", {"item": potion, "price": 7}, idem="list-potion")
    assert listed["ok"] is True, listed
    again, _ = await connect(cluster[1], login)
    replayed = await again.request("market.list", {"item": potion, "price": 7}, idem="list-potion")
    assert replayed["replayed"] is True
    assert replayed["data"] == listed["data"]
    mine = (await again.call("market.mine"))["listings"]
    assert [m["id"] for m in mine] == [listed["data"]["listing"]]
    # a key used for another command is refused, not replayed
    misuse = await again.request("market.cancel", {"listing": listed["data"]["listing"]}, idem="list-potion")
    assert misuse["ok"] is False and misuse["error"]["code"] == "conflict"


def seqs(client: Client) -> list[int]:
    return [e["seq"] for e in client.events if "seq" in e]


def whispers(client: Client) -> list[str]:
    return [e["data"]["text"] for e in client.events if e["type"] == "chat.message" and "seq" in e]


async def test_seq_stays_gapless_across_a_reconnect_to_another_node(cluster: Cluster, connect: Connect) -> None:
    login = await cluster.login(cluster[0])
    sender, _ = await connect(cluster[2])
    on_a, hello = await connect(cluster[0], login)
    start_seq = hello["seq"]

    async def whisper(text: str) -> None:
        await sender.call("chat.whisper", {"to": login["name"], "text": text})

    for i in range(3):
        await whisper(f"w{i}")
    await on_a.wait_event("chat.message", lambda d: d["text"] == "w2", timeout=15)
    last_seen = seqs(on_a)[-1]
    await on_a.close()

    for i in range(3, 7):  # missed while away
        await whisper(f"w{i}")
    on_b, resumed = await connect(cluster[1], login, resume={"session": hello["session"], "seq": last_seen})
    assert resumed["resumed"] is True, resumed
    assert resumed["node"] != hello["node"]
    await on_b.wait_event("chat.message", lambda d: d["text"] == "w6", timeout=15)
    for i in range(7, 9):  # new ones, on the new node (9 whispers in all: the chat limit is 10 per 10 s)
        await whisper(f"w{i}")
    await on_b.wait_event("chat.message", lambda d: d["text"] == "w8", timeout=15)

    seen = seqs(on_a) + seqs(on_b)
    assert seen == list(range(start_seq + 1, seen[-1] + 1)), seen  # ordered, no gap, no duplicate
    assert whispers(on_a) + whispers(on_b) == [f"w{i}" for i in range(9)]
    replayed = [e for e in on_b.events if "seq" in e][:4]
    assert [e["data"]["text"] for e in replayed] == ["w3", "w4", "w5", "w6"]
    assert replayed[0]["seq"] == last_seen + 1


@pytest.mark.timeout(180)
async def test_two_nodes_sweeping_the_same_players_lose_each_character_once(
        make_cluster: Callable[..., Cluster], connect: Connect) -> None:
    cluster = make_cluster(2, game={"wound_loss_seconds": 3}, sweep_interval_seconds=0.01, **MANY_COMMANDS)
    logins = await cluster.quick_logins(SWEPT_PLAYERS)
    clients = [(await connect(cluster[i % 2], login))[0] for i, login in enumerate(logins)]
    heroes = [(await first_character(client))["id"] for client in clients]
    marks = [len(client.events) for client in clients]
    await asyncio.gather(*(lose(client, hero) for client, hero in zip(clients, heroes, strict=True)))
    for client, hero, mark in zip(clients, heroes, marks, strict=True):
        lost = await client.wait_event("character.lost", after=mark, timeout=30)
        assert lost["data"]["characters"] == [hero]

    async def sweeps() -> list[float]:
        return [sample(await scrape(node.http), "valgame_job_runs_total", job="sweep") for node in cluster.nodes]

    # Every node sweeps every 10 ms over the same due players; let both run a few more times before counting.
    seen = await sweeps()
    await eventually(lambda: _all_past(sweeps, [n + 5 for n in seen]), 30, "five more sweeps on every node")
    swept = [sample(await scrape(node.http), "valgame_job_items_total", job="sweep") for node in cluster.nodes]
    assert sum(swept) == SWEPT_PLAYERS, swept
    for client, hero, mark in zip(clients, heroes, marks, strict=True):
        assert [e["data"]["characters"] for e in client.events[mark:] if e["type"] == "character.lost"] == [[hero]]
        notes = (await client.call("notification.list"))["notifications"]
        assert [n["data"]["character"] for n in notes if n["kind"] == "character_lost"] == [hero]
        assert hero not in [c["id"] for c in (await client.call("character.list"))["characters"]]
    assert (await cluster.audit())["ok"] is True


async def _all_past(read: Callable[[], Awaitable[list[float]]], marks: list[float]) -> bool:
    return all(value >= mark for value, mark in zip(await read(), marks, strict=True))
