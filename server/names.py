"""Player names by id and ids by name, cached for the node's life: names never change once taken."""

from __future__ import annotations

from persistence import AccountStore, GameStore


class NameCache:
    def __init__(self, accounts: AccountStore, store: GameStore) -> None:
        self._accounts = accounts
        self._store = store
        self._names: dict[str, str] = {}  # player id -> name
        self._ids: dict[str, str] = {}  # name -> player id

    async def names_of(self, player_ids: list[str]) -> dict[str, str]:
        """Player names by id (players that do not exist are left out)."""
        for player_id in player_ids:
            if player_id not in self._names:
                account = await self._accounts.account_by_id(player_id)
                if account is not None:
                    self._names[player_id] = account.name
        return {p: self._names[p] for p in player_ids if p in self._names}

    async def player_id_of(self, name: str) -> str | None:
        """The id of the player with this name. Found ones are cached (a whisper then needs no storage read);
        unknown ones are not (the name may be taken later)."""
        player_id = self._ids.get(name)
        if player_id is None:
            player_id = await self._store.player_id_by_name(name)
            if player_id is not None:
                self._ids[name] = player_id
                self._names[player_id] = name
        return player_id
