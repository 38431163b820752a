"""A small declarative schema language for payloads: one definition validates frames and writes the docs."""

from __future__ import annotations

import re
from dataclasses import dataclass
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

    def contract(self) -> dict[str, Any]:
        """This field as protocol.json describes it: only the constraints that are set."""
        out: dict[str, Any] = {"name": self.name, "type": self.kind, "required": self.required, "doc": self.doc}
        for key in ("min", "max", "pattern", "items"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.choices is not None:
            out["choices"] = list(self.choices)
        if self.fields is not None:
            out["fields"] = [f.contract() for f in self.fields]
        return out

    def json_schema(self) -> dict[str, Any]:
        """This field as JSON Schema (draft 07, as AsyncAPI 3 embeds it), with the same limits `validate` checks."""
        schema: dict[str, Any] = dict(_JSON_TYPES[self.kind])
        schema["description"] = self.doc
        low, high = ("minimum", "maximum") if self.kind in ("int", "number") else (
            ("minItems", "maxItems") if self.kind == "list" else ("minLength", "maxLength"))
        if self.min is not None and self.kind in ("int", "number", "str", "list"):
            schema[low] = self.min
        if self.max is not None and self.kind in ("int", "number", "str", "list"):
            schema[high] = self.max
        if self.kind == "int":  # the bounds `validate` holds every int to when the field sets none of its own
            schema.setdefault(low, MIN_INT)
            schema.setdefault(high, MAX_INT)
        if self.choices is not None:
            schema["enum"] = list(self.choices)
        if self.pattern is not None:
            schema["pattern"] = f"^(?:{self.pattern})$"  # `validate` matches the whole string
        if self.kind == "list" and self.items is not None:
            schema["items"] = dict(_JSON_TYPES[self.items])
        if self.kind == "object" and self.fields is not None:
            schema.update(object_schema(self.fields))
        return schema


# How each kind is written in JSON Schema; `id` is a frame id (string or integer).
_JSON_TYPES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "number": {"type": "number"},
    "bool": {"type": "boolean"},
    "list": {"type": "array"},
    "object": {"type": "object"},
    "id": {"type": ["string", "integer"]},
}


def object_schema(fields: tuple[Field, ...]) -> dict[str, Any]:
    """The JSON Schema of an object holding exactly these fields (unknown ones are refused, as `validate` does)."""
    properties: dict[str, Any] = {}
    for f in fields:
        properties[f.name] = f.json_schema()
        if not f.required:  # `validate` takes null for an optional field as absent
            kinds = properties[f.name]["type"]
            properties[f.name]["type"] = [*(kinds if isinstance(kinds, list) else [kinds]), "null"]
            if "enum" in properties[f.name]:
                properties[f.name]["enum"].append(None)
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    required = [f.name for f in fields if f.required]
    if required:
        schema["required"] = required
    return schema


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
        raise SchemaError(path, f"{path} must match {spec.pattern}")
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
    """A client-to-server message and its payload schema. Its examples are captured from a running node
    (protocol/examples.json, written by tests/contract/protocol_capture.py)."""

    type: str
    family: str
    summary: str
    fields: tuple[Field, ...] = ()
    changes_state: bool = False  # accepts an `idem` key
    admin: bool = False
    errors: tuple[str, ...] = ()
    # Changes nothing stored (reads, and subscriptions of this connection): a client may send it again after a
    # reconnect without an `idem` key. A command that changes state is safe to resend only with its `idem` key.
    read_only: bool = False

    @property
    def retry(self) -> str:
        """When a client may resend it after losing the reply: `always`, `with_idem` or `never`."""
        if self.read_only:
            return "always"
        return "with_idem" if self.changes_state else "never"


@dataclass(frozen=True)
class Event:
    """A server-to-client push."""

    type: str
    family: str
    summary: str
    topic: str | None = None  # set for broadcast topics; personal events carry `seq` instead


@dataclass(frozen=True)
class Body:
    """The JSON body of an HTTP request beside the socket, validated by `validate` like a command's data."""

    method: str
    path: str
    summary: str
    fields: tuple[Field, ...] = ()
    auth: str = "none"  # `none`, `bearer` (an access token) or `admin` (an operator's access token)
    answers: str = ""  # the statuses and bodies it answers, for the docs
