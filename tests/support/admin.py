"""Operators for tests: an account given the admin role with the real CLI (`valgame admin create-admin`)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.client import unique_name
from tests.support.servers import REPO, ServerProcess
from valgame_client import http as sdk_http

ADMIN_PASSWORD = "correct horse battery"


def make_admin(node: ServerProcess) -> tuple[str, str]:
    """A fresh account of `node` given the admin role; returns its name and an access token carrying the role."""
    name = unique_name("ops")
    sdk_http.register(node.http, name, ADMIN_PASSWORD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VALGAME_")}
    env["VALGAME_JWT_SECRET"] = node.jwt_secret
    subprocess.run([sys.executable, "-m", "server", "admin", "create-admin", name, "--data-dir", str(node.data_dir)],
                   cwd=REPO, env=env, check=True, capture_output=True, timeout=60)
    return name, sdk_http.login(node.http, name, ADMIN_PASSWORD).access_token
