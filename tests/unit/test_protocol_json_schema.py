"""The JSON Schema written for other languages (asyncapi.json's payloads) accepts exactly what the node's own
`validate` accepts, for every command: one definition, two readings that agree.

Two gaps are JSON Schema's, not ours, and are left out of the comparison: it counts 3.0 as an integer (the node
wants 3), and Python's `re.search` lets `$` match before a final newline (ECMA-262, which JSON Schema specifies,
does not).
"""

from __future__ import annotations

from typing import Any

import jsonschema
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from protocol import COMMANDS
from protocol.docs import load_examples
from protocol.schema import Field, SchemaError, object_schema, validate
from tests.support.strategies import payloads

EXAMPLES = load_examples()
CHECKERS = {name: jsonschema.Draft7Validator(object_schema(c.fields)) for name, c in COMMANDS.items()}


def _has_gap(value: Any) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, str):
        return value.endswith("\n")
    if isinstance(value, dict):
        return any(_has_gap(k) or _has_gap(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_gap(v) for v in value)
    return False


def _accepted(name: str, data: Any) -> bool:
    try:
        validate(COMMANDS[name].fields, data)
    except SchemaError:
        return False
    return True


def edge_values(spec: Field) -> list[Any]:
    """Values at and just past each limit of a field, where two readings of a schema are most likely to part."""
    edges: list[Any] = [None, True, 0, -1, 2.5, "", [], {}, [1], ["a"]]
    for limit in (spec.min, spec.max):
        if limit is not None:
            n = int(limit)
            edges += [n - 1, n, n + 1, "x" * max(n - 1, 0), "x" * n, "x" * (n + 1),
                      ["a"] * max(n - 1, 0), ["a"] * n, ["a"] * (n + 1)]
    if spec.choices:
        edges += [*spec.choices, spec.choices[0].upper() + "?"]
    if spec.pattern:
        edges += ["a b", "-" * 64, "-" * 65, "ok_1", "points:2026-W48", "points:2026-48", "ranking:points"]
    return edges


def edge_cases() -> list[tuple[str, dict[str, Any]]]:
    """Every command's captured (valid) data with one field, or one field of an object field, at an edge value."""
    cases = []
    for name, command in COMMANDS.items():
        base = EXAMPLES["commands"][name]["request"]["data"]
        for spec in command.fields:
            cases += [(name, {**base, spec.name: value}) for value in edge_values(spec)]
            for inner in spec.fields or ():
                inner_base = base.get(spec.name) or {f.name: 1 for f in spec.fields}
                cases += [(name, {**base, spec.name: {**inner_base, inner.name: v}}) for v in edge_values(inner)]
    return cases


def test_json_schema_and_validate_agree_at_every_limit() -> None:
    disagree = [(name, data) for name, data in edge_cases()
                if CHECKERS[name].is_valid(data) != _accepted(name, data)]
    assert disagree == []


commands_and_data = st.sampled_from(sorted(COMMANDS)).flatmap(
    lambda name: st.tuples(st.just(name), payloads(COMMANDS[name].fields)))


@settings(max_examples=200, deadline=None)
@given(commands_and_data)
def test_json_schema_and_validate_agree(case: tuple[str, dict[str, Any]]) -> None:
    name, data = case
    assume(not _has_gap(data))
    assert CHECKERS[name].is_valid(data) == _accepted(name, data), (name, data)


def test_both_outcomes_are_reached() -> None:
    """The property above is not vacuous: it sees data both readings accept and data both refuse."""
    seen: set[bool] = set()

    @settings(max_examples=200, deadline=None, database=None)
    @given(commands_and_data)
    def collect(case: tuple[str, dict[str, Any]]) -> None:
        seen.add(_accepted(*case))

    collect()
    assert seen == {True, False}
