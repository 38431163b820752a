"""Rankings after wins, on a node of its own so the boards hold exactly this test's players: top, me, around, the
weekly board, the level and wealth boards, live updates to subscribers and `GET /api/rankings/global`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from tests.conftest import Connect
from tests.support.game import MANY_COMMANDS, first_character, player, win


def board_rows(entries: list[dict[str, Any]]) -> list[tuple[int, str, str, int]]:
    return [(e["rank"], e["player"], e["name"], e["score"]) for e in entries]


async def test_rankings_after_wins(make_server: Any, connect: Connect) -> None:
    node = make_server(game={"auto_round_delay_seconds": 0}, **MANY_COMMANDS)
    (ana, ana_auth), (bo, bo_auth), (cy, cy_auth) = [await connect(node) for _ in range(3)]
    ids = {name: auth["player"]["id"] for name, auth in (("ana", ana_auth), ("bo", bo_auth), ("cy", cy_auth))}
    names = {name: auth["player"]["name"] for name, auth in (("ana", ana_auth), ("bo", bo_auth), ("cy", cy_auth))}
    await cy.call("sub.add", {"topic": "ranking:points"})

    ana_hero = (await first_character(ana))["id"]
    await win(ana, [ana_hero])
    await win(ana, [ana_hero])
    mark = len(cy.events)
    await win(bo, [(await first_character(bo))["id"]])
    update = await cy.wait_event("ranking.updated", lambda d: d["player"] == ids["bo"], after=mark)
    assert update["topic"] == "ranking:points"
    assert update["data"] == {"board": "points", "player": ids["bo"], "name": names["bo"], "score": 10}

    expected = [(1, ids["ana"], names["ana"], 20), (2, ids["bo"], names["bo"], 10), (3, ids["cy"], names["cy"], 0)]
    week = "points:{}-W{:02d}".format(*datetime.now(UTC).isocalendar()[:2])
    for board in ("points", week):
        top = await cy.call("ranking.top", {"board": board, "limit": 10})
        assert top["board"] == board and board_rows(top["entries"]) == expected, board
        assert board_rows((await cy.call("ranking.top", {"board": board, "limit": 1}))["entries"]) == expected[:1]
        for client, row in ((ana, expected[0]), (bo, expected[1]), (cy, expected[2])):
            assert await client.call("ranking.me", {"board": board}) == {"board": board, "rank": row[0],
                                                                         "score": row[3]}
        around = await bo.call("ranking.around", {"board": board, "radius": 1})
        assert board_rows(around["entries"]) == expected
        around = await ana.call("ranking.around", {"board": board, "radius": 1})
        assert board_rows(around["entries"]) == expected[:2]
    assert await ana.call("ranking.me", {"board": "points:2001-W01"}) == {
        "board": "points:2001-W01", "rank": None, "score": 0}

    level = board_rows((await ana.call("ranking.top", {"board": "level"}))["entries"])
    assert level[0] == (1, ids["ana"], names["ana"], 2)  # two cave wins: 100 XP, level 2
    assert sorted(row[3] for row in level[1:]) == [1, 1]
    vals = {name: (await player(client))["val"] for name, client in (("ana", ana), ("bo", bo), ("cy", cy))}
    wealth = board_rows((await ana.call("ranking.top", {"board": "wealth"}))["entries"])
    assert {row[1]: row[3] for row in wealth} == {ids[name]: val for name, val in vals.items()}
    assert [row[3] for row in wealth] == sorted(vals.values(), reverse=True)
    assert (await ana.expect_error("ranking.top", {"board": "fame"}))["code"] == "bad_request"
    assert (await ana.expect_error("ranking.top", {"board": "points", "limit": 101}))["code"] == "bad_request"

    async with httpx.AsyncClient(base_url=node.http) as http:
        response = await http.get("/api/rankings/global")
        assert response.status_code == 200, response.text
        assert board_rows(response.json()["entries"]) == expected
        response = await http.get("/api/rankings/global", params={"board": week, "limit": 2})
        assert response.status_code == 200 and board_rows(response.json()["entries"]) == expected[:2]
        response = await http.get("/api/rankings/global", params={"board": "fame"})
        assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"
