"""In-process chat history: the last messages, in order."""

from __future__ import annotations

from collections import deque
from typing import Any


class MemoryChatHistory:
    def __init__(self) -> None:
        self._chat: deque[dict[str, Any]] = deque()

    async def chat_append(self, message: dict[str, Any], keep: int) -> None:
        self._chat.append(message)
        while len(self._chat) > keep:
            self._chat.popleft()

    async def chat_history(self, count: int) -> list[dict[str, Any]]:
        return list(self._chat)[-count:] if count > 0 else []
