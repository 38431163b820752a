"""The MongoDB adapter's accounts and tokens (the `AccountStore` port): accounts (found by name through the `names`
reservations), refresh tokens, revoked access tokens. Mixed into `MongoStorage`, whose client it uses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymongo import ReturnDocument

from persistence.port import Account, RefreshToken

if TYPE_CHECKING:
    from pymongo.asynchronous.collection import AsyncCollection

Doc = dict[str, Any]


def _account(doc: Doc) -> Account:
    return Account(doc["_id"], doc["name"], doc["email"], doc["password_hash"], doc["role"], doc["created_at"])


def _token(doc: Doc) -> RefreshToken:
    return RefreshToken(doc["_id"], doc["player_id"], doc["family"], doc["expires_at"], doc["used"], doc["revoked"])


class MongoAccounts:
    if TYPE_CHECKING:  # provided by MongoStorage
        def _c(self, name: str) -> AsyncCollection[Doc]: ...

    async def account_by_name(self, name: str) -> Account | None:
        reserved = await self._c("names").find_one({"_id": f"account:{name}"})
        return await self.account_by_id(reserved["owner"]) if reserved else None

    async def account_by_id(self, account_id: str) -> Account | None:
        doc = await self._c("accounts").find_one({"_id": account_id})
        return _account(doc) if doc else None

    async def set_role(self, account_id: str, role: str) -> None:
        await self._c("accounts").update_one({"_id": account_id}, {"$set": {"role": role}})

    async def set_password_hash(self, account_id: str, password_hash: str) -> None:
        await self._c("accounts").update_one({"_id": account_id}, {"$set": {"password_hash": password_hash}})

    async def add_refresh_token(self, token: RefreshToken) -> None:
        await self._c("refresh_tokens").insert_one({
            "_id": token.token_hash, "player_id": token.player_id, "family": token.family,
            "expires_at": token.expires_at, "used": token.used, "revoked": token.revoked})

    async def use_refresh_token(self, token_hash: str) -> RefreshToken | None:
        # The claim filters on `used: False` so exactly one racer's write matches: secantusdb reads the
        # before-image outside its write lock, so an unconditional update could hand several racers `used: False`.
        tokens = self._c("refresh_tokens")
        doc = await tokens.find_one_and_update(
            {"_id": token_hash, "used": False}, {"$set": {"used": True}}, return_document=ReturnDocument.BEFORE)
        if doc is None:
            doc = await tokens.find_one({"_id": token_hash})
        return _token(doc) if doc else None

    async def revoke_token_family(self, family: str) -> None:
        await self._c("refresh_tokens").update_many({"family": family}, {"$set": {"revoked": True}})

    async def revoke_access_token(self, jti: str, expires_at: float) -> None:
        await self._c("revoked_jti").update_one(
            {"_id": jti}, {"$setOnInsert": {"expires_at": expires_at}}, upsert=True)

    async def access_token_revoked(self, jti: str) -> bool:
        return await self._c("revoked_jti").find_one({"_id": jti}, projection={"_id": 1}) is not None

    async def purge_tokens(self, older_than: float) -> None:
        await self._c("revoked_jti").delete_many({"expires_at": {"$lt": older_than}})
        await self._c("refresh_tokens").delete_many({"expires_at": {"$lt": older_than}})
