"""A Python client SDK for Valgame's protocol v1 (docs/CLIENT.md).

- `valgame_client.core`: the sans-I/O core (ids, replies, events, seq, resume, idem keys, what is safe to retry);
- `valgame_client.aio.AsyncClient`: the asyncio shell (`websockets`);
- `valgame_client.sync.Client`: the blocking shell (`websocket-client`), for scripts and Locust;
- `valgame_client.http`: register / login / refresh and the operators' REST, as request builders and a blocking
  sender.

The shells are imported from their modules, so the core and the HTTP helpers need neither socket library.
"""

from valgame_client.core import (
    KEYED,
    READ_ONLY,
    Authenticated,
    ClientProtocol,
    Command,
    Event,
    Reply,
    Resync,
    Unreadable,
    new_idem_key,
)
from valgame_client.errors import CommandError, ConnectionLost
from valgame_client.http import HttpError, HttpRequest, Tokens

__all__ = [
    "KEYED", "READ_ONLY", "Authenticated", "ClientProtocol", "Command", "CommandError", "ConnectionLost", "Event",
    "HttpError", "HttpRequest", "Reply", "Resync", "Tokens", "Unreadable", "new_idem_key",
]
