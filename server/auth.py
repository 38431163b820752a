"""Credentials: argon2id password hashes, short-lived access JWTs, rotating refresh tokens."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from persistence import AccountStore, RefreshToken

ALGORITHM = "HS256"
T = TypeVar("T")


class AuthError(Exception):
    """Credentials refused; `reason` is a short label for metrics and logs (never the token itself)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Claims:
    player_id: str
    role: str
    jti: str
    expires_at: float
    family: str = ""  # the refresh-token family (the login) this access token belongs to


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str


class PasswordsBusy(Exception):
    """Every hashing worker is taken for longer than a login may wait: answer 503 now, not after seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"password hashing busy, retry after {retry_after:.1f} s")
        self.retry_after = retry_after


class Passwords:
    """argon2id hashing with the parameters of the node's settings, on a pool of worker threads of its own.

    argon2-cffi runs the hash in C with the GIL released, so `workers` threads use `workers` cores and the event
    loop stays free. The pool's queue is bounded by time: when the work already queued would keep a new hash
    waiting longer than `max_wait` (from the measured cost of one), it is refused at once with `PasswordsBusy`.
    An unknown user's login verifies against a dummy hash all the same, so a wrong password for a real user and
    any password for an unknown one take the same time (no account discovery by timing). A hash made with other
    parameters (`needs_rehash`) is replaced at its owner's next good login, when a thread is free (`hash_if_idle`),
    so operators can raise the parameters without resetting anyone's password."""

    def __init__(self, memory_kib: int, time_cost: int, parallelism: int, workers: int = 0,
                 max_wait: float = 1.0) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self.workers = workers or os.cpu_count() or 1
        self.max_wait = max_wait
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="argon2")
        self._pending = 0  # jobs submitted and not finished
        self._seconds = 0.0  # moving average of one job's duration (0 until the first one is measured)
        self._dummy: str | None = None

    def needs_rehash(self, password_hash: str) -> bool:
        """True for a hash made with other parameters than today's (upgrade it at the next good login)."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    async def _run(self, work: Callable[[], T]) -> T:
        wait = self._pending / self.workers * self._seconds
        if wait > self.max_wait:
            raise PasswordsBusy(retry_after=wait)

        def timed() -> tuple[T, float]:
            started = time.perf_counter()
            return work(), time.perf_counter() - started

        self._pending += 1
        try:
            result, took = await asyncio.get_running_loop().run_in_executor(self._pool, timed)
        finally:
            self._pending -= 1
        self._seconds = took if self._seconds == 0 else 0.8 * self._seconds + 0.2 * took
        return result

    async def hash(self, password: str) -> str:
        return await self._run(lambda: self._hasher.hash(password))

    async def hash_if_idle(self, password: str) -> str | None:
        """A hash made now if a hashing thread is free, else None. For work that can wait (re-hashing a password
        with new parameters at login): it never queues behind the logins and registrations that need the pool."""
        if self._pending >= self.workers:
            return None
        try:
            return await self.hash(password)
        except PasswordsBusy:
            return None

    async def verify(self, password_hash: str | None, password: str) -> bool:
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        dummy = self._dummy

        def verify() -> bool:
            try:
                return self._hasher.verify(password_hash or dummy, password) and password_hash is not None
            except (VerificationError, InvalidHashError):
                return False
        return await self._run(verify)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def load_or_create_secret(configured: str, data_dir: str) -> str:
    """The configured secret, or one generated once into the data folder (readable by its owner only)."""
    if configured:
        return configured
    path = Path(data_dir) / "jwt_secret"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret)
    return secret


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, secret: str, storage: AccountStore, access_seconds: int, refresh_seconds: int) -> None:
        if len(secret) < 32:
            raise ValueError("the JWT secret must be at least 32 characters")
        self._secret = secret
        self._storage = storage
        self.access_seconds = access_seconds
        self.refresh_seconds = refresh_seconds
        # Told of every revocation (player, family or "", access token id or ""), so that the sockets opened with
        # the revoked credentials are closed on every node, not only refused at their next `auth`.
        self.on_revoked: Callable[[str, str, str], Awaitable[None]] | None = None

    async def _revoked(self, player_id: str, family: str = "", jti: str = "") -> None:
        if self.on_revoked is not None:
            await self.on_revoked(player_id, family, jti)

    async def _revoke_family(self, record: RefreshToken) -> None:
        await self._storage.revoke_token_family(record.family)
        await self._revoked(record.player_id, family=record.family)

    def issue_access(self, player_id: str, role: str, family: str = "") -> str:
        now = int(time.time())
        claims = {"sub": player_id, "role": role, "iat": now, "exp": now + self.access_seconds,
                  "jti": uuid.uuid4().hex, "fam": family}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode_access(self, token: str) -> Claims:
        """Verify signature, algorithm and expiry (no storage look-up)."""
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM],
                                options={"require": ["exp", "iat", "sub", "jti"]})
        except jwt.ExpiredSignatureError:
            raise AuthError("expired") from None
        except jwt.PyJWTError:
            raise AuthError("invalid") from None
        return Claims(str(claims["sub"]), str(claims.get("role", "player")), str(claims["jti"]),
                      float(claims["exp"]), str(claims.get("fam", "")))

    async def verify_access(self, token: str) -> Claims:
        claims = self.decode_access(token)
        if await self._storage.access_token_revoked(claims.jti):
            raise AuthError("revoked")
        return claims

    async def issue_pair(self, player_id: str, role: str, family: str | None = None,
                         *, spent: str | None = None) -> TokenPair:
        """A new pair; `family` and `spent` (the refresh token just rotated) when it continues a login."""
        refresh = secrets.token_urlsafe(32)
        family = family or uuid.uuid4().hex
        await self._storage.add_refresh_token(RefreshToken(
            token_hash=_digest(refresh), player_id=player_id, family=family,
            expires_at=time.time() + self.refresh_seconds))
        if spent is not None:
            # A reuse of `spent` racing this rotation revoked the family, possibly before the new token existed
            # (so it escaped). Look again now that it exists: revoked means the new token goes with its family.
            record = await self._storage.use_refresh_token(_digest(spent))
            if record is None or record.revoked:
                await self._storage.revoke_token_family(family)
                await self._revoked(player_id, family=family)
                raise AuthError("refresh token reused")
        return TokenPair(self.issue_access(player_id, role, family), self.access_seconds, refresh)

    async def rotate(self, refresh_token: str) -> RefreshToken:
        """Spend a refresh token. A second use of one token means it was stolen: its whole family is revoked."""
        record = await self._storage.use_refresh_token(_digest(refresh_token))
        if record is None:
            raise AuthError("unknown refresh token")
        if record.used or record.revoked:
            await self._revoke_family(record)
            raise AuthError("refresh token reused")
        if record.expires_at < time.time():
            raise AuthError("refresh token expired")
        return record

    async def revoke(self, refresh_token: str | None, access_token: str | None) -> None:
        if refresh_token:
            record = await self._storage.use_refresh_token(_digest(refresh_token))
            if record is not None:
                await self._revoke_family(record)
        if access_token:
            try:
                claims = self.decode_access(access_token)
            except AuthError:
                return
            await self._storage.revoke_access_token(claims.jti, claims.expires_at)
            await self._revoked(claims.player_id, jti=claims.jti)
