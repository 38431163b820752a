"""Operators for tests: an account given the admin role with the real CLI (`valgame admin create-admin`)."""

from __future__ import annotations

from tests.support.client import unique_name
from tests.support.servers import ServerProcess
from valgame_client import http as sdk_http

ADMIN_PASSWORD = "correct horse battery"


def make_admin(node: ServerProcess) -> tuple[str, str]:
    """A fresh account of `node` given the admin role; returns its name and an access token carrying the role."""
    name = unique_name("ops")
    sdk_http.register(node.http, name, ADMIN_PASSWORD)
    node.create_admin(name)
    return name, sdk_http.login(node.http, name, ADMIN_PASSWORD).access_token
