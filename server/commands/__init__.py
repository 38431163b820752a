"""Command handlers; importing this package registers every family."""

from server.commands import characters, combat, market, ops, session, social  # noqa: F401  (registers handlers)
from server.commands.registry import HANDLERS, Call, CommandContext, handles

__all__ = ["HANDLERS", "Call", "CommandContext", "handles"]
