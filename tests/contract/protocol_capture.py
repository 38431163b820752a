"""Capture every documented message from real nodes: the examples of docs/PROTOCOL.md cannot lie.

One scenario plays every command and provokes every event on real `valgame serve` processes (a second node with
short wound and listing lifetimes gives `character.lost` and `market.expired`), records each request with its reply
and the first frame of each event, and normalizes what differs from run to run: ids become `c_1`, `p_2`...,
tokens and cursors become `<...>`, timestamps become seconds after a fixed epoch. The result is
protocol/examples.json, which protocol/docs.py renders into PROTOCOL.md and the AsyncAPI document.

    PYTHONPATH=$PWD python3 -m tests.contract.protocol_capture    # rewrite protocol/examples.json
    PYTHONPATH=$PWD python3 -m server docs                        # then render the docs from it

tests/contract/test_protocol_examples.py runs the same scenario and fails when a reply's shape (its keys, at every
depth, and their JSON types) differs from the committed examples.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.support.client import Client
from tests.support.game import CAVE, damage_to, fight_out, lose, win
from tests.support.servers import REPO, ServerProcess

EXAMPLES = REPO / "protocol" / "examples.json"
PASSWORD = "correct horse battery"
EPOCH = 1764400000.0  # normalized timestamps are seconds after this (2025-11-29 07:06:40 UTC)
# node settings: the scenario plays many rounds in a row, faster than the default 30 commands/s
NODE = {"rate_per_second": 2000, "rate_burst": 2000}
# the second node: wounds and listings run out within seconds, and its jobs look every 0.2 s
FAST_GAME = {"wound_loss_seconds": 1, "market_listing_seconds": 1}
FAST_NODE = {**NODE, "sweep_interval_seconds": 0.2, "expiry_interval_seconds": 0.2}

_ID = re.compile(r"\b([a-zA-Z])_[0-9a-f]{16}\b")
_NODE_ID = re.compile(r"\bnode-[0-9a-f]{6}\b")
_TIME_KEYS = re.compile(r"(^|_)at$|^server_time$|^deadline$")
_SECRET_KEYS = {"access_token": "<access token>", "refresh_token": "<refresh token>", "token": "<access token>"}
_CURSOR_KEYS = {"next": "<cursor>", "cursor": "<cursor>"}


# Which of several events of a type the docs show, so that every capture shows the same kind: a won fight (not a
# flight), a sale (a level-up notification comes first in some runs and not in others).
PREFERRED = {"combat.ended": lambda data: data["outcome"] == "win",
             "notification.new": lambda data: data["kind"] == "sale"}


def preferred(event: dict[str, Any]) -> bool:
    check = PREFERRED.get(event["type"])
    return check is None or check(event["data"])


class Normalizer:
    """Replaces what differs between runs, the same way for every frame of one capture (one id, one name)."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.names: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    def _id(self, match: re.Match[str]) -> str:
        raw = match.group(0)
        if raw not in self.names:
            prefix = match.group(1) if match.lastindex else "node"
            self.counts[prefix] = self.counts.get(prefix, 0) + 1
            sep = "-" if prefix == "node" else "_"
            self.names[raw] = f"{prefix}{sep}{self.counts[prefix]}"
        return self.names[raw]

    def text(self, value: str) -> str:
        return _NODE_ID.sub(self._id, _ID.sub(self._id, value))

    def __call__(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {self.text(str(k)): self(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v, key) for v in value]
        if isinstance(value, str):
            if key in _SECRET_KEYS:
                return _SECRET_KEYS[key]
            if key in _CURSOR_KEYS:
                return _CURSOR_KEYS[key]
            return self.text(value)
        if isinstance(value, float | int) and not isinstance(value, bool) and _TIME_KEYS.search(key) \
                and value > 1e9:
            return EPOCH + round(value - self.started)
        return value


class Capture:
    """Records requests with their replies, HTTP exchanges and the first frame of each event type."""

    def __init__(self) -> None:
        self.commands: dict[str, dict[str, Any]] = {}
        self.http: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, dict[str, Any]] = {}
        self.clients: list[Client] = []
        self.started = time.time()

    async def post(self, node: ServerProcess, path: str, body: dict[str, Any], *, name: str | None = None,
                   headers: dict[str, str] | None = None) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=node.http, timeout=30) as http:
            response = await http.post(path, json=body, headers=headers or {})
        answer = response.json()
        key = name or path
        if key not in self.http:
            self.http[key] = {"method": "POST", "path": path, "request": body, "status": response.status_code,
                              "response": answer}
        return answer

    async def open(self, node: ServerProcess, login: dict[str, Any]) -> Client:
        client = await Client.connect(node.ws)
        self.clients.append(client)
        await self.call(client, "auth", {"token": login["access_token"]})
        return client

    async def call(self, client: Client, type: str, data: dict[str, Any] | None = None, *,
                   idem: str | None = None, ok: bool = True) -> dict[str, Any]:
        """Send one command, record it (the first time this type is sent) and return the reply's data."""
        request: dict[str, Any] = {"id": None, "type": type, "data": data or {}}
        reply = await client.request(type, data, idem=idem)
        request["id"] = reply["id"]
        if idem is not None:
            request["idem"] = idem
        assert reply["ok"] is ok, reply
        if type not in self.commands:
            self.commands[type] = {"request": request, "reply": reply}
        return reply.get("data") or {}

    async def refused(self, client: Client, name: str, type: str, data: dict[str, Any]) -> dict[str, Any]:
        """Record a refusal, to show what an error reply looks like."""
        reply = await client.request(type, data)
        assert reply["ok"] is False, reply
        self.errors[name] = {"request": {"id": reply["id"], "type": type, "data": data}, "reply": reply}
        return reply["error"]

    def result(self) -> dict[str, Any]:
        """Everything recorded, normalized; events in the order of protocol/messages.py."""
        from protocol import COMMANDS, EVENTS

        events: dict[str, Any] = {}
        for client in self.clients:
            for event in client.events:
                better = event["type"] in events and not preferred(events[event["type"]]) and preferred(event)
                if event["type"] not in events or better:
                    events[event["type"]] = event
        normalize = Normalizer(self.started)
        out: dict[str, Any] = {"http": {}, "commands": {}, "events": {}, "errors": {}}
        for key, exchange in self.http.items():
            out["http"][key] = normalize(exchange)
        for type in COMMANDS:
            if type in self.commands:
                out["commands"][type] = normalize(self.commands[type])
        for type in EVENTS:
            if type in events:
                out["events"][type] = normalize(events[type])
        for key, exchange in self.errors.items():
            out["errors"][key] = normalize(exchange)
        return out


async def account(cap: Capture, node: ServerProcess, name: str) -> dict[str, Any]:
    await cap.post(node, "/auth/register", {"username": name, "email": f"{name}@example.test", "password": PASSWORD})
    return await cap.post(node, "/auth/login", {"username": name, "password": PASSWORD})


async def first_five_minutes(cap: Capture, node: ServerProcess) -> tuple[Client, dict[str, Any]]:
    """A newcomer's first steps: register, log in, open the socket, see the kit, find ids, fight once."""
    login = await account(cap, node, "ana")
    ana = await cap.open(node, login)
    await cap.call(ana, "state.get")
    await cap.call(ana, "catalog.get")
    await cap.call(ana, "character.list")
    await cap.call(ana, "inventory.get")
    await cap.call(ana, "energy.get")
    return ana, login


async def play_characters(cap: Capture, ana: Client) -> str:
    """Equipment, items, healing, reviving, evolving and the shop, on the starting character."""
    hero = (await ana.call("character.list"))["characters"][0]["id"]
    items = (await ana.call("inventory.get"))["items"]
    dagger = next(i["id"] for i in items if i["code"] == "daga-oxidada")
    potion = next(i["id"] for i in items if i["code"] == "pocion-vida-menor")
    await cap.call(ana, "character.equip", {"character": hero, "item": dagger}, idem="equip-1")
    await cap.call(ana, "character.unequip", {"character": hero, "slot": "weapon"})
    await ana.call("character.equip", {"character": hero, "item": dagger})
    await damage_to(ana, hero, 12)
    await cap.call(ana, "item.use", {"item": potion, "character": hero})
    await damage_to(ana, hero, 15)
    await cap.call(ana, "character.heal", {"character": hero}, idem="heal-1")
    await cap.call(ana, "character.evolve", {"character": hero}, ok=False)  # a new character is level 1
    return hero


async def play_combat(cap: Capture, ana: Client, hero: str) -> None:
    await ana.call("sub.add", {"topic": "ranking:points"})  # a win moves the board: ranking.updated
    combat = (await cap.call(ana, "combat.start", {"dungeon": CAVE, "team": [hero], "mode": "manual"},
                             idem="fight-1"))["combat"]
    await cap.call(ana, "combat.state")
    await cap.call(ana, "combat.action", {"combat": combat, "action": "attack"})
    ended = await fight_out(ana, combat)
    if ended["outcome"] != "win":
        await win(ana, [hero], mode="manual")
    for _ in range(10):  # an EVO crystal costs 100 VAL: win until the wallet holds that
        if (await ana.call("state.get"))["player"]["val"] >= 100:
            break
        await win(ana, [hero], mode="manual")
    await cap.call(ana, "evo.buy", {"count": 1}, idem="evo-1")
    await cap.refused(ana, "not_found", "combat.start", {"dungeon": "no-such-dungeon", "team": [hero]})
    await cap.refused(ana, "bad_request", "combat.start", {"dungeon": CAVE, "team": []})


async def play_social(cap: Capture, node: ServerProcess, ana: Client) -> tuple[Client, dict[str, Any]]:
    """Rankings, chat, the market between two players, notifications."""
    await cap.call(ana, "ranking.top", {"board": "points", "limit": 3})
    await cap.call(ana, "ranking.me", {"board": "points"})
    await cap.call(ana, "ranking.around", {"board": "points", "radius": 1})

    bo_login = await account(cap, node, "bob")
    bo = await cap.open(node, bo_login)
    for client in (ana, bo):
        await cap.call(client, "sub.add", {"topic": "chat:global"})
        await cap.call(client, "sub.add", {"topic": "market"})
    for digest in ("market:digest", "chat:global:digest"):  # for the digests' examples: one event each
        await bo.call("sub.add", {"topic": digest})
    await cap.call(ana, "chat.send", {"text": "anyone for the goblin cave?"})
    await bo.wait_event("chat.digest", lambda d: any(e["data"]["text"] == "anyone for the goblin cave?"
                                                     for e in d["events"]))
    await cap.call(ana, "chat.whisper", {"to": "bob", "text": "gg"})
    await bo.wait_event("chat.message", lambda d: d.get("channel") != "global" and d.get("text") == "gg")
    await cap.call(bo, "chat.history", {"limit": 2})

    potions = [i["id"] for i in (await ana.call("inventory.get"))["items"] if i["code"] == "pocion-vida-menor"]
    listing = (await cap.call(ana, "market.list", {"item": potions[0], "price": 10}, idem="list-1"))["listing"]
    await bo.wait_event("market.listed", lambda d: d["id"] == listing)
    await bo.wait_event("market.digest", lambda d: any(e["data"].get("id") == listing for e in d["events"]))
    await cap.call(bo, "market.browse", {"kind": "consumable", "sort": "price", "limit": 1})
    await cap.call(ana, "market.mine")
    await cap.call(bo, "market.buy", {"listing": listing}, idem="buy-1")
    await ana.wait_event("market.sold", lambda d: d["listing"] == listing)
    await ana.wait_event("notification.new", lambda d: d["kind"] == "sale")
    second = (await ana.call("market.list", {"item": potions[1], "price": 12}))["listing"]
    await cap.call(ana, "market.cancel", {"listing": second}, idem="cancel-1")
    await ana.wait_event("market.cancelled", lambda d: d["listing"] == second)
    await cap.call(ana, "notification.list", {"unread_only": True})
    await cap.call(ana, "notification.read", {})
    await cap.call(ana, "sub.remove", {"topic": "market"})
    await cap.call(ana, "ping", {"echo": "hi"})
    return bo, bo_login


async def play_ops(cap: Capture, node: ServerProcess, bo: Client) -> None:
    """An operator's commands; the node is drained last."""
    await account(cap, node, "warden")
    node.create_admin("warden")
    ops_login = await cap.post(node, "/auth/login", {"username": "warden", "password": PASSWORD}, name="login-ops")
    ops = await cap.open(node, ops_login)
    await cap.call(ops, "ops.stats")
    await cap.call(ops, "ops.broadcast", {"message": "Restart in 5 minutes", "key": "restart-1"})
    await bo.wait_event("ops.announcement")
    await cap.call(ops, "ops.kick", {"player": "bob", "reason": "capture"})
    await bo.wait_closed()
    await cap.call(ops, "ops.drain", {})


async def play_timers(cap: Capture, node: ServerProcess) -> None:
    """On the second node: a listing expires and a wounded character is lost."""
    login = await account(cap, node, "cid")
    cy = await cap.open(node, login)
    await cy.call("sub.add", {"topic": "market"})
    items = (await cy.call("inventory.get"))["items"]
    potion = next(i["id"] for i in items if i["code"] == "pocion-vida-menor")
    listing = (await cy.call("market.list", {"item": potion, "price": 10}))["listing"]
    await cy.wait_event("market.expired", lambda d: d["listing"] == listing)
    hero = (await cy.call("character.list"))["characters"][0]["id"]
    await lose(cy, hero)
    await cap.call(cy, "character.revive", {"character": hero})
    await lose(cy, hero)
    await cy.wait_event("character.lost")
    await cy.close()


async def capture(workdir: Path) -> dict[str, Any]:
    cap = Capture()
    node = ServerProcess(workdir / "node", **NODE).start()
    timers = ServerProcess(workdir / "timers", game=FAST_GAME, **FAST_NODE).start()
    try:
        ana, login = await first_five_minutes(cap, node)
        hero = await play_characters(cap, ana)
        await play_combat(cap, ana, hero)
        bo, _ = await play_social(cap, node, ana)
        await cap.post(node, "/auth/refresh", {"refresh_token": login["refresh_token"]})
        fresh = await cap.post(node, "/auth/login", {"username": "ana", "password": PASSWORD}, name="login-again")
        await cap.post(node, "/auth/logout", {"refresh_token": fresh["refresh_token"]},
                       headers={"Authorization": f"Bearer {fresh['access_token']}"})
        await cap.post(node, "/auth/register", {"username": "ana", "email": "ana2@example.test",
                                                "password": PASSWORD}, name="register-taken")
        await cap.post(node, "/auth/register", {"username": "Ana!", "email": "x@example.test",
                                                "password": PASSWORD}, name="register-invalid")
        await play_timers(cap, timers)
        await play_ops(cap, node, bo)
        # ops.drain closes every socket with 1012: wait for it, so no event is half recorded
        for client in cap.clients:
            await client.wait_closed()
        return cap.result()
    finally:
        for client in cap.clients:
            await client.close()
        timers.kill()
        node.kill()


_NORMALIZED_ID = re.compile(r"^([a-zA-Z]_|node-)\d+$")


def _is_map_of_ids(value: dict[str, Any]) -> bool:
    """A dict keyed by ids (`team_hp`, `xp`, ops.stats' `nodes`): which keys it has depends on the play."""
    return bool(value) and all(_NORMALIZED_ID.match(k) for k in value)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}[type(value)]


def shape_differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where two captures differ in shape: keys missing or extra at any depth, or a JSON type that changed.

    Values may differ (damage rolls, times); so may what varies with the play: null beside a value (a field that
    is sometimes empty), an empty list beside a full one, the keys of a map keyed by ids."""
    if expected is None or actual is None:
        return []
    if _kind(expected) != _kind(actual):
        return [f"{path or '.'}: {_kind(expected)} in the examples, {_kind(actual)} from the node"]
    if isinstance(expected, list):
        return shape_differences(expected[0], actual[0], f"{path}[0]") if expected and actual else []
    if not isinstance(expected, dict):
        return []
    if _is_map_of_ids(expected) or _is_map_of_ids(actual) or (not expected and not actual):
        samples = [*expected.values()][:1], [*actual.values()][:1]
        return shape_differences(samples[0][0], samples[1][0], f"{path}.<id>") if all(samples) else []
    out = [f"{path}.{k}: sent by the node, missing from the examples" for k in actual if k not in expected]
    out += [f"{path}.{k}: in the examples, no longer sent by the node" for k in expected if k not in actual]
    for key in sorted(expected.keys() & actual.keys()):
        out += shape_differences(expected[key], actual[key], f"{path}.{key}")
    return out


def run_capture() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="valgame-capture-") as workdir:
        return asyncio.run(capture(Path(workdir)))


def dump(examples: dict[str, Any]) -> str:
    return orjson.dumps(examples, option=orjson.OPT_INDENT_2).decode() + "\n"


if __name__ == "__main__":
    EXAMPLES.write_text(dump(run_capture()))
    print(f"wrote {EXAMPLES}; now run `python -m server docs`")
