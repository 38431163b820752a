"""The HTTP beside the socket (accounts and the operators' REST): request builders and reply parsers, sans I/O,
plus `send`, a blocking transport on the standard library for scripts and the `valgame ops` command.

Any HTTP client can carry these: build an `HttpRequest`, send `method`, `url(base)`, `headers()` and `content()`,
then hand the status and body to `parse_reply`.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson


class HttpError(Exception):
    """An HTTP error reply: `{"error": {"code", "message", "field"?, "retry_after_ms"?}}` and its status."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(f"{status} {error.get('code')}: {error.get('message')}")
        self.status = status
        self.error = error
        self.code: str | None = error.get("code")
        self.field: str | None = error.get("field")
        self.retry_after_ms: int | None = error.get("retry_after_ms")


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str
    body: dict[str, Any] | None = None
    token: str | None = None  # sent as `Authorization: Bearer`

    def url(self, base: str) -> str:
        return base.rstrip("/") + self.path

    def headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        return headers

    def content(self) -> bytes | None:
        return orjson.dumps(self.body) if self.body is not None else None


@dataclass(frozen=True, slots=True)
class Tokens:
    """What `/auth/login` and `/auth/refresh` return."""

    access_token: str
    refresh_token: str
    expires_in: int
    player_id: str

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> Tokens:
        return cls(reply["access_token"], reply["refresh_token"], int(reply["expires_in"]), reply["player_id"])


def register_request(username: str, email: str, password: str) -> HttpRequest:
    return HttpRequest("POST", "/auth/register", {"username": username, "email": email, "password": password})


def login_request(username: str, password: str) -> HttpRequest:
    return HttpRequest("POST", "/auth/login", {"username": username, "password": password})


def refresh_request(refresh_token: str) -> HttpRequest:
    return HttpRequest("POST", "/auth/refresh", {"refresh_token": refresh_token})


def logout_request(refresh_token: str, access_token: str | None = None) -> HttpRequest:
    return HttpRequest("POST", "/auth/logout", {"refresh_token": refresh_token}, access_token)


def admin_request(method: str, path: str, body: dict[str, Any] | None, token: str) -> HttpRequest:
    """An operators' REST call (`/admin/broadcast`, `/admin/kick`, `/admin/drain`, `/admin/stats`)."""
    return HttpRequest(method, path, body, token)


def retry_after_seconds(status: int, headers: Mapping[str, str]) -> float | None:
    """How long to wait before sending a refused request again: the `Retry-After` of a 429 (a rate limit) or a
    503 (the node is saturated, e.g. its password hashing, or its store is out of reach; nothing was done), in
    seconds. None when the reply is not such a refusal, or does not say when (then do not retry blindly)."""
    if status not in (429, 503):
        return None
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: this server never sends one
        return None


def parse_reply(status: int, body: bytes | str) -> dict[str, Any]:
    """The reply's JSON object, or HttpError for a status of 400 and above."""
    try:
        decoded = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        decoded = {"error": {"code": "internal", "message": str(body)[:200]}}
    if status >= 400:
        error = decoded.get("error") if isinstance(decoded, dict) else None
        raise HttpError(status, error if isinstance(error, dict) else {"code": "internal", "message": str(decoded)})
    return decoded if isinstance(decoded, dict) else {"value": decoded}


def send(base: str, request: HttpRequest, timeout: float = 30) -> dict[str, Any]:
    """Send one request and parse its reply (blocking; raises HttpError, or OSError when the node is unreachable)."""
    raw = urllib.request.Request(request.url(base), method=request.method, data=request.content(),
                                 headers=request.headers())
    try:
        with urllib.request.urlopen(raw, timeout=timeout) as response:
            return parse_reply(response.status, response.read())
    except urllib.error.HTTPError as exc:
        return parse_reply(exc.code, exc.read())


def login(base: str, username: str, password: str, timeout: float = 30) -> Tokens:
    return Tokens.from_reply(send(base, login_request(username, password), timeout))


def register(base: str, username: str, password: str, email: str | None = None, timeout: float = 30) -> dict[str, Any]:
    """Create an account, signed in: what `login` answers (`access_token`, `refresh_token`, `player_id`, `name`,
    ...); HttpError 409 when the name is taken."""
    return send(base, register_request(username, email or f"{username}@example.com", password), timeout)


def refresh(base: str, refresh_token: str, timeout: float = 30) -> Tokens:
    return Tokens.from_reply(send(base, refresh_request(refresh_token), timeout))


def resolve_socket_url(base: str, url: str) -> str:
    """The socket URL `GET /ws-url` gave (absolute, or a path on the HTTP base's host and port), made absolute."""
    if "://" in url:
        return url
    parts = urlsplit(base)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme, "ws")
    return urlunsplit((scheme, parts.netloc, url, "", ""))


def discover_socket_url(base: str, timeout: float = 30) -> str:
    """Ask the node where its socket is (`GET /ws-url`: the socket may be on another port than HTTP, see
    docs/DESIGN.md); a node that predates the route (404) serves it at `socket_url(base)`. Blocking."""
    try:
        reply = send(base, HttpRequest("GET", "/ws-url"), timeout)
    except HttpError as exc:
        if exc.status == 404:
            return socket_url(base)
        raise
    return resolve_socket_url(base, str(reply["url"]))


def socket_url(base: str) -> str:
    """The socket URL of a node's HTTP base when `/ws` is served beside HTTP: `http://h:p` -> `ws://h:p/ws` (and
    https -> wss). `discover_socket_url` asks the node instead."""
    parts = urlsplit(base)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme, "ws")
    path = parts.path.rstrip("/")
    if not path.endswith("/ws"):
        path += "/ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))
