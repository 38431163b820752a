"""Helpers of the market and economy tests: quick players, the audit CLI, and a look at the stored trades.

The trade check reads the node's SQLite file directly (WAL: safe while the node runs), in one read transaction.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.support.client import Client, send_when_served, unique_name
from tests.support.servers import REPO, ServerProcess
from tests.support.wire import access_claims, forge_token
from valgame_client import http as sdk_http

TAX_PERCENT = 5
MARKET_ERRORS = {"not_found", "conflict", "forbidden", "insufficient_funds", "inventory_full"}


async def quick_login(node: ServerProcess, name: str | None = None) -> dict[str, Any]:
    """Register a player over HTTP; its access token is signed here with the nodes' shared secret, as any node would
    issue it, for 4 hours (the token the registration answers with lasts the node's 15 minutes)."""
    name = name or unique_name("m")
    request = sdk_http.register_request(name, f"{name}@example.test", "correct horse battery")
    async with httpx.AsyncClient(base_url=node.http, timeout=60) as http:
        response = await send_when_served(http, request)
    assert response.status_code == 201, response.text
    player_id = response.json()["player_id"]
    return {"player_id": player_id, "name": name,
            "access_token": forge_token(node.jwt_secret, access_claims(player_id, lifetime=4 * 3600))}


async def open_player(node: ServerProcess, login: dict[str, Any]) -> Client:
    client, _ = await Client.open(node.ws, login["access_token"])
    return client


def run_audit(data_dir: Path) -> tuple[int, dict[str, Any]]:
    """`python -m server admin audit --data-dir <dir>`: its exit code and its JSON report."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VALGAME_")}
    done = subprocess.run([sys.executable, "-m", "server", "admin", "audit", "--data-dir", str(data_dir),
                           "--log-level", "warning"], cwd=REPO, env=env, capture_output=True, timeout=60)
    try:
        report = orjson.loads(done.stdout)
    except orjson.JSONDecodeError:
        raise AssertionError(f"audit printed no JSON (exit {done.returncode}):\n{done.stdout!r}\n"
                             f"{done.stderr.decode()[-3000:]}") from None
    return done.returncode, report


def assert_audit_ok(data_dir: Path) -> dict[str, Any]:
    code, report = run_audit(data_dir)
    assert code == 0 and report["ok"] is True, report
    return report


@dataclass
class Snapshot:
    """The stored economy at one moment: players' states, ledger lines, listings and notifications."""

    players: dict[str, dict[str, Any]]
    ledger: list[dict[str, Any]]
    listings: dict[str, dict[str, Any]]
    notifications: list[dict[str, Any]]
    holders: dict[str, list[str]] = field(default_factory=dict)  # goods id -> where it is (player id or listing)

    def __post_init__(self) -> None:
        for player_id, state in self.players.items():
            for item in state["items"]:
                self.holders.setdefault(item["id"], []).append(player_id)
            for char in state["characters"]:
                self.holders.setdefault(char["id"], []).append(player_id)
                for item in char.get("equipment", {}).values():
                    self.holders.setdefault(item["id"], []).append(player_id)
        for listing_id, doc in self.listings.items():
            if doc["status"] == "active":
                self.holders.setdefault(goods_id(doc), []).append(listing_id)

    def ledger_of(self, player_id: str, reason: str | None = None, ref: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.ledger if e["player_id"] == player_id
                and (reason is None or e["reason"] == reason) and (ref is None or e["ref"] == ref)]

    def val(self, player_id: str) -> int:
        return int(self.players[player_id]["val"])

    def items_of(self, player_id: str) -> set[str]:
        state = self.players[player_id]
        free = {i["id"] for i in state["items"]}
        worn = {i["id"] for c in state["characters"] for i in c.get("equipment", {}).values()}
        return free | worn

    def characters_of(self, player_id: str) -> set[str]:
        return {c["id"] for c in self.players[player_id]["characters"]}


def snapshot(data_dir: Path) -> Snapshot:
    db = sqlite3.connect(data_dir / "valgame.db", timeout=30, isolation_level=None)
    try:
        db.execute("BEGIN")
        players = {r[0]: orjson.loads(r[1]) for r in db.execute("SELECT id, state FROM players")}
        ledger = [dict(zip(("player_id", "currency", "delta", "reason", "ref"), r, strict=True))
                  for r in db.execute("SELECT player_id, currency, delta, reason, ref FROM ledger ORDER BY seq")]
        listings = {r[0]: orjson.loads(r[1]) for r in db.execute("SELECT id, doc FROM listings")}
        notes = [dict(zip(("player_id", "kind", "data"), (r[0], r[1], orjson.loads(r[2])), strict=True))
                 for r in db.execute("SELECT player_id, kind, data FROM notifications")]
        db.execute("COMMIT")
    finally:
        db.close()
    return Snapshot(players, ledger, listings, notes)


def goods_id(listing: dict[str, Any]) -> str:
    return (listing.get("item") or listing.get("character"))["id"]


def _last_listing_problems(snap: Snapshot) -> list[str]:
    last: dict[str, dict[str, Any]] = {}
    for doc in snap.listings.values():
        goods = goods_id(doc)
        if goods not in last or doc["created_at"] > last[goods]["created_at"]:
            last[goods] = doc
    problems = []
    for goods, doc in last.items():
        where = snap.holders.get(goods, [])
        expected = {"sold": doc.get("buyer_id"), "active": doc["id"]}.get(doc["status"], doc["seller_id"])
        if where != [expected] and not (doc["kind"] == "consumable" and doc["status"] != "active" and where == []):
            problems.append(f"{doc['kind']} {goods}, last listed in {doc['id']} ({doc['status']}), is held by "
                            f"{where}, not {expected}")
    return problems


def trade_problems(snap: Snapshot) -> list[str]:
    """Every way a trade could be half done or counted twice, as readable lines (empty when all is well).

    - a sold listing has exactly one `market_buy` line (the buyer, -price) and one `market_sale` line (the seller,
      price less 5 % rounded down); any other listing has none;
    - a featured listing has exactly one `market_feature` line; others none; no market line points elsewhere;
    - the goods of every listing ever made are held exactly once now (a consumable at most once: it can be used up),
      and nothing at all is held twice;
    - goods are where their last listing left them: with its buyer (sold), its seller (cancelled, expired), or in
      the listing (active). Only the market moves goods between players, so this holds after any storm.
    """
    problems: list[str] = []
    market_lines: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for line in snap.ledger:
        if line["reason"] in ("market_buy", "market_sale", "market_feature"):
            market_lines.setdefault((line["ref"], line["reason"]), []).append(line)
    for listing_id, doc in snap.listings.items():
        price, seller = doc["price"], doc["seller_id"]
        buys = [(e["player_id"], e["delta"]) for e in market_lines.pop((listing_id, "market_buy"), [])]
        sales = [(e["player_id"], e["delta"]) for e in market_lines.pop((listing_id, "market_sale"), [])]
        features = [(e["player_id"], e["delta"]) for e in market_lines.pop((listing_id, "market_feature"), [])]
        if doc["status"] == "sold":
            if buys != [(doc.get("buyer_id"), -price)]:
                problems.append(f"{listing_id} sold to {doc.get('buyer_id')} for {price}: buyer lines {buys}")
            if sales != [(seller, price - price * TAX_PERCENT // 100)]:
                problems.append(f"{listing_id} sold for {price}: seller lines {sales}")
            if doc.get("buyer_id") == seller:
                problems.append(f"{listing_id} was bought by its own seller")
        elif buys or sales:
            problems.append(f"{listing_id} is {doc['status']} but has trade lines {buys} {sales}")
        expected_feature = [(seller, -100)] if doc.get("featured") else []
        if features != expected_feature:
            problems.append(f"{listing_id} featured={doc.get('featured')}: feature lines {features}")
        where = snap.holders.get(goods_id(doc), [])
        if doc["kind"] == "consumable" and doc["status"] != "active":
            if len(where) > 1:
                problems.append(f"{listing_id}: its {doc['kind']} is held by {where}")
        elif len(where) != 1:
            problems.append(f"{listing_id} ({doc['status']}): its {doc['kind']} is held by {where}")
        elif doc["status"] == "active" and where != [listing_id]:
            problems.append(f"{listing_id} is active but its goods are held by {where}")
    problems += _last_listing_problems(snap)
    for (ref, reason), lines in market_lines.items():
        problems.append(f"{reason} lines for unknown listing {ref}: {lines}")
    doubles = {goods: where for goods, where in snap.holders.items() if len(where) > 1}
    if doubles:
        problems.append(f"held twice: {dict(list(doubles.items())[:10])}")
    counts = Counter(e["player_id"] for e in snap.ledger)
    for player_id, state in snap.players.items():
        total = sum(e["delta"] for e in snap.ledger if e["player_id"] == player_id and e["currency"] == "VAL")
        if counts[player_id] and total != state["val"]:
            problems.append(f"{player_id}: VAL {state['val']} but ledger says {total}")
        if state["val"] < 0 or state["evo"] < 0:
            problems.append(f"{player_id}: negative balance {state['val']} VAL {state['evo']} EVO")
    return problems
