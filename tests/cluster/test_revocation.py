"""Revoked credentials reach live sockets: a logout (or a stolen refresh token's reuse) on one node closes, on every
node, the sockets opened with that login's access tokens (4001); the player's other logins keep theirs."""

from __future__ import annotations

import asyncio

import httpx

from tests.cluster.conftest import Cluster
from tests.support.client import Client
from tests.support.wire import eventually

PASSWORD = "correct horse battery"


async def second_login(cluster: Cluster, name: str) -> dict:
    async with httpx.AsyncClient(base_url=cluster[0].http) as http:
        response = await http.post("/auth/login", json={"username": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()


async def test_logout_on_one_node_closes_that_logins_sockets_on_the_others(cluster: Cluster) -> None:
    login = await cluster.login(cluster[0], "rev")
    other = await second_login(cluster, login["name"])
    revoked, _ = await Client.open(cluster[1].ws, login["access_token"])
    kept, _ = await Client.open(cluster[2].ws, other["access_token"])
    try:
        async with httpx.AsyncClient(base_url=cluster[0].http) as http:
            response = await http.post("/auth/logout", json={"refresh_token": login["refresh_token"]})
        assert response.status_code == 200, response.text
        await eventually(lambda: _closed(revoked), 10, "the revoked login's socket to close")
        assert revoked.close_code == 4001
        assert (await kept.request("ping", {}))["ok"] is True
        assert kept.close_code is None
    finally:
        await revoked.close()
        await kept.close()


async def test_logout_with_a_bearer_closes_the_sockets_of_that_access_token(cluster: Cluster) -> None:
    login = await cluster.login(cluster[0], "revb")
    other = await second_login(cluster, login["name"])
    revoked, _ = await Client.open(cluster[2].ws, login["access_token"])
    kept, _ = await Client.open(cluster[1].ws, other["access_token"])
    try:
        async with httpx.AsyncClient(base_url=cluster[1].http) as http:
            response = await http.post("/auth/logout", json={"refresh_token": "not-a-token"},
                                       headers={"authorization": f"Bearer {login['access_token']}"})
        assert response.status_code == 200, response.text
        await eventually(lambda: _closed(revoked), 10, "the revoked token's socket to close")
        assert revoked.close_code == 4001
        assert (await kept.request("ping", {}))["ok"] is True
    finally:
        await revoked.close()
        await kept.close()


async def test_reusing_a_spent_refresh_token_closes_the_familys_sockets(cluster: Cluster) -> None:
    login = await cluster.login(cluster[0], "revr")
    victim, _ = await Client.open(cluster[1].ws, login["access_token"])
    try:
        async with httpx.AsyncClient(base_url=cluster[2].http) as http:
            rotated = await http.post("/auth/refresh", json={"refresh_token": login["refresh_token"]})
            assert rotated.status_code == 200
            stolen = await http.post("/auth/refresh", json={"refresh_token": login["refresh_token"]})
            assert stolen.status_code == 401
        await eventually(lambda: _closed(victim), 10, "the stolen family's socket to close")
        assert victim.close_code == 4001
    finally:
        await victim.close()


async def _closed(client: Client) -> bool:
    await asyncio.sleep(0)
    return client.close_code is not None
