"""The game's read-only REST beside the socket: `GET /api/dungeons` and `GET /api/characters`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import Connect
from tests.support.game import first_character, new_login
from tests.support.servers import ServerProcess

DUNGEONS = [  # code, min level, HP, ATK, DEF, team miss, monster miss, XP base, VAL base, drops, recruit chance
    ("cueva-goblins", 1, 40, 8, 3, 0.10, 0.30, 50, 10,
     [("pocion-vida-menor", 0.30), ("daga-oxidada", 0.10)], 0.05),
    ("bosque-maldito", 10, 200, 30, 20, 0.15, 0.25, 150, 25,
     [("espada-de-acero", 0.08), ("pan-de-campo", 0.20)], 0.06),
    ("fortaleza-caballero-negro", 20, 800, 50, 45, 0.20, 0.20, 350, 50,
     [("pergamino-de-sabiduria", 0.10), ("espada-de-acero", 0.10)], 0.07),
    ("templo-dragon-ancestral", 30, 1500, 80, 70, 0.25, 0.15, 750, 100,
     [("katana-del-dragon", 0.04), ("elixir-de-resurreccion", 0.05)], 0.08),
    ("abismo-caos-eterno", 50, 3000, 120, 100, 0.30, 0.10, 2000, 250,
     [("guadana-del-caos", 0.02), ("anillo-del-fenix", 0.01), ("tomo-ancestral", 0.03)], 0.10),
]


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http) as client:
        yield client


async def test_dungeons_lists_the_five_dungeons_with_the_spec_numbers(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/dungeons")
    assert response.status_code == 200, response.text
    listed = [(d["code"], d["min_level"], d["hp"], d["atk"], d["def"], d["team_miss"], d["monster_miss"],
               d["xp_base"], d["val_base"], [(x["code"], x["chance"]) for x in d["drops"]], d["recruit_chance"])
              for d in response.json()["dungeons"]]
    assert listed == DUNGEONS


async def test_characters_needs_a_bearer_token_and_lists_only_own_characters(
        server: ServerProcess, http: httpx.AsyncClient, connect: Connect) -> None:
    login = await new_login(server)
    client, _ = await connect(server, login)
    hero = await first_character(client)
    other, _ = await connect(server)
    foreign = await first_character(other)

    response = await http.get("/api/characters", headers={"Authorization": f"Bearer {login['access_token']}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 1 and body["next_offset"] is None
    assert [c["id"] for c in body["characters"]] == [hero["id"]]
    listed = body["characters"][0]
    assert {k: listed[k] for k in ("base", "rank", "level", "hp", "hp_max", "atk", "def", "wounded")} == {
        "base": "vision-espectral", "rank": "D", "level": 1, "hp": 20, "hp_max": 20, "atk": 10, "def": 5,
        "wounded": False}
    assert foreign["id"] not in [c["id"] for c in body["characters"]]

    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": login["access_token"]}):
        response = await http.get("/api/characters", headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["error"]["code"] == "unauthorized"
