"""The deployable cluster: the compose file is valid and wires what the architecture asks for.

No Docker engine runs here, but `docker compose config` (or Debian's docker-compose) validates the file without one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.haproxy import haproxy_binary

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _compose() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.fail("neither `docker compose` nor `docker-compose` is installed (scripts/test.sh installs one)")


def _config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_compose(), "-f", str(DEPLOY / "compose.yaml"), "config"], capture_output=True,
                          text=True, env={**os.environ, **env}, cwd=DEPLOY, timeout=60)


def test_compose_file_is_valid_and_complete() -> None:
    result = _config({"VALGAME_JWT_SECRET": "s" * 48})
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert {"config", "shard1", "shard2", "mongos", "mongo-init", "redis", "node", "lb"} <= set(services)
    assert "--configsvr" in services["config"]["command"]
    assert all("--shardsvr" in services[s]["command"] for s in ("shard1", "shard2"))
    node = services["node"]
    assert node["deploy"]["replicas"] >= 2
    assert node["environment"]["VALGAME_STORAGE"].startswith("mongodb://mongos")
    assert node["environment"]["VALGAME_BUS"].startswith("redis://redis")


def test_compose_refuses_to_start_without_a_shared_secret() -> None:
    env = {k: v for k, v in os.environ.items() if k != "VALGAME_JWT_SECRET"}
    result = subprocess.run([*_compose(), "-f", str(DEPLOY / "compose.yaml"), "config"], capture_output=True,
                            text=True, env=env, cwd=DEPLOY, timeout=60)
    assert result.returncode != 0


def test_load_balancer_checks_readiness_and_keeps_sockets_open() -> None:
    cfg = (DEPLOY / "haproxy" / "haproxy.cfg").read_text()
    assert "option httpchk GET /ready" in cfg
    assert "timeout tunnel" in cfg
    assert "server-template node" in cfg


@pytest.mark.parametrize("where", ["compose", "one machine", "one machine, picows"])
def test_one_haproxy_config_serves_compose_and_a_local_run(where: str) -> None:
    binary = haproxy_binary()
    if binary is None:
        pytest.skip("haproxy is not installed (scripts/test.sh installs Debian's package)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VALGAME_LB_")}
    if where.startswith("one machine"):
        env |= {"VALGAME_LB_BIND": "127.0.0.1:18080", "VALGAME_LB_NODE1": "127.0.0.1:18001",
                "VALGAME_LB_NODE2": "127.0.0.1:18002", "VALGAME_LB_MAXCONN": "1000"}
    if where.endswith("picows"):  # /ws to each node's socket port (tests/cluster/test_haproxy_sockets.py)
        env |= {"VALGAME_LB_WS_NODE1": "127.0.0.1:19001", "VALGAME_LB_WS_NODE2": "127.0.0.1:19002"}
    config = str(DEPLOY / "haproxy" / "haproxy.cfg")
    check = subprocess.run([binary, "-c", "-f", config], capture_output=True, text=True, env=env, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr  # (the local run's traffic: tests/load)


def test_sharding_script_shards_every_collection() -> None:
    script = (DEPLOY / "mongo" / "shard.js").read_text()
    assert "enableSharding" in script
    for collection in ("players", "ledger", "notifications", "idem", "listings"):
        assert collection in script


def test_sentinel_variant_puts_the_bus_behind_three_sentinels() -> None:
    result = subprocess.run([*_compose(), "-f", str(DEPLOY / "compose.yaml"), "-f",
                             str(DEPLOY / "compose.sentinel.yaml"), "config"], capture_output=True, text=True,
                            env={**os.environ, "VALGAME_JWT_SECRET": "s" * 48}, cwd=DEPLOY, timeout=60)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert {"redis", "redis-replica", "sentinel1", "sentinel2", "sentinel3"} <= set(services)
    assert "--replicaof" in services["redis-replica"]["command"]
    bus = services["node"]["environment"]["VALGAME_BUS"]
    assert bus.startswith("redis+sentinel://") and bus.count(":26379") == 3 and bus.endswith("/mymaster/0")
    for name in ("sentinel1", "sentinel2", "sentinel3"):
        assert "sentinel monitor mymaster redis 6379 2" in " ".join(services[name]["entrypoint"])
