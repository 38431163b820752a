"""Exceptions the client shells raise (the HTTP one, HttpError, lives with the HTTP helpers)."""

from __future__ import annotations

from typing import Any


class CommandError(Exception):
    """An error reply: the server refused the command (`code` is one of the protocol's error codes)."""

    def __init__(self, reply: dict[str, Any]) -> None:
        error = reply.get("error") or {}
        super().__init__(f"{reply.get('type')}: {error}")
        self.reply = reply
        self.error: dict[str, Any] = error
        self.code: str | None = error.get("code")


class ConnectionLost(ConnectionError):
    """The socket closed before the reply came. For a change sent without an idem key the outcome is unknown:
    check (e.g. `state.get`) before trying again. `close_code` is the socket's close code, when there was one."""

    def __init__(self, message: str, close_code: int | None = None) -> None:
        super().__init__(message)
        self.close_code = close_code
