"""Command handlers, one module per family (`*_cmds.py`); importing this package registers every family."""

from server.commands import (  # noqa: F401  (registers handlers)
    character_cmds,
    combat_cmds,
    market_cmds,
    ops_cmds,
    session_cmds,
    social_cmds,
)
from server.commands.registry import HANDLERS, Call, CommandContext, handles

__all__ = ["HANDLERS", "Call", "CommandContext", "handles"]
