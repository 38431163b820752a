"""Hypothesis strategies for client frames: any JSON value, and frames of the protocol's real command types."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from protocol import COMMANDS
from protocol.schema import Field

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**63), max_value=2**64)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=80))
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)
good_ids = st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.text(max_size=64)
frame_ids = st.none() | st.booleans() | st.integers() | st.text(max_size=70) | st.floats(allow_nan=False) | json_values


def valid_id(value: Any) -> bool:
    """Whether the protocol accepts `value` as a frame id (so a reply must echo it)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return len(value) <= 64
    return isinstance(value, int) and -(2**53) < value < 2**53


def field_values(spec: Field) -> st.SearchStrategy[Any]:
    """Values that mostly satisfy the field's schema (so frames reach the handlers), sometimes anything."""
    good: st.SearchStrategy[Any]
    low = spec.min if spec.min is not None else 0
    if spec.choices:
        good = st.sampled_from(spec.choices)
    elif spec.kind == "str" and spec.pattern:
        good = st.from_regex(spec.pattern, fullmatch=True).filter(lambda s: len(s) <= 64)
    elif spec.kind == "str":
        good = st.text(min_size=int(low), max_size=int(min(spec.max or 80, 80)))
    elif spec.kind in ("int", "number"):
        good = st.integers(min_value=int(spec.min if spec.min is not None else -10),
                           max_value=int(spec.max if spec.max is not None else 10_000))
    elif spec.kind == "bool":
        good = st.booleans()
    elif spec.kind == "list":
        item = field_values(Field(spec.name, spec.items, "")) if spec.items else json_values
        good = st.lists(item, min_size=int(low), max_size=int(min(spec.max or 5, 5)))
    elif spec.kind == "object" and spec.fields:
        good = payloads(spec.fields)
    else:
        good = json_values
    return st.one_of(good, good, good, json_values)


def payloads(fields: tuple[Field, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """A `data` object: the required fields, some optional ones, now and then a missing or an unknown one."""
    required = {f.name: field_values(f) for f in fields if f.required}
    optional = {f.name: field_values(f) for f in fields if not f.required}

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        data = draw(st.fixed_dictionaries(required, optional=optional))
        if data and draw(st.integers(0, 9)) == 0:
            data.pop(draw(st.sampled_from(sorted(data))))
        if draw(st.integers(0, 9)) == 0:
            data[draw(st.text(max_size=10))] = draw(json_values)
        return data

    return build()


@st.composite
def command_frames(draw: st.DrawFn) -> dict[str, Any]:
    """A frame of a real command type: mostly well-formed, with every part now and then wrong."""
    command = COMMANDS[draw(st.sampled_from(sorted(COMMANDS)))]
    frame: dict[str, Any] = {"type": command.type}
    if draw(st.integers(0, 9)):
        frame["id"] = draw(good_ids)
    elif draw(st.booleans()):
        frame["id"] = draw(frame_ids)
    shape = draw(st.integers(0, 19))
    if shape < 17:
        frame["data"] = draw(payloads(command.fields))
    elif shape == 17:
        frame["data"] = draw(json_values)
    elif shape == 18:
        frame["data"] = None
    if draw(st.integers(0, 4)) == 0:
        frame["idem"] = draw(st.text(min_size=1, max_size=64) | json_values)
    if draw(st.integers(0, 19)) == 0:
        frame[draw(st.text(max_size=8))] = draw(json_values)
    return frame
