"""The examples of docs/PROTOCOL.md are what a running node says: captured again here and compared by shape.

The capture (tests/contract/protocol_capture.py) plays every command on real nodes. A reply that gained, lost or
retyped a field fails here until the examples are captured again and the docs re-rendered:

    PYTHONPATH=$PWD python3 -m tests.contract.protocol_capture && PYTHONPATH=$PWD python3 -m server docs
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from protocol import COMMANDS, EVENTS, FrameError, decode
from protocol.bodies import BODIES
from protocol.docs import load_examples
from tests.contract.protocol_capture import capture, dump, shape_differences

COMMITTED = load_examples()
RECAPTURE = "recapture: python3 -m tests.contract.protocol_capture && python3 -m server docs"

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
async def captured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return await capture(Path(tmp_path_factory.mktemp("capture")))


def test_every_message_and_http_body_has_a_captured_example() -> None:
    assert sorted(COMMITTED["commands"]) == sorted(COMMANDS), RECAPTURE
    assert sorted(COMMITTED["events"]) == sorted(EVENTS), RECAPTURE
    assert {e["path"] for e in COMMITTED["http"].values()} >= set(BODIES) - {"/admin/broadcast", "/admin/kick",
                                                                              "/admin/drain"}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_documented_request_is_a_valid_frame(command: str) -> None:
    """The protocol's own schema accepts every documented request (a node did; so must the schema)."""
    request = COMMITTED["commands"][command]["request"]
    try:
        frame = decode(dump(request))
    except FrameError as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"{command}: {exc.message} ({exc.field})")
    assert frame.type == command


def test_a_running_node_replies_in_the_shape_of_the_examples(captured: dict[str, Any]) -> None:
    differences = [f"{section}.{name}{where}"
                   for section in ("http", "commands", "events", "errors")
                   for name in sorted(COMMITTED[section].keys() | captured[section].keys())
                   for where in (shape_differences(COMMITTED[section].get(name), captured[section].get(name))
                                 if name in COMMITTED[section] and name in captured[section]
                                 else [": captured only once"])]
    assert differences == [], RECAPTURE + "\n" + "\n".join(differences)


def test_documented_http_statuses_are_what_the_node_answers(captured: dict[str, Any]) -> None:
    statuses = {name: e["status"] for name, e in captured["http"].items()}
    assert statuses == {name: e["status"] for name, e in COMMITTED["http"].items()}, RECAPTURE


def _refusals(examples: dict[str, Any]) -> dict[str, Any]:
    """Every documented error object: they hold no random values, so they must match to the letter."""
    out = {f"http {name}": e["response"]["error"] for name, e in examples["http"].items() if "error" in e["response"]}
    for section in ("commands", "errors"):
        out |= {f"{section} {name}": e["reply"]["error"] for name, e in examples[section].items()
                if not e["reply"]["ok"]}
    return out


def test_documented_errors_are_word_for_word_what_the_node_answers(captured: dict[str, Any]) -> None:
    assert _refusals(captured) == _refusals(COMMITTED), RECAPTURE


def test_the_shape_comparison_sees_a_missing_an_extra_and_a_retyped_field() -> None:
    """The comparison above can fail: the mistakes PROTOCOL.md had before it was captured are all caught."""
    real = COMMITTED["commands"]["catalog.get"]["reply"]
    keyed_by_name = {**real, "data": {**real["data"], "dungeons": {"cueva-goblins": {"min_level": 1}}}}
    assert shape_differences(keyed_by_name, real) == [".data.dungeons: object in the examples, array from the node"]
    character = COMMITTED["commands"]["character.list"]["reply"]["data"]["characters"][0]
    fewer = {k: v for k, v in character.items() if k != "in_combat"}
    assert shape_differences(fewer, character) == [".in_combat: sent by the node, missing from the examples"]
    assert shape_differences({**character, "mana": 3}, character) == [".mana: in the examples, no longer sent by the "
                                                                      "node"]
