"""`protocol.decode` on anything a client could send: it returns a Frame or raises FrameError, nothing else, and
the FrameError's reply is a well-formed error frame."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import COMMANDS, ErrorCode, Frame, FrameError, decode
from protocol.docs import load_examples
from tests.support.strategies import command_frames, json_values, valid_id

EXAMPLES = settings(max_examples=300, deadline=None)
CAPTURED = load_examples()


def check(raw: str | bytes, sent: Any = None) -> None:
    """The property: a Frame of a known command, or a FrameError whose reply is a valid error frame."""
    try:
        frame = decode(raw)
    except FrameError as exc:
        reply = orjson.loads(exc.reply())
        assert reply["ok"] is False
        assert reply["error"]["code"] in {str(code) for code in ErrorCode}
        assert reply["error"]["code"] != "internal"
        assert isinstance(reply["error"]["message"], str) and reply["error"]["message"]
        assert reply["id"] is None or isinstance(reply["id"], (str, int))
        assert set(reply) == {"id", "type", "ok", "error"}
        if isinstance(sent, dict) and valid_id(sent.get("id")) and reply["error"].get("field") != "id":
            assert reply["id"] == sent.get("id")  # the client can match the refusal to its command
        if reply["error"]["code"] == "unknown_type":
            assert reply["type"] is not None
        return
    assert isinstance(frame, Frame)
    assert frame.type in COMMANDS
    assert isinstance(frame.data, dict)
    assert frame.id is None or (isinstance(frame.id, (str, int)) and not isinstance(frame.id, bool))
    assert frame.idem is None or (isinstance(frame.idem, str) and 0 < len(frame.idem) <= 64)
    if isinstance(sent, dict):
        assert frame.id == sent.get("id")


@EXAMPLES
@given(st.binary(max_size=300))
def test_decode_arbitrary_bytes(raw: bytes) -> None:
    check(raw)


@EXAMPLES
@given(st.text(alphabet=st.characters(categories=["Cs"]) | st.characters(), max_size=200))
def test_decode_arbitrary_text_including_lone_surrogates(raw: str) -> None:
    check(raw)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_decode_arbitrary_json_values(value: Any) -> None:
    check(json.dumps(value), value)  # the stdlib writes integers of any size, which orjson cannot
    check(json.dumps(value).encode(), value)


@settings(max_examples=300, deadline=None)
@given(command_frames())
def test_decode_frames_of_real_command_types(frame: dict[str, Any]) -> None:
    check(json.dumps(frame), frame)


@EXAMPLES
@given(st.sampled_from(sorted(COMMANDS)), st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1))
def test_a_valid_example_of_every_command_decodes(command: str, frame_id: int) -> None:
    """The documented example of each command (captured from a node) is a valid frame (so the generators above can
    reach success)."""
    example = CAPTURED["commands"][command]["request"]["data"]
    raw = json.dumps({"id": frame_id, "type": command, "data": example})
    frame = decode(raw)
    assert frame.type == command and frame.id == frame_id
    assert frame.data == example


def test_the_generators_reach_both_outcomes() -> None:
    """Guard against a generator so broken that it only ever produces errors (or only successes)."""
    outcomes: set[str] = set()

    @settings(max_examples=100, deadline=None, database=None)
    @given(command_frames())
    def collect(frame: dict[str, Any]) -> None:
        try:
            decode(json.dumps(frame))
            outcomes.add("frame")
        except FrameError as exc:
            outcomes.add(str(exc.code))

    collect()
    assert {"frame", "bad_request"} <= outcomes, outcomes
