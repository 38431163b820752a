"""Node settings: environment, flags, and their documentation."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli import main
from server.node import Node
from server.settings import Settings, documented_settings

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md"


def test_environment_then_explicit_values_win() -> None:
    env = {"VALGAME_PORT": "9001", "VALGAME_RATE_BURST": "7", "VALGAME_WS_PER_MESSAGE_DEFLATE": "true",
           "VALGAME_GAME": '{"energy_regen_seconds": 1}', "OTHER": "x"}
    settings = Settings.from_env(env, port=9002)
    assert settings.port == 9002
    assert settings.rate_burst == 7
    assert settings.ws_per_message_deflate is True
    assert settings.game_overrides == {"energy_regen_seconds": 1}


def test_game_overrides_must_be_an_object() -> None:
    with pytest.raises(ValueError):
        Settings.from_env({"VALGAME_GAME": "[1]"})


def test_every_setting_is_documented_in_operations() -> None:
    text = OPERATIONS.read_text()
    for env, flag, _, doc in documented_settings():
        assert doc, f"{env} has no description"
        assert f"`{env}`" in text and f"`{flag}`" in text, f"{env} is missing from docs/OPERATIONS.md"


def test_every_setting_is_a_serve_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    for _, flag, _, _ in documented_settings():
        assert flag in text


def test_a_node_refuses_a_commit_budget_not_below_the_command_deadline(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="storage_commit_seconds"):
        Node(Settings(data_dir=str(tmp_path), command_deadline_seconds=5, storage_commit_seconds=5))
    Node(Settings(data_dir=str(tmp_path), command_deadline_seconds=5, storage_commit_seconds=4.9))  # accepted
