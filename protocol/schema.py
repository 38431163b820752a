"""A small declarative schema language for payloads: one definition validates frames and writes the docs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_KINDS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "number": (int, float),
    "bool": (bool,),
    "list": (list,),
    "object": (dict,),
    "id": (str, int),
}


# Integers a JSON client can represent exactly (JavaScript's safe range) and a 64-bit column can store: an int
# field without bounds of its own is held to these.
MIN_INT = -(2**53 - 1)
MAX_INT = 2**53 - 1


class SchemaError(ValueError):
    """A payload does not match its schema; `field` is the dotted path of the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    doc: str
    required: bool = True
    min: int | float | None = None  # a number's value, or a string's or list's length
    max: int | float | None = None
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    items: str | None = None  # kind of a list's elements
    fields: tuple[Field, ...] | None = None  # an object's own schema

    def describe(self) -> str:
        parts = [self.kind if self.kind != "list" else f"list of {self.items or 'any'}"]
        if self.choices:
            parts.append("one of " + ", ".join(f"`{c}`" for c in self.choices))
        if self.min is not None or self.max is not None:
            what = "value" if self.kind in ("int", "number") else "length"
            low = "" if self.min is None else self.min
            high = "" if self.max is None else self.max
            parts.append(f"{what} {low}..{high}")
        if self.pattern:
            parts.append(f"matches `{self.pattern}`")
        return ", ".join(parts)


def _check(spec: Field, value: Any, path: str) -> None:
    kinds = _KINDS[spec.kind]
    # bool is an int in Python; the wire does not treat it as one.
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise SchemaError(path, f"{path} must be {spec.kind}")
    size: float | int | None = None
    if spec.kind in ("int", "number"):
        size = value
        if not MIN_INT <= value <= MAX_INT:
            raise SchemaError(path, f"{path} must be between {MIN_INT} and {MAX_INT}")
    elif spec.kind in ("str", "list"):
        size = len(value)
    if size is not None:
        what = "" if spec.kind in ("int", "number") else " length"
        if spec.min is not None and size < spec.min:
            raise SchemaError(path, f"{path}{what} must be at least {spec.min}")
        if spec.max is not None and size > spec.max:
            raise SchemaError(path, f"{path}{what} must be at most {spec.max}")
    if spec.choices is not None and value not in spec.choices:
        raise SchemaError(path, f"{path} must be one of {', '.join(spec.choices)}")
    if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
        raise SchemaError(path, f"{path} has an invalid format")
    if spec.kind == "list" and spec.items is not None:
        item_spec = Field(name=spec.name, kind=spec.items, doc="")
        for index, item in enumerate(value):
            _check(item_spec, item, f"{path}[{index}]")
    if spec.kind == "object" and spec.fields is not None:
        validate(spec.fields, value, prefix=f"{path}.")


def validate(fields: tuple[Field, ...], data: Any, prefix: str = "") -> dict[str, Any]:
    """Check `data` against `fields`: unknown, missing and mistyped fields are refused by name."""
    if not isinstance(data, dict):
        raise SchemaError(prefix.rstrip(".") or "data", f"{prefix.rstrip('.') or 'data'} must be an object")
    known = {f.name: f for f in fields}
    for key in data:
        if key not in known:
            raise SchemaError(f"{prefix}{key}", f"unknown field {prefix}{key}")
    for spec in fields:
        path = f"{prefix}{spec.name}"
        if spec.name not in data or data[spec.name] is None:
            if spec.required:
                raise SchemaError(path, f"missing field {path}")
            # `null` for an optional field means absent: handlers then see only the values they can use.
            data.pop(spec.name, None)
            continue
        _check(spec, data[spec.name], path)
    return data


@dataclass(frozen=True)
class Command:
    """A client-to-server message: its payload schema, an example of it and of its reply."""

    type: str
    family: str
    summary: str
    fields: tuple[Field, ...] = ()
    example: dict[str, Any] = field(default_factory=dict)
    reply: dict[str, Any] = field(default_factory=dict)
    changes_state: bool = False  # accepts an `idem` key
    admin: bool = False
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Event:
    """A server-to-client push."""

    type: str
    family: str
    summary: str
    example: dict[str, Any] = field(default_factory=dict)
    topic: str | None = None  # set for broadcast topics; personal events carry `seq` instead
