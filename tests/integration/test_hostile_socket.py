"""What a socket or an operator's request can make a node hold or say: a bounded number of topics per socket,
admin bodies refused with 400 (never 500), a kick reason that fits a close frame, no blank broadcasts."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.conftest import Connect
from tests.support.admin import make_admin
from tests.support.client import register, unique_name
from tests.support.servers import ServerProcess
from tests.support.wire import eventually


async def test_a_socket_follows_a_bounded_number_of_topics(make_server: Callable[..., ServerProcess],
                                                           connect: Connect) -> None:
    node = make_server(max_topics_per_socket=3)
    client, _ = await connect(node)
    for week in (1, 2, 3):
        assert (await client.request("sub.add", {"topic": f"ranking:points:2026-W0{week}"}))["ok"]
    refused = await client.request("sub.add", {"topic": "ranking:points:2026-W04"})
    assert not refused["ok"] and refused["error"]["code"] == "bad_request", refused
    assert refused["error"]["field"] == "data.topic"
    assert (await client.request("sub.add", {"topic": "ranking:points:2026-W01"}))["ok"]  # already followed
    assert (await client.request("sub.remove", {"topic": "ranking:points:2026-W01"}))["ok"]
    assert (await client.request("sub.add", {"topic": "ranking:points:2026-W04"}))["ok"]  # room again
    assert client.close_code is None


async def test_admin_bodies_that_are_not_json_or_blank_are_400(server: ServerProcess) -> None:
    _, token = make_admin(server)
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=server.http) as http:
        for path in ("/admin/broadcast", "/admin/kick", "/admin/drain"):
            response = await http.post(path, content=b"{not json", headers=headers)
            assert response.status_code == 400, (path, response.text)
            assert "Traceback" not in response.text
        for message in ("", "   ", "\n\t"):
            blank = await http.post("/admin/broadcast", json={"message": message}, headers=headers)
            assert blank.status_code == 400, (message, blank.text)
            assert blank.json()["error"]["field"] == "message"


async def test_a_kick_reason_of_multibyte_characters_still_closes_with_4003(server: ServerProcess,
                                                                             connect: Connect) -> None:
    _, token = make_admin(server)
    login = await register(server.http, unique_name("kicked"))
    victim, _ = await connect(server, login)
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.post("/admin/kick", json={"player": login["name"], "reason": "é" * 100},
                                   headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text

    async def closed() -> bool:
        return victim.close_code is not None

    await eventually(closed, 10, "the kicked socket to close")
    assert victim.close_code == 4003
    reason = victim.close_reason
    assert 0 < len(reason.encode()) <= 123 and set(reason) == {"é"}
