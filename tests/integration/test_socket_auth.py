"""The socket's first frame: a valid `auth` gets the session summary; anything else closes the socket with 4001."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from tests.support.client import Client, register, unique_name
from tests.support.servers import ServerProcess
from tests.support.wire import (
    access_claims,
    auth_frame,
    b64url,
    b64url_decode,
    forge_token,
    open_raw,
    read_until_closed,
    unsigned_token,
)

NOT_AUTHENTICATED = 4001


@pytest.fixture(scope="module")
async def login(server: ServerProcess) -> dict[str, Any]:
    """One player for the module; every test closes the sockets it opens."""
    return await register(server.http, unique_name("s"))


async def first_frame_closes(node: ServerProcess, first: str | bytes) -> tuple[int | None, list[Any]]:
    """Open a socket, send `first`, and read until the server closes it."""
    conn = await open_raw(node.ws)
    try:
        await conn.send(first)
        return await read_until_closed(conn)
    finally:
        await conn.close()


def assert_refused(result: tuple[int | None, list[Any]]) -> None:
    code, frames = result
    assert code == NOT_AUTHENTICATED, (code, frames)
    assert not any(isinstance(f, dict) and f.get("ok") is True for f in frames), frames


async def test_auth_reply_carries_the_session_summary(server: ServerProcess, login: dict[str, Any]) -> None:
    conn = await open_raw(server.ws)
    try:
        await conn.send(auth_frame(login["access_token"], frame_id="a1"))
        reply = orjson.loads(await asyncio.wait_for(conn.recv(), 10))
    finally:
        await conn.close()
    assert reply["id"] == "a1" and reply["type"] == "auth" and reply["ok"] is True, reply
    data = reply["data"]
    player = data["player"]
    assert player["id"] == login["player_id"]
    assert player["name"] == login["name"]
    for key in ("val", "evo", "energy", "energy_max"):
        assert isinstance(player[key], int), (key, player)
    assert isinstance(data["session"], str) and data["session"]
    assert isinstance(data["node"], str) and data["node"]
    assert data["protocol"] == 1
    assert abs(data["server_time"] - time.time()) < 60
    assert isinstance(data["seq"], int) and data["seq"] >= 0
    assert "resumed" not in data  # only for a resume


async def test_each_connection_gets_its_own_session(server: ServerProcess, login: dict[str, Any]) -> None:
    first, one = await Client.open(server.ws, login["access_token"])
    second, two = await Client.open(server.ws, login["access_token"])
    try:
        assert one["session"] != two["session"]
        assert one["node"] == two["node"]
    finally:
        await first.close()
        await second.close()



async def test_the_summary_shows_the_role_the_connection_acts_with(server: ServerProcess) -> None:
    """An operator promoted while connected acts as a player on the sockets it had (the role is read when a socket
    authenticates), and its summary says so; a new socket acts, and shows, as an operator."""
    login = await register(server.http, unique_name("r"))
    before, reply = await Client.open(server.ws, login["access_token"])
    try:
        assert reply["player"]["role"] == "player"
        server.create_admin(login["name"])
        assert (await before.call("state.get"))["player"]["role"] == "player"
        assert (await before.expect_error("ops.stats"))["code"] == "forbidden"
        after, reply = await Client.open(server.ws, login["access_token"])
        try:
            assert reply["player"]["role"] == "admin"
            assert (await after.call("state.get"))["player"]["role"] == "admin"
            assert "nodes" in await after.call("ops.stats")
        finally:
            await after.close()
    finally:
        await before.close()

async def test_no_first_frame_within_the_timeout_closes_with_4001(
        make_server: Callable[..., ServerProcess]) -> None:
    node = make_server(auth_timeout_seconds=0.5)
    conn = await open_raw(node.ws)
    try:
        code, frames = await read_until_closed(conn, timeout=10)
    finally:
        await conn.close()
    assert code == NOT_AUTHENTICATED, (code, frames)
    assert frames == []


@pytest.mark.parametrize("first", [
    orjson.dumps({"id": 1, "type": "ping", "data": {}}).decode(),  # a command before auth
    orjson.dumps({"id": 1, "type": "state.get"}).decode(),
    '{"id": 1, "type": "auth", "data": {"token": ',  # malformed JSON
    "not json at all",
    "[]",
    orjson.dumps({"id": 1, "type": "auth", "data": {}}).decode(),  # no token
    orjson.dumps({"id": 1, "type": "auth", "data": {"token": 42}}).decode(),  # mistyped token
    orjson.dumps({"id": 1, "type": "nope", "data": {}}).decode(),  # unknown type
])
async def test_a_first_frame_that_is_not_a_valid_auth_closes_with_4001(server: ServerProcess, first: str) -> None:
    assert_refused(await first_frame_closes(server, first))


@pytest.mark.parametrize("token", ["garbage", "", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", "x" * 4096])
async def test_a_garbage_token_closes_with_4001(server: ServerProcess, token: str) -> None:
    assert_refused(await first_frame_closes(server, auth_frame(token)))


async def test_a_token_made_with_the_servers_secret_is_accepted(server: ServerProcess,
                                                                login: dict[str, Any]) -> None:
    """The control for the forged-token tests below: the forging itself is right."""
    token = forge_token(server.jwt_secret, access_claims(login["player_id"]))
    client, reply = await Client.open(server.ws, token)
    try:
        assert reply["player"]["id"] == login["player_id"]
    finally:
        await client.close()


async def test_an_expired_token_closes_with_4001(server: ServerProcess, login: dict[str, Any]) -> None:
    claims = access_claims(login["player_id"], now=time.time() - 7200, lifetime=3600)
    assert_refused(await first_frame_closes(server, auth_frame(forge_token(server.jwt_secret, claims))))


async def test_a_token_signed_with_another_secret_closes_with_4001(server: ServerProcess,
                                                                   login: dict[str, Any]) -> None:
    token = forge_token("another-secret-" + "y" * 40, access_claims(login["player_id"]))
    assert_refused(await first_frame_closes(server, auth_frame(token)))


def _flip(text: str, index: int) -> str:
    char = text[index]
    return text[:index] + ("B" if char != "B" else "C") + text[index + 1:]


async def test_a_token_with_a_tampered_signature_closes_with_4001(server: ServerProcess,
                                                                  login: dict[str, Any]) -> None:
    header, payload, signature = login["access_token"].split(".")
    tampered = f"{header}.{payload}.{_flip(signature, len(signature) // 2)}"
    assert_refused(await first_frame_closes(server, auth_frame(tampered)))


async def test_a_token_with_a_tampered_payload_closes_with_4001(server: ServerProcess,
                                                                login: dict[str, Any]) -> None:
    """Another player's id (or an admin role) spliced into a genuine token: the signature no longer matches."""
    victim = await register(server.http, unique_name("v"))
    header, payload, signature = login["access_token"].split(".")
    claims = orjson.loads(b64url_decode(payload))
    for change in ({"sub": victim["player_id"]}, {"role": "admin"}):
        forged = f"{header}.{b64url(orjson.dumps({**claims, **change}))}.{signature}"
        assert_refused(await first_frame_closes(server, auth_frame(forged)))
    flipped = f"{header}.{_flip(payload, len(payload) // 2)}.{signature}"
    assert_refused(await first_frame_closes(server, auth_frame(flipped)))


async def test_an_alg_none_token_closes_with_4001(server: ServerProcess, login: dict[str, Any]) -> None:
    token = unsigned_token(access_claims(login["player_id"]))
    assert_refused(await first_frame_closes(server, auth_frame(token)))
    # Also with a signature-shaped tail, and with "None" spelled differently.
    header = b64url(orjson.dumps({"alg": "None", "typ": "JWT"}))
    payload = b64url(orjson.dumps(access_claims(login["player_id"])))
    assert_refused(await first_frame_closes(server, auth_frame(f"{header}.{payload}.c2ln")))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_another_algorithm_with_the_right_secret_closes_with_4001(server: ServerProcess,
                                                                        login: dict[str, Any]) -> None:
    token = forge_token(server.jwt_secret, access_claims(login["player_id"]), algorithm="HS512")
    assert_refused(await first_frame_closes(server, auth_frame(token)))


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "jti"])
async def test_a_token_without_a_required_claim_closes_with_4001(server: ServerProcess, login: dict[str, Any],
                                                                 missing: str) -> None:
    claims = access_claims(login["player_id"])
    del claims[missing]
    assert_refused(await first_frame_closes(server, auth_frame(forge_token(server.jwt_secret, claims))))


async def test_a_token_of_an_unknown_player_closes_with_4001(server: ServerProcess) -> None:
    token = forge_token(server.jwt_secret, access_claims("p_does_not_exist"))
    assert_refused(await first_frame_closes(server, auth_frame(token)))
