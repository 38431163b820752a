"""The backup and restore commands of `valgame admin`, run as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from tests.support.servers import REPO


def admin(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """`python -m server admin ARGS` with only the VALGAME_* variables in `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VALGAME_")}
    return subprocess.run([sys.executable, "-m", "server", "admin", *args, "--log-level", "warning"], cwd=REPO,
                          env={**clean, **(env or {})}, capture_output=True, timeout=timeout)


def backup(data_dir: Path, backup_dir: Path, *extra: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = admin("backup", "--data-dir", str(data_dir), "--backup-dir", str(backup_dir), *extra, env=env)
    assert done.returncode == 0, done.stderr.decode()
    return orjson.loads(done.stdout)


def restore(data_dir: Path, backup_dir: Path, *extra: str,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return admin("restore", "--data-dir", str(data_dir), "--backup-dir", str(backup_dir), *extra, env=env)


def new_key() -> str:
    done = admin("backup", "--new-key")
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().strip()
