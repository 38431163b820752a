"""Bus URLs: the Sentinel and Cluster forms are read as documented (docs/OPERATIONS.md)."""

from __future__ import annotations

import pytest

from server.bus import open_bus
from server.bus.redis.connect import is_cluster, parse_sentinel_url


def test_a_sentinel_url_names_its_sentinels_the_master_and_the_database() -> None:
    address = parse_sentinel_url("redis+sentinel://h1:26379,h2:26380,h3/mymaster/2")
    assert address.sentinels == [("h1", 26379), ("h2", 26380), ("h3", 26379)]
    assert (address.service, address.db, address.password, address.tls) == ("mymaster", 2, None, False)


def test_a_sentinel_url_carries_the_data_servers_password_and_tls() -> None:
    address = parse_sentinel_url("rediss+sentinel://:s%40cret@h1:1/m")
    assert (address.sentinels, address.service, address.db) == ([("h1", 1)], "m", 0)
    assert address.password == "s@cret" and address.tls is True


def test_a_sentinel_url_without_a_master_name_is_refused() -> None:
    with pytest.raises(ValueError, match="names its sentinels and the master"):
        parse_sentinel_url("redis+sentinel://h1:26379/")


def test_cluster_urls_are_recognised_and_unknown_schemes_refused() -> None:
    assert is_cluster("redis+cluster://h1:7000,h2:7001/") and is_cluster("rediss+cluster://h1:7000/")
    assert not is_cluster("redis://h1:6379/0") and not is_cluster("redis+sentinel://h1/m/0")
    with pytest.raises(ValueError, match="unknown bus URL scheme"):
        open_bus("nats://h1:4222", "n1", 60)
