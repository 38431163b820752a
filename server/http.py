"""HTTP beside the socket: the auth endpoints, health, readiness, metrics and read-only REST."""

from __future__ import annotations

import hmac
import re
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from persistence import Account, Duplicate
from protocol import ErrorCode
from protocol.bodies import BODIES
from protocol.messages import BOARD_PATTERN
from protocol.schema import SchemaError, validate
from server import account_rules
from server.auth import AuthError, PasswordsBusy
from server.dispatch import retry_after_ms
from server.game.errors import GameError
from server.node import Node
from server.players import make_id


class HttpError(Exception):
    def __init__(self, status: int, code: ErrorCode, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_response(exc: HttpError) -> JSONResponse:
    headers = {}
    if "retry_after_ms" in exc.extra:  # 429 and 503: HTTP's own way to say when, beside the body's
        headers["retry-after"] = str(max(1, -(-int(exc.extra["retry_after_ms"]) // 1000)))
    return JSONResponse({"error": {"code": str(exc.code), "message": exc.message, **exc.extra}}, exc.status,
                        headers=headers)


def busy_response(exc: PasswordsBusy) -> JSONResponse:
    """Any route whose password hashing is refused (the pool's queue is full): 503, nothing was done."""
    return error_response(HttpError(503, ErrorCode.UNAVAILABLE, "too many logins at once; retry shortly",
                                    retry_after_ms=max(1000, int(exc.retry_after * 1000))))


def unavailable_response(retry_after: float) -> JSONResponse:
    """Any route whose storage or bus gave up (out of reach, or too slow to answer in its bound): 503 with the wait a
    command's `unavailable` reply asks for, spread as it is, never a 500 for a request that passed validation."""
    wait_ms = max(1000, retry_after_ms(retry_after))  # Retry-After counts whole seconds
    return error_response(HttpError(503, ErrorCode.UNAVAILABLE, "service busy; retry shortly", retry_after_ms=wait_ms))


def node_of(request: Request) -> Node:
    return request.app.state.node


async def json_body(request: Request, *, empty_ok: bool = False) -> dict[str, Any]:
    """The request's JSON body, validated by the route's schema in protocol/bodies.py (the same `validate` as a
    command's data): unknown, missing or mistyped fields are refused with 400 naming the field."""
    raw = await request.body()
    if empty_ok and not raw:
        raw = b"{}"
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise HttpError(400, ErrorCode.BAD_REQUEST, "body is not valid JSON") from None
    if not isinstance(body, dict):
        raise HttpError(400, ErrorCode.BAD_REQUEST, "body must be a JSON object")
    try:
        return validate(BODIES[request.url.path].fields, body)
    except SchemaError as exc:
        raise HttpError(400, ErrorCode.BAD_REQUEST, exc.message, field=exc.field[:64]) from None


async def ws_url(request: Request) -> Response:
    """Where clients open the socket: `/ws` beside the HTTP routes (asgi), or the picows port of the host they
    reached (picows), unless `ws_public_url` says (a load balancer that routes `/ws` elsewhere)."""
    settings = node_of(request).settings
    url = settings.ws_public_url
    if not url:
        if settings.transport == "picows":
            scheme = "wss" if request.url.scheme == "https" else "ws"
            host = request.url.hostname or "127.0.0.1"
            host = f"[{host}]" if ":" in host else host
            url = f"{scheme}://{host}:{settings.ws_port}/ws"
        else:
            url = "/ws"
    return JSONResponse({"url": url})


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def register(request: Request) -> Response:
    node = node_of(request)
    body = await json_body(request)
    name, password = body["username"], body["password"]
    problem = account_rules.username_problem(name, account_rules.reserved(node.settings.reserved_names))
    if problem:
        raise HttpError(400, ErrorCode.BAD_REQUEST, problem, field="username")
    email = account_rules.normalize_email(body["email"])
    if email is None:
        raise HttpError(400, ErrorCode.BAD_REQUEST, "email is not valid", field="email")
    problem = account_rules.password_problem(password, name, node.settings.password_min_length)
    if problem:
        raise HttpError(400, ErrorCode.BAD_REQUEST, problem, field="password")
    # The password is hashed before uniqueness is known, and a taken name and a taken email get one answer:
    # neither the time nor the words of the reply tell whether an account exists.
    account = Account(make_id("p"), name, email, await node.passwords.hash(password), "player", time.time())
    try:
        await node.players.create(account)
    except Duplicate:
        raise HttpError(409, ErrorCode.CONFLICT, "username or email taken") from None
    # Signed in by their registration, as by a login: a new player costs one password hash, not two (the hash is
    # what bounds a node's arrivals: docs/PERFORMANCE.md, the stress scenario's login storm).
    return await _token_response(node, account, status=201)


async def login(request: Request) -> Response:
    node = node_of(request)
    body = await json_body(request)
    name = body["username"][:64]
    address = client_address(request)
    wait = max(node.login_by_account.retry_after(name), node.login_by_address.retry_after(address))
    if wait > 0:
        node.metrics.auth_failures.labels("login_limited").inc()
        raise HttpError(429, ErrorCode.RATE_LIMITED, "too many login attempts", retry_after_ms=int(wait * 1000) + 1)
    account = await node.storage.account_by_name(name)
    if not await node.passwords.verify(account.password_hash if account else None, body["password"]):
        node.login_by_account.hit(name)
        node.login_by_address.hit(address)
        node.metrics.auth_failures.labels("bad_password").inc()
        raise HttpError(401, ErrorCode.UNAUTHORIZED, "wrong username or password")
    assert account is not None
    node.login_by_account.reset(name)
    await _upgrade_password_hash(node, account, body["password"])
    return await _token_response(node, account)


async def _upgrade_password_hash(node: Node, account: Account, password: str) -> None:
    """Re-hash a just-verified password made with other argon2 parameters than the node's (raised by an operator)
    and store it. Optional work: when every hashing thread is taken, the login goes on and a later one upgrades."""
    if not node.passwords.needs_rehash(account.password_hash):
        return
    upgraded = await node.passwords.hash_if_idle(password)
    if upgraded is None:
        node.metrics.password_rehashes.labels("deferred").inc()
        return
    await node.storage.set_password_hash(account.id, upgraded)
    node.metrics.password_rehashes.labels("upgraded").inc()


async def _token_response(node: Node, account: Account, family: str | None = None,
                          spent: str | None = None, status: int = 200) -> Response:
    assert node.tokens is not None
    pair = await node.tokens.issue_pair(account.id, account.role, family, spent=spent)
    return JSONResponse({"access_token": pair.access_token, "token_type": "bearer", "expires_in": pair.expires_in,
                         "refresh_token": pair.refresh_token, "player_id": account.id, "name": account.name}, status)


async def refresh(request: Request) -> Response:
    node = node_of(request)
    body = await json_body(request)
    assert node.tokens is not None
    try:
        record = await node.tokens.rotate(body["refresh_token"])
    except AuthError as exc:
        node.metrics.auth_failures.labels("refresh_" + exc.reason.replace(" ", "_")).inc()
        raise HttpError(401, ErrorCode.UNAUTHORIZED, exc.reason) from None
    account = await node.storage.account_by_id(record.player_id)
    if account is None:
        raise HttpError(401, ErrorCode.UNAUTHORIZED, "unknown player")
    try:
        return await _token_response(node, account, record.family, spent=body["refresh_token"])
    except AuthError as exc:
        node.metrics.auth_failures.labels("refresh_" + exc.reason.replace(" ", "_")).inc()
        raise HttpError(401, ErrorCode.UNAUTHORIZED, exc.reason) from None


async def logout(request: Request) -> Response:
    node = node_of(request)
    body = await json_body(request)
    header = request.headers.get("authorization", "")
    access = header[7:] if header.lower().startswith("bearer ") else None
    assert node.tokens is not None
    await node.tokens.revoke(body["refresh_token"], access)
    return JSONResponse({"ok": True})


async def health(request: Request) -> Response:
    return JSONResponse({"status": "alive", "node": node_of(request).id})


async def ready(request: Request) -> Response:
    node = node_of(request)
    storage_ok = await node.storage.ping()
    bus_ok = await node.bus.ping()
    is_ready = storage_ok and bus_ok and not node.draining
    body = {"ready": is_ready, "storage": storage_ok, "bus": bus_ok, "draining": node.draining, "node": node.id}
    if not bus_ok:
        body["bus_reason"] = node.bus.delivery.reason or "bus does not answer"
    return JSONResponse(body, 200 if is_ready else 503)


async def metrics(request: Request) -> Response:
    node = node_of(request)
    token = node.settings.metrics_token
    if token and not hmac.compare_digest(request.headers.get("authorization", "").encode(),
                                         f"Bearer {token}".encode()):
        raise HttpError(401, ErrorCode.UNAUTHORIZED, "metrics need Authorization: Bearer <metrics token>")
    return Response(node.metrics.render(), media_type=node.metrics.content_type)


async def _bearer(request: Request) -> str:
    """The player id of the request's bearer access token (401 otherwise)."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        raise HttpError(401, ErrorCode.UNAUTHORIZED, "an Authorization: Bearer <access token> header is required")
    node = node_of(request)
    assert node.tokens is not None
    try:
        claims = await node.tokens.verify_access(header[7:])
    except AuthError as exc:
        raise HttpError(401, ErrorCode.UNAUTHORIZED, f"token {exc.reason}") from None
    return claims.player_id


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HttpError(400, ErrorCode.BAD_REQUEST, f"{name} must be an integer", field=name) from None
    if not low <= value <= high:
        raise HttpError(400, ErrorCode.BAD_REQUEST, f"{name} must be {low} to {high}", field=name)
    return value


async def api_dungeons(request: Request) -> Response:
    from server.game.catalog import catalog_as_dict

    node = node_of(request)
    catalog = catalog_as_dict(node.game)
    return JSONResponse({"version": catalog.get("version"), "dungeons": catalog["dungeons"]})


async def api_characters(request: Request) -> Response:
    """The caller's own characters, `offset`/`limit` paginated."""
    from server.game.views import characters_view

    player_id = await _bearer(request)
    node = node_of(request)
    offset = _int_param(request, "offset", 0, 0, 10_000)
    limit = _int_param(request, "limit", 50, 1, 100)
    _, state = await node.players.load(player_id)
    views = characters_view(state, node.game, time.time())
    page = views[offset:offset + limit]
    following = offset + limit if offset + limit < len(views) else None
    return JSONResponse({"characters": page, "total": len(views), "next_offset": following})


async def api_rankings_global(request: Request) -> Response:
    node = node_of(request)
    board = request.query_params.get("board", "points")
    if not re.fullmatch(BOARD_PATTERN, board):
        raise HttpError(400, ErrorCode.BAD_REQUEST, "unknown board", field="board")
    limit = _int_param(request, "limit", 10, 1, node.game.ranking_top_max)
    rows = await node.bus.leaderboards.rank_top(board, limit)
    names = await node.names.names_of([p for p, _ in rows])
    return JSONResponse({"board": board, "entries": [
        {"rank": i + 1, "player": p, "name": names.get(p), "score": int(s)} for i, (p, s) in enumerate(rows)]})


async def _admin(request: Request) -> Node:
    player_id = await _bearer(request)
    node = node_of(request)
    account = await node.storage.account_by_id(player_id)
    if account is None or account.role != "admin":
        raise HttpError(403, ErrorCode.FORBIDDEN, "operators only")
    return node


async def _ops_call(request: Request, work: Any) -> Response:
    """Run an ops action for an admin, mapping game errors to HTTP ones. The body is the `ops.*` command's data."""
    node = await _admin(request)
    body = await json_body(request, empty_ok=True) if request.url.path in BODIES else {}
    try:
        return JSONResponse(await work(node, body))
    except GameError as exc:
        status = {ErrorCode.NOT_FOUND: 404, ErrorCode.FORBIDDEN: 403}.get(exc.code, 400)
        extra = dict(exc.extra)
        if isinstance(extra.get("field"), str):  # a frame's `data.to` is the body's `to`
            extra["field"] = extra["field"].removeprefix("data.")
        raise HttpError(status, exc.code, exc.message, **extra) from None


async def admin_broadcast(request: Request) -> Response:
    return await _ops_call(request, lambda node, b: node.ops.broadcast(b["message"], b.get("to"), b.get("key")))


async def admin_kick(request: Request) -> Response:
    return await _ops_call(request, lambda node, b: node.ops.kick(b["player"], b.get("reason") or "kicked"))


async def admin_drain(request: Request) -> Response:
    return await _ops_call(request, lambda node, b: node.ops.drain(b.get("node")))


async def admin_stats(request: Request) -> Response:
    return await _ops_call(request, lambda node, b: node.ops.stats())
