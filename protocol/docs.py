"""Renders docs/PROTOCOL.md, docs/asyncapi.json and protocol.json from the protocol's definitions and the examples
captured from running nodes (protocol/examples.json), so none of them can drift from what the server does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from protocol.asyncapi import render_asyncapi
from protocol.codes import CLOSE_MEANINGS, ERROR_MEANINGS
from protocol.contract import render_contract
from protocol.guide import SESSION, Examples, block, first_five_minutes, http_section, intro
from protocol.messages import COMMANDS, EVENTS
from protocol.schema import Field

EXAMPLES = Path(__file__).parent / "examples.json"

def _field_rows(fields: tuple[Field, ...], prefix: str = "") -> list[str]:
    rows = []
    for f in fields:
        need = "yes" if f.required else "no"
        rows.append(f"| `{prefix}{f.name}` | {f.describe()} | {need} | {f.doc} |")
        if f.fields:
            rows.extend(_field_rows(f.fields, prefix=f"{prefix}{f.name}."))
    return rows


def load_examples() -> Examples:
    """protocol/examples.json; a message without a captured example is an error, not a gap in the docs."""
    examples: Examples = orjson.loads(EXAMPLES.read_bytes())
    missing = [*(c for c in COMMANDS if c not in examples["commands"]),
               *(e for e in EVENTS if e not in examples["events"])]
    if missing:
        raise ValueError(f"no captured example of {', '.join(missing)} in {EXAMPLES}: add it to "
                         "tests/contract/protocol_capture.py and run `python3 -m tests.contract.protocol_capture`")
    return examples


def render_protocol(examples: Examples) -> str:
    out = [intro(examples), first_five_minutes(examples), SESSION, http_section(examples)]
    families: dict[str, list[str]] = {}
    for command in COMMANDS.values():
        families.setdefault(command.family, [])
    for event in EVENTS.values():
        families.setdefault(event.family, [])
    out.append("## Messages\n")
    for family in families:
        out.append(f"### Family `{family}`\n")
        for command in (c for c in COMMANDS.values() if c.family == family):
            flags = []
            if command.read_only:
                flags.append("read-only")
            if command.changes_state:
                flags.append("accepts `idem`")
            if command.admin:
                flags.append("admin only")
            suffix = f" ({', '.join(flags)})" if flags else ""
            out.append(f"#### `{command.type}` (command){suffix}\n\n{command.summary}\n")
            if command.fields:
                out.append("| field | type | required | meaning |\n|---|---|---|---|")
                out.extend(_field_rows(command.fields))
                out.append("")
            else:
                out.append("No `data`.\n")
            captured = examples["commands"][command.type]
            if not captured["reply"]["ok"]:
                out.append("Captured from a new player, who is refused:\n")
            out.append(block(captured["request"], captured["reply"]))
            if command.errors:
                out.append("Errors: " + ", ".join(f"`{e}`" for e in command.errors) + ".\n")
        for event in (e for e in EVENTS.values() if e.family == family):
            where = f"topic `{event.topic}`" if event.topic else "personal, with `seq`"
            out.append(f"#### `{event.type}` (event, {where})\n\n{event.summary}\n")
            out.append(block(examples["events"][event.type]))
    out.append("## Error codes (`error.code`)\n\n| code | meaning |\n|---|---|")
    out.extend(f"| `{code}` | {meaning} |" for code, meaning in ERROR_MEANINGS.items())
    out.append("\n## Close codes\n\n| code | meaning |\n|---|---|")
    out.extend(f"| {int(code)} | {meaning} |" for code, meaning in CLOSE_MEANINGS.items())
    return "\n".join(out) + "\n"


def render_artifacts(game: dict[str, Any]) -> dict[str, str]:
    """Every generated file by name: PROTOCOL.md, asyncapi.json and the browser's protocol.json."""
    examples = load_examples()
    return {"PROTOCOL.md": render_protocol(examples), "asyncapi.json": render_asyncapi(examples),
            "protocol.json": render_contract(game)}
