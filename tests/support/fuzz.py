"""A seeded frame fuzzer built on the protocol's own schemas, and a runner that fires it at a live node.

Fast enough for 20,000 frames in the suite (tests/integration/test_fuzz_node.py) and 100,000+ from
`python scripts/fuzz.py`. Each frame is a real command type with a payload that is valid, or valid but for one
mutation (a field dropped, nulled, retyped, huge, empty, very long, full of odd characters, an unknown field), or
not a command at all (other JSON, not JSON, nested deeply). Whatever it is, the node must answer it with exactly
one reply, never `internal`, and keep the socket open.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from protocol import COMMANDS
from protocol.schema import Field

ODD_TEXT = ["", " ", "\u0000", "\u202e", "é" * 40, "😀" * 20, "<script>", "' OR 1=1 --", "%s%n", "\\", "\ud7ff",
            "a" * 5000, "0", "-1", "null", "true", "[]", "{}", "\n\r\t"]
ODD_NUMBERS = [0, -1, 1, 2**31, 2**53, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**30, 0.5, -0.0, 1e308, -1e308]


def _value(rng: random.Random, spec: Field) -> Any:
    """A value the field accepts (mostly), so that a frame reaches the handler."""
    if spec.choices:
        return rng.choice(spec.choices)
    if spec.kind in ("int", "number"):
        low = int(spec.min) if spec.min is not None else 0
        high = int(spec.max) if spec.max is not None else max(low, 1000)
        return rng.randint(low, high)
    if spec.kind == "bool":
        return rng.random() < 0.5
    if spec.kind == "list":
        item = Field(spec.name, spec.items, "") if spec.items else None
        size = rng.randint(int(spec.min or 0), int(min(spec.max or 3, 3)))
        return [_value(rng, item) if item else _odd(rng) for _ in range(size)]
    if spec.kind == "object":
        return _payload(rng, spec.fields or ())
    if spec.pattern:
        return rng.choice(["market", "chat:global", "ranking:points", "cueva-goblins", "c_1", "l_1", "abc_12"])
    length = rng.randint(int(spec.min or 0), int(min(spec.max or 16, 16)))
    return "".join(rng.choice("abcdefghij_-0123456789") for _ in range(length))


def _payload(rng: random.Random, fields: tuple[Field, ...]) -> dict[str, Any]:
    return {f.name: _value(rng, f) for f in fields if f.required or rng.random() < 0.5}


def _odd(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON value, leaning to the ones that break parsers and databases."""
    roll = rng.randrange(8 if depth < 3 else 5)
    if roll == 0:
        return None
    if roll == 1:
        return rng.random() < 0.5
    if roll == 2:
        return rng.choice(ODD_NUMBERS)
    if roll in (3, 4):
        return rng.choice(ODD_TEXT)
    if roll == 5:
        return [_odd(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(ODD_TEXT[:12]): _odd(rng, depth + 1) for _ in range(rng.randrange(4))}


def _mutate(rng: random.Random, data: dict[str, Any], fields: tuple[Field, ...]) -> dict[str, Any]:
    names = [f.name for f in fields]
    kind = rng.randrange(7)
    if kind == 0 and data:
        data.pop(rng.choice(sorted(data)))
    elif kind == 1 and names:
        data[rng.choice(names)] = None
    elif kind == 2 and names:
        data[rng.choice(names)] = _odd(rng)
    elif kind == 3 and names:
        data[rng.choice(names)] = rng.choice(ODD_NUMBERS)
    elif kind == 4 and names:
        data[rng.choice(names)] = rng.choice(ODD_TEXT)
    elif kind == 5:
        data[rng.choice(ODD_TEXT[:12]) or "x"] = _odd(rng)
    return data


def frame(rng: random.Random, index: int) -> str:
    """One frame's text. Its id is `index` unless the frame is meant to carry a bad one."""
    roll = rng.randrange(100)
    if roll < 3:
        return rng.choice(["not json", "{", "[1,2", "\"text\"", "", " " * 100, "\u0000"])
    if roll < 6:
        return json.dumps(_odd(rng))
    if roll < 8:
        nested: Any = index
        for _ in range(rng.randrange(20, 300)):
            nested = [nested]
        return json.dumps({"id": index, "type": "ping", "data": {"echo": nested}})
    if roll < 10:
        return json.dumps({"id": index, "type": rng.choice(["nope", "auth", "", "ping.", "PING", "x" * 200]),
                           "data": {}})
    command = COMMANDS[rng.choice(sorted(COMMANDS))]
    body: dict[str, Any] = {"type": command.type, "data": _payload(rng, command.fields)}
    if command.type == "auth":  # a second auth on an open session: its own error, not a new login
        body["data"] = {"token": "x"}
    if roll < 60:
        body["data"] = _mutate(rng, body["data"], command.fields)
    elif roll < 63:
        body["data"] = _odd(rng)
    body["id"] = index if roll < 97 else rng.choice([None, True, 1.5, [], "x" * 100, 2**60])
    if command.changes_state and rng.random() < 0.2:
        body["idem"] = rng.choice([f"k{index}", "", 5, None, "x" * 80])
    return json.dumps(body)


@dataclass
class FuzzReport:
    frames: int = 0
    replies: int = 0
    internal: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
    closes: list[int | None] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"{self.frames} frames, {self.replies} replies, {len(self.internal)} internal, "
                f"{len(self.tracebacks)} tracebacks in replies, closes {sorted(set(self.closes), key=str)}, "
                f"{self.seconds:.1f} s")


async def fire(ws_url: str, tokens: list[str], count: int, seed: int, batch: int = 200) -> FuzzReport:
    """Send `count` fuzzed frames spread over one socket per token, `batch` at a time per socket, each batch
    ended by a ping that must come back: every frame before it has then been answered."""
    from tests.support.client import Client

    report = FuzzReport()
    started = time.monotonic()

    async def one(token: str, share: int, worker: int) -> None:
        rng = random.Random(seed * 1000 + worker)
        client, _ = await Client.open(ws_url, token)
        try:
            sent = 0
            while sent < share:
                start = len(client.replies)
                size = min(batch, share - sent)
                for i in range(size):
                    await client.send_raw(frame(rng, worker * 10_000_000 + sent + i))
                sent += size
                end = await client.request("ping", {"echo": "end"}, frame_id=f"end-{worker}-{sent}", timeout=60)
                assert end["ok"], end
                replies = client.replies[start:-1]
                report.frames += size
                report.replies += len(replies)
                for reply in replies:
                    text = json.dumps(reply)
                    if not reply.get("ok") and reply.get("error", {}).get("code") == "internal":
                        report.internal.append(text[:500])
                    if "Traceback" in text:
                        report.tracebacks.append(text[:500])
        finally:
            report.closes.append(client.close_code)
            await client.close()

    share = count // len(tokens)
    await asyncio.gather(*(one(token, share, worker) for worker, token in enumerate(tokens)))
    report.seconds = time.monotonic() - started
    return report
