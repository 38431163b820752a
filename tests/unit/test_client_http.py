"""The SDK's HTTP helpers, sans I/O: the requests they build and how they read replies."""

from __future__ import annotations

import orjson
import pytest

from valgame_client import http


def test_requests_carry_json_and_the_bearer_token() -> None:
    login = http.login_request("ana", "correct horse")
    assert (login.method, login.url("http://h:1/"), login.headers()) == (
        "POST", "http://h:1/auth/login", {"content-type": "application/json"})
    assert orjson.loads(login.content() or b"") == {"username": "ana", "password": "correct horse"}
    stats = http.admin_request("GET", "/admin/stats", None, "tok")
    assert stats.content() is None and stats.headers()["authorization"] == "Bearer tok"
    logout = http.logout_request("r1", "a1")
    assert orjson.loads(logout.content() or b"") == {"refresh_token": "r1"} and "authorization" in logout.headers()


def test_replies_parse_into_tokens_or_an_error_with_its_code() -> None:
    body = orjson.dumps({"access_token": "a", "refresh_token": "r", "expires_in": 3600, "player_id": "p_1"})
    assert http.Tokens.from_reply(http.parse_reply(200, body)) == http.Tokens("a", "r", 3600, "p_1")
    with pytest.raises(http.HttpError) as limited:
        http.parse_reply(429, orjson.dumps({"error": {"code": "rate_limited", "message": "slow down",
                                                      "retry_after_ms": 1500}}))
    assert (limited.value.status, limited.value.code, limited.value.retry_after_ms) == (429, "rate_limited", 1500)
    with pytest.raises(http.HttpError) as broken:
        http.parse_reply(502, b"<html>bad gateway</html>")
    assert broken.value.status == 502 and broken.value.code == "internal"



@pytest.mark.parametrize(("status", "headers", "wait"), [
    (503, {"retry-after": "2"}, 2.0),  # saturated: come back in 2 s
    (429, {"retry-after": "1"}, 1.0),
    (503, {}, None),  # does not say when: no blind retry
    (500, {"retry-after": "2"}, None),  # not a refusal for load
    (201, {"retry-after": "2"}, None),
    (503, {"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),  # a date: never sent by the node
    (503, {"retry-after": "-3"}, 0.0),
])
def test_a_refusal_for_load_says_when_to_come_back(status: int, headers: dict[str, str], wait: float | None) -> None:
    assert http.retry_after_seconds(status, headers) == wait

@pytest.mark.parametrize(("base", "socket"), [
    ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/ws"),
    ("https://game.example/", "wss://game.example/ws"),
    ("https://game.example/eu/ws", "wss://game.example/eu/ws"),
])
def test_the_socket_url_follows_the_http_base(base: str, socket: str) -> None:
    assert http.socket_url(base) == socket


@pytest.mark.parametrize(("base", "told", "socket"), [
    ("http://127.0.0.1:8000", "/ws", "ws://127.0.0.1:8000/ws"),
    ("https://game.example", "/eu/ws", "wss://game.example/eu/ws"),
    ("http://127.0.0.1:8000", "ws://127.0.0.1:8001/ws", "ws://127.0.0.1:8001/ws"),
])
def test_the_socket_url_a_node_tells_is_made_absolute(base: str, told: str, socket: str) -> None:
    assert http.resolve_socket_url(base, told) == socket
