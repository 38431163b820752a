"""Low-level helpers for tests that speak the wire directly: raw sockets, hand-made tokens, metrics, polling."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt
import orjson
import websockets
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed


async def open_raw(url: str, **kwargs: Any) -> ClientConnection:
    """A bare WebSocket to the node, with no protocol on top."""
    kwargs.setdefault("max_size", None)
    kwargs.setdefault("compression", None)
    return await websockets.connect(url, **kwargs)


async def read_until_closed(conn: ClientConnection, timeout: float = 10) -> tuple[int | None, list[Any]]:
    """Read every frame until the server closes; return its close code and the decoded frames seen."""
    frames: list[Any] = []

    async def drain() -> None:
        try:
            async for raw in conn:
                frames.append(orjson.loads(raw) if isinstance(raw, str) else raw)
        except ConnectionClosed:
            pass

    await asyncio.wait_for(drain(), timeout)
    return conn.close_code, frames


def ping_frame(frame_id: Any, echo: str | None = None) -> str:
    """A `ping` command's text; with `echo`, its reply carries the text back (a reply of chosen size)."""
    data = {} if echo is None else {"echo": echo}
    return orjson.dumps({"id": frame_id, "type": "ping", "data": data}).decode()


def auth_frame(token: str, frame_id: Any = 1, **extra: Any) -> str:
    return orjson.dumps({"id": frame_id, "type": "auth", "data": {"token": token, **extra}}).decode()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def access_claims(player_id: str, *, lifetime: float = 3600, now: float | None = None, **extra: Any) -> dict[str, Any]:
    """The claims an access token of the node carries."""
    now = time.time() if now is None else now
    return {"sub": player_id, "role": "player", "iat": int(now), "exp": int(now + lifetime),
            "jti": uuid.uuid4().hex, **extra}


def forge_token(secret: str, claims: dict[str, Any], algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def unsigned_token(claims: dict[str, Any]) -> str:
    """An `alg: none` token: no signature at all."""
    header = b64url(orjson.dumps({"alg": "none", "typ": "JWT"}))
    return f"{header}.{b64url(orjson.dumps(claims))}."


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: str) -> Samples:
    """GET /metrics, parsed: (sample name, labels) → value."""
    async with httpx.AsyncClient(base_url=http) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def sample(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value, 0 when it has not been created yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def eventually(predicate: Callable[[], Awaitable[Any]], timeout: float, what: str,
                     interval: float = 0.02) -> Any:
    """Await `predicate` until it returns a truthy value or the deadline passes (the async `wait_until`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)
