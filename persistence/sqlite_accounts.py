"""The SQLite adapter's accounts and tokens (the `AccountStore` port): accounts, refresh tokens, revoked access
tokens. Mixed into `SQLiteStorage`: the pure reads run on its reader (`_read`), everything that writes on its
writer thread and connection (`_run`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from persistence.port import Account, RefreshToken

T = TypeVar("T")


class SQLiteAccounts:
    if TYPE_CHECKING:  # provided by SQLiteStorage
        @property
        def db(self) -> sqlite3.Connection: ...

        async def _run(self, fn: Callable[..., T], *args: Any) -> T: ...

        async def _read(self, fn: Callable[..., T], *args: Any) -> T: ...

    @staticmethod
    def _account(db: sqlite3.Connection, where: str, arg: str) -> Account | None:
        row = db.execute(
            f"SELECT id, name, email, password_hash, role, created_at FROM accounts WHERE {where}=?", (arg,)
        ).fetchone()
        return Account(*row) if row else None

    async def account_by_name(self, name: str) -> Account | None:
        return await self._read(self._account, "name", name)

    async def account_by_id(self, account_id: str) -> Account | None:
        return await self._read(self._account, "id", account_id)

    async def set_role(self, account_id: str, role: str) -> None:
        await self._run(lambda: self.db.execute("UPDATE accounts SET role=? WHERE id=?", (role, account_id)))

    async def set_password_hash(self, account_id: str, password_hash: str) -> None:
        await self._run(lambda: self.db.execute(
            "UPDATE accounts SET password_hash=? WHERE id=?", (password_hash, account_id)))

    async def add_refresh_token(self, token: RefreshToken) -> None:
        await self._run(lambda: self.db.execute(
            "INSERT INTO refresh_tokens (token_hash, player_id, family, expires_at) VALUES (?, ?, ?, ?)",
            (token.token_hash, token.player_id, token.family, token.expires_at)))

    def _use_refresh(self, token_hash: str) -> RefreshToken | None:
        """Read the token and mark it used in one write transaction, on the writer: two uses of one token (a replay
        racing the rightful refresh) must not both find it unused."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(
                "SELECT token_hash, player_id, family, expires_at, used, revoked FROM refresh_tokens "
                "WHERE token_hash=?", (token_hash,)).fetchone()
            if row:
                db.execute("UPDATE refresh_tokens SET used=1 WHERE token_hash=?", (token_hash,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if not row:
            return None
        return RefreshToken(row[0], row[1], row[2], row[3], bool(row[4]), bool(row[5]))

    async def use_refresh_token(self, token_hash: str) -> RefreshToken | None:
        return await self._run(self._use_refresh, token_hash)

    async def revoke_token_family(self, family: str) -> None:
        await self._run(lambda: self.db.execute("UPDATE refresh_tokens SET revoked=1 WHERE family=?", (family,)))

    async def revoke_access_token(self, jti: str, expires_at: float) -> None:
        await self._run(lambda: self.db.execute(
            "INSERT OR IGNORE INTO revoked_jti (jti, expires_at) VALUES (?, ?)", (jti, expires_at)))

    async def access_token_revoked(self, jti: str) -> bool:
        row = await self._read(lambda db: db.execute("SELECT 1 FROM revoked_jti WHERE jti=?", (jti,)).fetchone())
        return row is not None

    async def purge_tokens(self, older_than: float) -> None:
        def purge() -> None:
            self.db.execute("DELETE FROM revoked_jti WHERE expires_at<?", (older_than,))
            self.db.execute("DELETE FROM refresh_tokens WHERE expires_at<?", (older_than,))
        await self._run(purge)
