"""HTTP bodies are validated by the protocol's schemas (protocol/bodies.py), the same `validate` as frames: the
`/admin/*` bodies are the data of the `ops.*` commands, refused with 400 naming the field as the socket would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from protocol import COMMANDS
from protocol.bodies import BODIES
from tests.support.client import register, unique_name
from tests.support.servers import ServerProcess

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
async def admin_token(server: ServerProcess) -> str:
    """An operator made with `valgame admin create-admin`, logged in after the role was given."""
    name = unique_name("ops")
    await register(server.http, name)
    server.create_admin(name)
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.post("/auth/login", json={"username": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
async def admin(server: ServerProcess, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http, headers={"Authorization": f"Bearer {admin_token}"}) as http:
        yield http


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_admin_bodies_are_the_ops_commands_data() -> None:
    for path, command in [("/admin/broadcast", "ops.broadcast"), ("/admin/kick", "ops.kick"),
                          ("/admin/drain", "ops.drain")]:
        assert BODIES[path].fields == COMMANDS[command].fields


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/admin/broadcast", {"message": "x" * 501}, "message"),  # the socket's limit (it used to be cut to 500)
    ("/admin/broadcast", {"message": ""}, "message"),
    ("/admin/broadcast", {}, "message"),
    ("/admin/broadcast", {"message": "hi", "to": 7}, "to"),
    ("/admin/kick", {"reason": "spam"}, "player"),
    ("/admin/kick", {"player": "x", "why": "spam"}, "why"),
    ("/admin/drain", {"node": "n" * 65}, "node"),
])
async def test_admin_bodies_are_refused_by_the_schema_naming_the_field(
        admin: httpx.AsyncClient, path: str, body: dict[str, Any], field: str) -> None:
    error = error_of(await admin.post(path, json=body), 400)
    assert (error["code"], error["field"]) == ("bad_request", field), error


async def test_an_admin_body_that_is_not_json_is_a_400(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/admin/kick", content=b"{nope", headers={"content-type": "application/json"})
    assert error_of(response, 400)["code"] == "bad_request"


async def test_an_unknown_player_names_the_body_s_field_without_the_frame_prefix(admin: httpx.AsyncClient) -> None:
    error = error_of(await admin.post("/admin/kick", json={"player": unique_name("ghost")}), 404)
    assert (error["code"], error["field"]) == ("not_found", "player"), error


async def test_a_valid_admin_body_is_carried_out(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/admin/broadcast", json={"message": "hello", "key": unique_name("k")})
    assert response.status_code == 200, response.text
    assert response.json()["duplicate"] is False


async def test_register_still_strips_and_lowers_the_email(server: ServerProcess) -> None:
    name = unique_name("mail")
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.post("/auth/register", json={"username": name, "email": f"  {name.upper()}@Example.TEST ",
                                                           "password": PASSWORD})
        assert response.status_code == 201, response.text
        taken = await http.post("/auth/register", json={"username": unique_name("mail"),
                                                        "email": f"{name}@example.test", "password": PASSWORD})
    # Taken: the stored address is the stripped, lower-cased one (the answer does not say which field is taken).
    assert error_of(taken, 409)["message"] == "username or email taken"
