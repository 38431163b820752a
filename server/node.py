"""A node: the ports, the hub, the services and the scheduled jobs, started and stopped together."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

from persistence import Storage, open_storage
from protocol import CloseCode
from server.auth import Tokens, load_or_create_secret
from server.bus import Bus, open_bus
from server.game.config import GameSettings
from server.hub import Hub
from server.metrics import Metrics
from server.players import Players
from server.ratelimit import WindowCounter
from server.settings import Settings

log = logging.getLogger("valgame.node")


class Node:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.id = settings.node_id or f"node-{secrets.token_hex(3)}"
        self.game = GameSettings().with_overrides(settings.game_overrides)
        self.metrics = Metrics()
        self.storage: Storage = open_storage(settings.storage_url)
        self.bus: Bus = open_bus(settings.bus, self.id, settings.history_size, settings.history_seconds)
        self.hub = Hub(self.metrics)
        self.hub.on_control = self._on_control
        self.players = Players(self.storage, self.bus, self.game)
        self.tokens: Tokens | None = None
        self.login_by_account = WindowCounter(settings.login_attempts, settings.login_window_seconds)
        self.login_by_address = WindowCounter(settings.login_attempts * 5, settings.login_window_seconds)
        self.draining = False
        self.started_at = time.time()
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        await self.storage.open()
        secret = load_or_create_secret(self.settings.jwt_secret, self.settings.data_dir)
        self.tokens = Tokens(secret, self.storage, self.settings.access_token_seconds,
                             self.settings.refresh_token_seconds)
        await self.storage.put_meta("game_settings", self.game.to_dict())
        await self.bus.start(self.hub)
        log.info("node started", extra={"node": self.id, "storage": self.settings.storage_url.split("://")[0],
                                        "bus": self.settings.bus.split("://")[0]})

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.append(task)
        return task

    async def ready(self) -> bool:
        return not self.draining and await self.storage.ping() and await self.bus.ping()

    async def drain(self) -> None:
        """Stop taking work, let in-flight commands finish, close every socket with 1012."""
        if self.draining:
            return
        self.draining = True
        self.metrics.draining.set(1)
        sessions = list(self.hub.sessions.values())
        log.info("draining", extra={"node": self.id, "sockets": len(sessions)})
        for session in sessions:
            session.accepting = False
        deadline = self.settings.drain_seconds

        async def close_one(session: Any) -> None:
            try:
                await asyncio.wait_for(session.idle.wait(), deadline)
            except TimeoutError:
                pass
            session.close(CloseCode.DRAINING, "node draining")
            await session.wait_closed(2.0)

        await asyncio.gather(*(close_one(s) for s in sessions))

    async def stop(self) -> None:
        await self.drain()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.bus.close()
        await self.storage.close()
        log.info("node stopped", extra={"node": self.id})

    def _on_control(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind == "close_session":
            session = self.hub.sessions.get(message["session"])
            if session is not None:
                session.close(int(message["code"]), message.get("reason", ""))
