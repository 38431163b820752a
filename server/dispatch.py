"""From a raw frame to exactly one reply: decode, authorise, run the handler, map errors to protocol codes.

Every command has a deadline (`command_deadline_seconds`): a handler still running then stops waiting and the
command is answered `unavailable` with `retry_after_ms`, as is one whose storage gave up first (`Unavailable`:
documents held by a dead node's transaction, a store that does not answer) or whose bus could not be reached
(`BusUnavailable`: an operator's look-up of a player's sockets while Redis is down). A commit already started is not cut
in half: it ends by itself, bounded by `storage_commit_seconds`, with its idempotency record (server/players.py),
so a retry with the same `idem` key gets the one true outcome.
"""

from __future__ import annotations

import logging
import random
from time import perf_counter

from persistence import Unavailable
from protocol import COMMANDS, ErrorCode, FrameError, decode, encode_error, encode_reply
from server.bus import BusUnavailable
from server.commands import HANDLERS, Call, CommandContext
from server.deadlines import Deadline
from server.game.errors import GameError
from server.metrics import Metrics
from server.players import Reply
from server.session import Session

log = logging.getLogger("valgame.dispatch")


def retry_after_ms(retry_after: float) -> int:
    """The wait an `unavailable` answer asks for (a command's or an HTTP request's): `retry_after` spread up to twice
    that, so clients cut off together do not come back together."""
    return max(1, int(retry_after * (1 + random.random()) * 1000))


async def dispatch(ctx: CommandContext, metrics: Metrics, session: Session, raw: str | bytes,
                   deadline: Deadline, retry_after: float) -> None:
    """Answer one frame within `deadline`; `retry_after` is the wait an `unavailable` reply asks for
    (spread up to twice that, so clients cut off together do not come back together). The session is not idle
    until the reply is queued: a drain waits for that (server/node.py)."""
    idle = session.idle
    idle.clear()
    try:
        started = perf_counter()
        try:
            frame = decode(raw)
        except FrameError as exc:
            # Only the protocol's own types become label values: a client-chosen type would grow the metrics unbounded.
            metrics.commands.record(exc.type if exc.type in COMMANDS else "invalid", str(exc.code))
            session.send(exc.reply())
            return

        outcome = "ok"
        try:
            if frame.type == "auth":
                raise GameError(ErrorCode.BAD_REQUEST, "already authenticated", field="type")
            if frame.command.admin and session.role != "admin":
                raise GameError(ErrorCode.FORBIDDEN, "operators only")
            if not session.accepting:
                raise GameError(ErrorCode.MAINTENANCE, "node draining; reconnect to another node")
            with deadline:
                result = await HANDLERS[frame.type](Call(ctx, session, frame, session.player_id))
            if type(result) is Reply:
                session.send(encode_reply(frame.id, frame.type, result.data, replayed=result.replayed))
            else:
                session.send(encode_reply(frame.id, frame.type, result))
        except GameError as exc:
            outcome = str(exc.code)
            session.send(encode_error(frame.id, frame.type, exc.code, exc.message, **exc.extra))
        except (TimeoutError, Unavailable, BusUnavailable):  # storage or bus out of reach, or the deadline
            outcome = str(ErrorCode.UNAVAILABLE)
            session.send(encode_error(frame.id, frame.type, ErrorCode.UNAVAILABLE,
                                      "not done in time; retry later (a change only with the same idem key)",
                                      retry_after_ms=retry_after_ms(retry_after)))
        except Exception:
            outcome = "internal"
            log.exception("command failed", extra={"type": frame.type, "player": session.player_id})
            session.send(encode_error(frame.id, frame.type, ErrorCode.INTERNAL, "internal error"))
        metrics.commands.record(frame.type, outcome, perf_counter() - started)
    finally:
        idle.set()
