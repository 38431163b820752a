"""The generated contract: docs/asyncapi.json is valid AsyncAPI 3.0 (by the official JSON schema), protocol.json is
what a node serves to the browser, and the generated files are current.

The AsyncAPI schema comes from the npm package `@asyncapi/specs` (installed globally by scripts/test.sh); it is
checked with the `jsonschema` package.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import orjson
import pytest

from protocol import COMMANDS
from server.game.catalog import RANKS, SLOTS
from tests.support.servers import REPO, ServerProcess

ASYNCAPI = REPO / "docs" / "asyncapi.json"
CONTRACT = REPO / "server" / "static" / "protocol.json"
SPEC_FILE = "@asyncapi/specs/schemas/3.0.0-without-$id.json"


def asyncapi_schema() -> dict[str, Any]:
    """The official AsyncAPI 3.0.0 JSON schema, from the globally installed npm package."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is missing: bash scripts/test.sh installs Debian's npm and @asyncapi/specs")
    root = subprocess.run([npm, "root", "--global"], capture_output=True, text=True, check=True).stdout.strip()
    path = Path(root) / SPEC_FILE
    if not path.exists():
        pytest.fail(f"{path} is missing: npm install --global @asyncapi/specs@6 (scripts/test.sh does)")
    return orjson.loads(path.read_bytes())


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = asyncapi_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_the_asyncapi_document_is_valid_asyncapi_3(validator: jsonschema.protocols.Validator) -> None:
    document = orjson.loads(ASYNCAPI.read_bytes())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(document)]
    assert errors == []
    assert document["asyncapi"] == "3.0.0"
    assert {m["name"] for m in document["components"]["messages"].values()} >= set(COMMANDS)


def test_the_schema_check_refuses_a_broken_document(validator: jsonschema.protocols.Validator) -> None:
    """The check above can fail: an operation with an action AsyncAPI does not know is refused."""
    document = orjson.loads(ASYNCAPI.read_bytes())
    broken = copy.deepcopy(document)
    next(iter(broken["operations"].values()))["action"] = "publish"  # AsyncAPI 2's word, gone in 3
    assert list(validator.iter_errors(broken)) != []
    del broken["info"]
    assert not validator.is_valid(broken)


def test_asyncapi_payloads_accept_the_captured_requests() -> None:
    """Each command's payload schema in the AsyncAPI document accepts its captured request and refuses a typo."""
    document = orjson.loads(ASYNCAPI.read_bytes())
    for name, command in COMMANDS.items():
        message = document["components"]["messages"][name]
        payload_check = jsonschema.Draft7Validator(message["payload"])
        for example in message["examples"]:
            assert payload_check.is_valid(example["payload"]), (name, example)
        if command.fields:
            assert not payload_check.is_valid({"type": name, "data": {"no_such_field": 1}}), name


def test_generated_files_are_current() -> None:
    """`valgame docs --check`: PROTOCOL.md, asyncapi.json and protocol.json match the definitions and examples."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VALGAME_")}
    result = subprocess.run([sys.executable, "-m", "server", "docs", "--check"], cwd=REPO, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_protocol_json_carries_what_clients_copied() -> None:
    contract = orjson.loads(CONTRACT.read_bytes())
    assert contract["close_codes"]["NOT_AUTHENTICATED"]["code"] == 4001
    assert "market.browse" in contract["read_only"] and "market.buy" not in contract["read_only"]
    assert contract["commands"]["market.buy"]["retry"] == "with_idem"
    assert contract["commands"]["chat.send"]["retry"] == "never"
    assert [r["code"] for r in contract["game"]["ranks"]] == list(RANKS)
    assert contract["game"]["slots"] == list(SLOTS)
    kit = contract["game"]["starting_kit"]
    assert kit["items"] == [{"code": "pocion-vida-menor", "count": 3}, {"code": "daga-oxidada", "count": 1}]
    assert len(kit["characters"]) == 1
    assert {"/auth/register", "/auth/login", "/admin/broadcast"} <= contract["http"].keys()


def test_the_protocol_lists_the_catalog_s_ranks_and_slots() -> None:
    """Choices written in protocol/messages.py follow the game's catalog."""
    rank_choices = next(f.choices for f in COMMANDS["market.browse"].fields if f.name == "rank")
    slot_choices = next(f.choices for f in COMMANDS["character.unequip"].fields if f.name == "slot")
    assert rank_choices == tuple(RANKS) and slot_choices == SLOTS


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    node = ServerProcess(tmp_path_factory.mktemp("contract-node")).start()
    yield node
    node.kill()


def test_a_node_serves_protocol_json_to_the_browser(node: ServerProcess) -> None:
    response = httpx.get(node.http + "/protocol.json", timeout=10)
    assert response.status_code == 200
    # a JSON module import (`import ... with { type: "json" }`) needs this exact media type
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert response.content == CONTRACT.read_bytes()
