"""The SDK's two shells against a real node, over a real link that drops: a keyed command in flight when the
connection dies is sent again with its key after the reconnect, and the node applies it once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.client import Client, register, unique_name
from tests.support.link import Link
from tests.support.servers import ServerProcess
from valgame_client import http as sdk_http
from valgame_client.aio import AsyncClient
from valgame_client.errors import CommandError, ConnectionLost
from valgame_client.sync import Client as BlockingClient

BOUGHT = {"val": 0, "evo": 3}  # a new player's 100 VAL and 2 EVO after one `evo.buy` of 1 (100 VAL)


async def test_the_async_client_resends_a_keyed_command_after_a_drop_and_it_applies_once(
        server: ServerProcess) -> None:
    login = await register(server.http, unique_name("sdk"))
    watcher, _ = await Client.open(server.ws, login["access_token"])  # another socket of the player, not via the link
    with Link(server.ws_port) as link:
        client = AsyncClient(link.url(), token=login["access_token"], reconnect=True)
        hello = await client.connect()
        assert hello is not None and hello["player"]["id"] == login["player_id"]
        mark = len(watcher.events)
        link.hold()  # the node's answers stay in the link from now on
        buy = asyncio.create_task(client.request("evo.buy", {"count": 1}, idem=True))
        await watcher.wait_event("wallet.updated", lambda d: d == BOUGHT, after=mark)  # applied on the node
        assert not buy.done()
        link.cut()

        reply = await asyncio.wait_for(buy, 20)
        assert reply["ok"] is True and reply.get("replayed") is True and reply["data"] == BOUGHT, reply
        assert client.connects == 2 and link.connections == 2
        state = await client.call("state.get")
        assert (state["player"]["val"], state["player"]["evo"]) == (0, 3)
        # the session was resumed: the change's event, never delivered on the first socket, came once
        assert [e["data"] for e in client.events if e["type"] == "wallet.updated"] == [BOUGHT]
        assert client.resyncs == [] and client.auth_reply is not None and client.auth_reply["resumed"] is True
        await client.close()
    await watcher.close()


async def test_the_async_client_fails_an_unkeyed_change_after_a_drop_and_repeats_a_read(
        server: ServerProcess) -> None:
    login = await register(server.http, unique_name("sdk"))
    watcher, _ = await Client.open(server.ws, login["access_token"])
    with Link(server.ws_port) as link:
        client = AsyncClient(link.url(), token=login["access_token"], reconnect=True)
        await client.connect()
        await client.call("sub.add", {"topic": "chat:global"})
        mark = len(watcher.events)
        link.hold()
        read = asyncio.create_task(client.request("energy.get"))
        change = asyncio.create_task(client.request("evo.buy", {"count": 1}))  # no idem key
        await watcher.wait_event("wallet.updated", lambda d: d == BOUGHT, after=mark)
        link.cut()

        with pytest.raises(ConnectionLost):
            await asyncio.wait_for(change, 20)  # applied, but the client cannot know: it must not repeat it
        assert (await asyncio.wait_for(read, 20))["ok"] is True
        # the subscription came back with the new connection
        await watcher.call("chat.send", {"text": "after the drop"})
        heard = await client.wait_event("chat.message", lambda d: d["text"] == "after the drop")
        assert heard["topic"] == "chat:global"
        state = await client.call("state.get")
        assert (state["player"]["val"], state["player"]["evo"]) == (0, 3)  # once, and not again
        await client.close()
    await watcher.close()


async def test_after_a_node_restart_the_async_client_reconnects_and_says_events_were_missed(
        make_server: Callable[..., ServerProcess]) -> None:
    node = make_server()
    login = await register(node.http, unique_name("sdk"))
    client = AsyncClient(node.ws, token=login["access_token"], reconnect=True)
    first = await client.connect()
    await client.call("evo.buy", {"count": 1}, idem=True)
    await client.wait_event("wallet.updated")
    node.kill()  # the in-process bus and its event history die with the node; the storage stays
    node.start()

    state = await client.call("state.get", timeout=30)  # waits for the reconnect, then is sent
    assert (state["player"]["val"], state["player"]["evo"]) == (0, 3)
    assert client.connects == 2 and client.auth_reply is not None and client.auth_reply["resumed"] is False
    assert first is not None and client.auth_reply["session"] != first["session"]
    assert [r.reason for r in client.resyncs] == ["not_resumed"]  # the client must re-read what it shows
    await client.close()


async def test_the_async_client_stops_after_a_final_close(server: ServerProcess) -> None:
    client = AsyncClient(server.ws, token="not-a-token", reconnect=True)
    with pytest.raises((CommandError, ConnectionLost)):
        await client.connect()
    assert await client.wait_closed() == 4001
    assert client.connects == 1
    with pytest.raises(ConnectionLost):
        await client.call("ping")


def _blocking_login(server: ServerProcess) -> dict[str, Any]:
    name = unique_name("sdkb")
    sdk_http.register(server.http, name, "correct horse battery")
    tokens = sdk_http.login(server.http, name, "correct horse battery")
    return {"access_token": tokens.access_token, "player_id": tokens.player_id}


def test_the_blocking_client_resends_a_keyed_command_after_a_drop_and_it_applies_once(
        server: ServerProcess) -> None:
    login = _blocking_login(server)
    watcher = BlockingClient(server.ws, token=login["access_token"])
    watcher.connect()
    with Link(server.ws_port) as link:
        heard: list[str] = []
        client = BlockingClient(link.url(), token=login["access_token"], reconnect=True,
                                on_event=lambda event: heard.append(event["type"]))
        assert client.connect() is not None
        mark = len(watcher.events)
        link.hold()
        outcome: dict[str, Any] = {}
        sender = threading.Thread(target=lambda: outcome.update(
            reply=client.request("evo.buy", {"count": 1}, idem=True, timeout=20)))
        sender.start()
        watcher.wait_event("wallet.updated", lambda d: d == BOUGHT, after=mark)
        assert sender.is_alive()
        link.cut()
        sender.join(25)

        reply = outcome["reply"]
        assert reply["ok"] is True and reply.get("replayed") is True and reply["data"] == BOUGHT, reply
        assert client.connects == 2
        state = client.call("state.get")
        assert (state["player"]["val"], state["player"]["evo"]) == (0, 3)
        assert heard.count("wallet.updated") == 1 and client.resyncs == []
        with pytest.raises(CommandError) as refused:
            client.call("evo.buy", {"count": 1}, idem=True)  # a new key is a new purchase: no VAL left for it
        assert refused.value.code == "insufficient_funds"
        client.close()
        assert client.closed and client.close_code == 1000  # the node answered the close: a clean end
    watcher.close()


def test_the_http_helpers_report_errors_with_their_code(server: ServerProcess) -> None:
    with pytest.raises(sdk_http.HttpError) as wrong:
        sdk_http.login(server.http, unique_name("nobody"), "correct horse battery")
    assert (wrong.value.status, wrong.value.code) == (401, "unauthorized")
    login = _blocking_login(server)
    with pytest.raises(sdk_http.HttpError) as taken:
        sdk_http.register(server.http, unique_name("x"), "short")
    assert (taken.value.status, taken.value.field) == (400, "password")
    assert login["player_id"]


@pytest.mark.parametrize("blocking", [False, True])
async def test_a_client_that_keeps_no_events_hands_them_to_on_event_only(server: ServerProcess,
                                                                         blocking: bool) -> None:
    """A long-running client (a bot, Locust's user) must not grow with every event it is sent."""
    login = await register(server.http, unique_name("sdkk"))
    heard: list[dict[str, Any]] = []
    options: dict[str, Any] = {"token": login["access_token"], "on_event": heard.append, "max_kept_events": 0}
    if blocking:
        client = BlockingClient(server.ws, **options)
        await asyncio.to_thread(client.connect)
        await asyncio.to_thread(client.call, "evo.buy", {"count": 1})
        await asyncio.to_thread(client.call, "ping")  # the wallet event came before this reply
        with pytest.raises(RuntimeError):
            client.wait_event("wallet.updated", timeout=0.1)
        client.close()
    else:
        client = AsyncClient(server.ws, **options)
        await client.connect()
        await client.call("evo.buy", {"count": 1})
        await client.call("ping")
        with pytest.raises(RuntimeError):
            await client.wait_event("wallet.updated", timeout=0.1)
        await client.close()
    assert [e["data"] for e in heard if e["type"] == "wallet.updated"] == [BOUGHT]
    assert list(client.events) == [], "nothing kept"


@pytest.mark.parametrize("blocking", [False, True])
async def test_a_client_keeps_its_last_events_numbered_from_the_first(server: ServerProcess, blocking: bool) -> None:
    """By default a client keeps events for `wait_event`, but only the last `max_kept_events`: one that lives long
    holds a bounded number of frames, and `after=len(client.events)` still means "from the next one on"."""
    name = unique_name("sdkb")
    login = await register(server.http, name)
    sender, _ = await Client.open(server.ws, (await register(server.http, unique_name("sdkw")))["access_token"])
    options: dict[str, Any] = {"token": login["access_token"], "max_kept_events": 2}
    whispers = 4  # each sends the client one chat.message (within the chat's 10 messages in 10 s)

    async def whisper(text: str) -> None:
        await sender.call("chat.whisper", {"to": name, "text": text})

    if blocking:
        client = BlockingClient(server.ws, **options)
        await asyncio.to_thread(client.connect)
        for n in range(whispers):
            await whisper(f"w{n}")
        await asyncio.to_thread(client.wait_event, "chat.message", lambda d: d["text"] == f"w{whispers - 1}")
        mark = len(client.events)
        await whisper("last")
        latest = await asyncio.to_thread(client.wait_event, "chat.message", None, 10, mark)
        client.close()
    else:
        client = AsyncClient(server.ws, **options)
        await client.connect()
        for n in range(whispers):
            await whisper(f"w{n}")
        await client.wait_event("chat.message", lambda d: d["text"] == f"w{whispers - 1}")
        mark = len(client.events)
        await whisper("last")
        latest = await client.wait_event("chat.message", after=mark)
        await client.close()
    await sender.close()
    received = len(client.events)
    assert mark == whispers and received == whispers + 1, "numbered from the first event received, not the kept ones"
    assert latest["data"]["text"] == "last", latest
    assert [e["data"]["text"] for e in client.events] == [f"w{whispers - 1}", "last"], "only the last two kept"
    assert client.events.dropped == received - 2
    assert client.events.index(latest) == received - 1 and client.events[-1] is latest
    with pytest.raises(IndexError):
        client.events[0]  # dropped
