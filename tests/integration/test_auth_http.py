"""HTTP auth: register, login, refresh rotation with reuse detection, logout, and the access token's claims."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.client import Client, register, unique_name
from tests.support.servers import ServerProcess
from tests.support.wire import auth_frame, open_raw, read_until_closed

PASSWORD = "correct horse battery"


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http) as client:
        yield client


@pytest.fixture(scope="module")
async def account(server: ServerProcess) -> dict[str, Any]:
    """One player for the token tests: each test logs in afresh, which starts a token family of its own."""
    return await register(server.http, unique_name("acct"))


async def log_in(http: httpx.AsyncClient, account: dict[str, Any]) -> dict[str, Any]:
    response = await http.post("/auth/login", json={"username": account["name"], "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()


def registration(name: str | None = None, **changes: Any) -> dict[str, Any]:
    name = name or unique_name("r")
    return {"username": name, "email": f"{name}@example.test", "password": PASSWORD, **changes}


def assert_error(response: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    if field is not None:
        assert error.get("field") == field, error
    return error


async def socket_accepts(node: ServerProcess, token: str) -> bool:
    """True when the node answers `auth` with this token; False when it closes the socket with 4001."""
    conn = await open_raw(node.ws)
    try:
        await conn.send(auth_frame(token))
        try:
            reply = orjson.loads(await asyncio.wait_for(conn.recv(), 10))
        except ConnectionClosed:
            assert conn.close_code == 4001, conn.close_code
            return False
        assert reply["ok"] is True and reply["type"] == "auth", reply
        return True
    finally:
        await conn.close()


# --- register ---------------------------------------------------------------------------------------------------

async def test_register_creates_an_account_that_can_log_in(http: httpx.AsyncClient) -> None:
    body = registration()
    response = await http.post("/auth/register", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == body["username"]
    assert isinstance(created["player_id"], str) and created["player_id"]

    login = await http.post("/auth/login", json={"username": body["username"], "password": PASSWORD})
    assert login.status_code == 200, login.text
    assert login.json()["player_id"] == created["player_id"]


async def test_registering_signs_the_new_player_in(http: httpx.AsyncClient, server: ServerProcess) -> None:
    """One password hash per new player: the registration answers what a login does, and its tokens work."""
    body = registration()
    created = (await http.post("/auth/register", json=body)).json()
    assert (created["token_type"], created["name"]) == ("bearer", body["username"])
    assert created["expires_in"] > 0 and len(created["refresh_token"]) >= 32
    assert await socket_accepts(server, created["access_token"])
    refreshed = await _refresh(http, created["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["player_id"] == created["player_id"]
    assert await socket_accepts(server, refreshed.json()["access_token"])


@pytest.mark.parametrize("make_name", [
    lambda: "z" + secrets.token_hex(1),  # 3 characters, the shortest allowed
    lambda: unique_name("long_").ljust(24, "9"),  # 24, the longest allowed
    lambda: unique_name("under_score_"),
])
async def test_register_accepts_usernames_within_the_rules(http: httpx.AsyncClient,
                                                           make_name: Callable[[], str]) -> None:
    name = make_name()
    response = await http.post("/auth/register", json=registration(name))
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name


@pytest.mark.parametrize("name", ["ab", "a" * 25, "Abc", "ab-c", "ab c", "abc!", "ñandu", "", "ab\n"])
async def test_register_refuses_bad_usernames(http: httpx.AsyncClient, name: str) -> None:
    body = registration(username=name, email=f"{unique_name('e')}@example.test")
    assert_error(await http.post("/auth/register", json=body), 400, "bad_request", "username")


@pytest.mark.parametrize("email", ["no-at-sign", "a@b", "two@@example.test", "sp ace@example.test", "@example.test",
                                   "x@.", "", "nul\x00@example.test", "<x>@example.test", "a@<x>.test",
                                   "a@example.test\n", "a\"b@example.test"])
async def test_register_refuses_bad_emails(http: httpx.AsyncClient, email: str) -> None:
    assert_error(await http.post("/auth/register", json=registration(email=email)), 400, "bad_request", "email")


async def test_register_password_must_have_at_least_10_characters(http: httpx.AsyncClient) -> None:
    short = registration(password="tr0ub4dor")
    assert_error(await http.post("/auth/register", json=short), 400, "bad_request", "password")
    exactly_ten = registration(password="tr0ub4dor&")
    assert (await http.post("/auth/register", json=exactly_ten)).status_code == 201


@pytest.mark.parametrize("password", ["1234567890", "password123", "qwertyuiop", " " * 12, "aaaaaaaaaaaa",
                                      "abababababab", "abcdefghijkl", "0987654321"])
async def test_register_refuses_common_repetitive_and_sequential_passwords(http: httpx.AsyncClient,
                                                                          password: str) -> None:
    body = registration(password=password)
    assert_error(await http.post("/auth/register", json=body), 400, "bad_request", "password")


async def test_register_refuses_a_password_containing_the_username(http: httpx.AsyncClient) -> None:
    name = unique_name("pw")
    body = registration(name, password=f"{name.upper()}!2026")
    assert_error(await http.post("/auth/register", json=body), 400, "bad_request", "password")


@pytest.mark.parametrize("name", ["admin", "system", "ops", "root", "administrator9", "gm_anna", "mod_x1"])
async def test_register_refuses_reserved_names(http: httpx.AsyncClient, name: str) -> None:
    body = registration(name, email=f"{unique_name('e')}@example.test")
    assert_error(await http.post("/auth/register", json=body), 400, "bad_request", "username")


async def test_register_duplicate_username_or_email_is_409_with_one_answer(http: httpx.AsyncClient) -> None:
    first = registration()
    assert (await http.post("/auth/register", json=first)).status_code == 201
    same_name = registration(first["username"], email=f"{unique_name('other')}@example.test")
    by_name = assert_error(await http.post("/auth/register", json=same_name), 409, "conflict")
    same_email = registration(email=first["email"])
    by_email = assert_error(await http.post("/auth/register", json=same_email), 409, "conflict")
    shouted = registration(email=first["email"].upper())
    by_case = assert_error(await http.post("/auth/register", json=shouted), 409, "conflict")
    # Which one is taken is not said: the answer cannot be used to find out who plays here.
    assert by_name == by_email == by_case


@pytest.mark.parametrize(("change", "field"), [
    (lambda body: {**body, "nickname": "x"}, "nickname"),  # unknown field
    (lambda body: {k: v for k, v in body.items() if k != "email"}, "email"),  # missing field
    (lambda body: {k: v for k, v in body.items() if k != "password"}, "password"),
    (lambda body: {**body, "username": 123}, "username"),  # mistyped
    (lambda body: {**body, "password": ["a" * 10]}, "password"),
    (lambda body: {**body, "email": None}, "email"),
])
async def test_register_refuses_unknown_missing_and_mistyped_fields(
        http: httpx.AsyncClient, change: Callable[[dict[str, Any]], dict[str, Any]], field: str) -> None:
    body = change(registration())
    assert_error(await http.post("/auth/register", json=body), 400, "bad_request", field)


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\"text\"", b""])
async def test_register_refuses_bodies_that_are_not_a_json_object(http: httpx.AsyncClient, content: bytes) -> None:
    response = await http.post("/auth/register", content=content, headers={"content-type": "application/json"})
    assert_error(response, 400, "bad_request")


# --- login ------------------------------------------------------------------------------------------------------

async def test_login_returns_a_token_pair(http: httpx.AsyncClient, server: ServerProcess) -> None:
    name = unique_name("l")
    assert (await http.post("/auth/register", json=registration(name))).status_code == 201
    response = await http.post("/auth/login", json={"username": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2
    assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 32
    assert body["expires_in"] > 0
    assert body["name"] == name
    client, reply = await Client.open(server.ws, body["access_token"])
    try:
        assert reply["player"]["name"] == name
    finally:
        await client.close()


async def test_login_with_a_wrong_password_or_unknown_user_is_401(http: httpx.AsyncClient) -> None:
    name = unique_name("l")
    assert (await http.post("/auth/register", json=registration(name))).status_code == 201
    wrong = await http.post("/auth/login", json={"username": name, "password": PASSWORD + "!"})
    error = assert_error(wrong, 401, "unauthorized")
    assert "access_token" not in wrong.text
    unknown = await http.post("/auth/login", json={"username": unique_name("ghost"), "password": PASSWORD})
    assert_error(unknown, 401, "unauthorized")
    assert unknown.json()["error"]["message"] == error["message"]  # does not reveal which one was wrong


async def test_login_refuses_unknown_and_missing_fields(http: httpx.AsyncClient) -> None:
    extra = await http.post("/auth/login", json={"username": "abc", "password": PASSWORD, "otp": "1"})
    assert_error(extra, 400, "bad_request", "otp")
    missing = await http.post("/auth/login", json={"username": "abc"})
    assert_error(missing, 400, "bad_request", "password")


async def test_repeated_login_failures_are_limited_with_429(make_server: Callable[..., ServerProcess]) -> None:
    node = make_server(login_attempts=3)
    name = unique_name("b")
    await register(node.http, name, PASSWORD)
    async with httpx.AsyncClient(base_url=node.http) as http:
        for _ in range(3):
            response = await http.post("/auth/login", json={"username": name, "password": "wrong password"})
            assert_error(response, 401, "unauthorized")
        limited = await http.post("/auth/login", json={"username": name, "password": "wrong password"})
        error = assert_error(limited, 429, "rate_limited")
        assert isinstance(error["retry_after_ms"], int) and error["retry_after_ms"] > 0
        # Even the right password waits now: the limit is what stops guessing.
        right = await http.post("/auth/login", json={"username": name, "password": PASSWORD})
        assert_error(right, 429, "rate_limited")


# --- refresh ----------------------------------------------------------------------------------------------------

async def _refresh(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post("/auth/refresh", json={"refresh_token": token})


async def test_refresh_rotates_the_pair(http: httpx.AsyncClient, server: ServerProcess,
                                        account: dict[str, Any]) -> None:
    first = await log_in(http, account)
    response = await _refresh(http, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["player_id"] == first["player_id"]
    assert await socket_accepts(server, second["access_token"])
    # The new refresh token rotates in turn.
    third = await _refresh(http, second["refresh_token"])
    assert third.status_code == 200, third.text
    assert await socket_accepts(server, third.json()["access_token"])


async def test_reusing_a_spent_refresh_token_revokes_the_whole_family(http: httpx.AsyncClient,
                                                                      account: dict[str, Any]) -> None:
    first = await log_in(http, account)
    rotated = await _refresh(http, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    newest = rotated.json()["refresh_token"]

    assert_error(await _refresh(http, first["refresh_token"]), 401, "unauthorized")  # the stolen copy
    assert_error(await _refresh(http, newest), 401, "unauthorized")  # the family is gone


async def test_reuse_does_not_touch_another_login_of_the_same_player(http: httpx.AsyncClient,
                                                                     account: dict[str, Any]) -> None:
    first = await log_in(http, account)
    other = await log_in(http, account)
    assert (await _refresh(http, first["refresh_token"])).status_code == 200
    assert_error(await _refresh(http, first["refresh_token"]), 401, "unauthorized")
    assert (await _refresh(http, other["refresh_token"])).status_code == 200


@pytest.mark.parametrize("token", ["garbage", "", "x" * 43])
async def test_refresh_with_an_unknown_token_is_401(http: httpx.AsyncClient, token: str) -> None:
    assert_error(await _refresh(http, token), 401, "unauthorized")


async def test_refresh_refuses_an_access_token(http: httpx.AsyncClient, account: dict[str, Any]) -> None:
    login = await log_in(http, account)
    assert_error(await _refresh(http, login["access_token"]), 401, "unauthorized")


# --- logout -----------------------------------------------------------------------------------------------------

async def test_logout_revokes_the_refresh_token(http: httpx.AsyncClient,
                                                account: dict[str, Any]) -> None:
    login = await log_in(http, account)
    response = await http.post("/auth/logout", json={"refresh_token": login["refresh_token"]})
    assert response.status_code == 200, response.text
    assert_error(await _refresh(http, login["refresh_token"]), 401, "unauthorized")


async def test_logout_with_bearer_revokes_the_access_token(http: httpx.AsyncClient, server: ServerProcess,
                                                           account: dict[str, Any]) -> None:
    login = await log_in(http, account)
    assert await socket_accepts(server, login["access_token"])  # it works before the logout
    response = await http.post("/auth/logout", json={"refresh_token": login["refresh_token"]},
                               headers={"Authorization": f"Bearer {login['access_token']}"})
    assert response.status_code == 200, response.text
    conn = await open_raw(server.ws)
    await conn.send(auth_frame(login["access_token"]))
    code, frames = await read_until_closed(conn)
    assert code == 4001, frames
    assert not any(isinstance(f, dict) and f.get("ok") for f in frames)


async def test_logout_without_bearer_leaves_other_access_tokens_alone(http: httpx.AsyncClient, server: ServerProcess,
                                                                      account: dict[str, Any]) -> None:
    first = await log_in(http, account)
    other = await log_in(http, account)
    response = await http.post("/auth/logout", json={"refresh_token": first["refresh_token"]},
                               headers={"Authorization": f"Bearer {first['access_token']}"})
    assert response.status_code == 200
    assert await socket_accepts(server, other["access_token"])
    assert (await _refresh(http, other["refresh_token"])).status_code == 200


# --- the access token -------------------------------------------------------------------------------------------

async def test_access_token_is_an_hs256_jwt_with_the_standard_claims(http: httpx.AsyncClient, server: ServerProcess,
                                                                     account: dict[str, Any]) -> None:
    first = await log_in(http, account)
    second = await log_in(http, account)

    header = jwt.get_unverified_header(first["access_token"])
    assert header["alg"] == "HS256"
    claims = jwt.decode(first["access_token"], options={"verify_signature": False})
    assert {"exp", "iat", "sub", "jti"} <= claims.keys()
    assert claims["sub"] == first["player_id"]
    assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int)
    assert claims["exp"] - claims["iat"] == first["expires_in"]
    assert isinstance(claims["jti"], str) and claims["jti"]
    assert "password" not in str(claims)

    other = jwt.decode(second["access_token"], options={"verify_signature": False})
    assert other["jti"] != claims["jti"]
    # Signed with the node's secret: it verifies with it, and not with another one.
    jwt.decode(first["access_token"], server.jwt_secret, algorithms=["HS256"])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(first["access_token"], server.jwt_secret + "y", algorithms=["HS256"])


async def test_concurrent_reuse_of_a_refresh_token_revokes_the_family(http: httpx.AsyncClient,
                                                                      account: dict[str, Any]) -> None:
    """Two uses of one refresh token at the same moment: one may win the rotation, but the reuse still revokes the
    whole family, including the pair the winner was just given."""
    for _ in range(3):
        login = await log_in(http, account)
        responses = await asyncio.gather(*(_refresh(http, login["refresh_token"]) for _ in range(2)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses in ([200, 401], [401, 401]), [r.text for r in responses]
        for response in responses:
            if response.status_code == 200:
                assert_error(await _refresh(http, response.json()["refresh_token"]), 401, "unauthorized")
