"""`valgame admin backup` / `restore` on real files: a backup taken while a node serves restores to a store the audit
passes; encryption is real (no key, a wrong key or one altered byte: refused); retention keeps the newest; a damaged
file, a newer schema or an existing database without --force are refused; MongoDB is pointed to mongodump."""

from __future__ import annotations

import gzip
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.backups import admin, backup, new_key, restore
from tests.support.client import Client
from tests.support.economy import assert_audit_ok, quick_login
from tests.support.servers import ServerProcess, wait_until

SQLITE_HEADER = b"SQLite format 3\x00"


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("valgame-"))


async def test_a_backup_taken_while_serving_restores_whole(make_server: Callable[..., ServerProcess],
                                                           tmp_path: Path) -> None:
    node = make_server()
    login = await quick_login(node)
    client, _ = await Client.open(node.ws, login["access_token"])
    try:
        item = (await client.call("inventory.get"))["items"][0]
        listing = (await client.call("market.list", {"item": item["id"], "price": 20}))["listing"]
    finally:
        await client.close()
    made = backup(node.data_dir, tmp_path / "backups")  # the node is still serving
    assert made["encrypted"] is False and Path(made["backup"]).name.endswith(".db.gz")
    assert gzip.decompress(Path(made["backup"]).read_bytes()).startswith(SQLITE_HEADER)

    fresh = tmp_path / "restored"
    done = restore(fresh, tmp_path / "backups")
    assert done.returncode == 0, done.stderr.decode()
    assert not (fresh / "valgame.db-wal").exists()  # a standalone file, until a node opens it in WAL mode
    report = assert_audit_ok(fresh)
    assert report["players"] == 1
    db = sqlite3.connect(fresh / "valgame.db")
    try:
        row = db.execute("SELECT seller_id, status FROM listings WHERE id=?", (listing,)).fetchone()
        assert row == (login["player_id"], "active")
    finally:
        db.close()
    restarted = ServerProcess(fresh).start()  # a node serves the restored store
    try:
        client, _ = await Client.open(restarted.ws, login["access_token"])
        mine = (await client.call("market.mine"))["listings"]
        assert [v["id"] for v in mine] == [listing]
        await client.close()
    finally:
        restarted.kill()


def test_encrypted_backups_need_their_key(tmp_path: Path) -> None:
    data, folder = tmp_path / "data", tmp_path / "backups"
    _seed(data / "valgame.db")
    key = new_key()
    made = backup(data, folder, env={"VALGAME_BACKUP_KEY": key})
    sealed = Path(made["backup"])
    assert made["encrypted"] and sealed.name.endswith(".db.gz.aes")
    body = sealed.read_bytes()
    assert SQLITE_HEADER not in body and not body[8:].startswith(b"\x1f\x8b")  # neither plain nor bare gzip

    refused = restore(tmp_path / "a", folder)
    assert refused.returncode == 1 and b"encrypted" in refused.stderr
    refused = restore(tmp_path / "b", folder, env={"VALGAME_BACKUP_KEY": new_key()})
    assert refused.returncode == 1 and b"does not open with this key" in refused.stderr
    assert key.encode() not in refused.stderr + refused.stdout

    altered = bytearray(body)
    altered[len(altered) // 2] ^= 1
    sealed.write_bytes(bytes(altered))
    refused = restore(tmp_path / "c", folder, env={"VALGAME_BACKUP_KEY": key})
    assert refused.returncode == 1 and b"altered" in refused.stderr
    assert not (tmp_path / "c" / "valgame.db").exists()

    sealed.write_bytes(body)
    done = restore(tmp_path / "d", folder, env={"VALGAME_BACKUP_KEY": key})
    assert done.returncode == 0, done.stderr.decode()
    assert _rows(tmp_path / "d" / "valgame.db") == 3


def test_a_malformed_key_is_refused(tmp_path: Path) -> None:
    _seed(tmp_path / "data" / "valgame.db")
    done = admin("backup", "--data-dir", str(tmp_path / "data"), env={"VALGAME_BACKUP_KEY": "too-short"})
    assert done.returncode == 1 and b"32 bytes" in done.stderr


def test_retention_keeps_the_newest_and_sweeps_crash_leftovers(tmp_path: Path) -> None:
    data, folder = tmp_path / "data", tmp_path / "backups"
    _seed(data / "valgame.db")
    folder.mkdir()
    crashed = [folder / ".snapshot-old", folder / ".valgame-20260101T000000.000000Z.db.gz.partial"]
    running = [folder / ".snapshot-now", folder / ".valgame-20260101T000001.000000Z.db.gz.partial"]
    for path in crashed + running:
        path.mkdir() if path.name.startswith(".snapshot") else path.write_bytes(b"half")
    an_hour_ago = time.time() - 3700
    for path in crashed:
        os.utime(path, (an_hour_ago, an_hour_ago))
    made = [backup(data, folder, "--backup-keep", "2")["backup"] for _ in range(4)]
    assert names(folder) == sorted(Path(p).name for p in made[-2:])
    left = {p.name for p in folder.iterdir() if not p.name.startswith("valgame-")}
    assert left == {p.name for p in running}  # a crash's scratch goes; what may still be running stays


def test_restore_refuses_to_replace_a_database_without_force(tmp_path: Path) -> None:
    data, folder = tmp_path / "data", tmp_path / "backups"
    _seed(data / "valgame.db")
    backup(data, folder)
    db = sqlite3.connect(data / "valgame.db")
    db.execute("INSERT INTO t VALUES (4)")
    db.commit()
    db.close()
    refused = restore(data, folder)
    assert refused.returncode == 1 and b"--force" in refused.stderr
    assert _rows(data / "valgame.db") == 4
    done = restore(data, folder, "--force")
    assert done.returncode == 0, done.stderr.decode()
    assert _rows(data / "valgame.db") == 3


def test_a_newer_schema_is_refused_by_restore_and_by_the_node(tmp_path: Path) -> None:
    data, folder = tmp_path / "data", tmp_path / "backups"
    _seed(data / "valgame.db", user_version=99)
    backup(data, folder)
    refused = restore(tmp_path / "new", folder)
    assert refused.returncode == 1 and b"schema version 99" in refused.stderr
    node = ServerProcess(data)
    with pytest.raises(RuntimeError, match="schema version 99"):
        node.start()


def test_a_damaged_backup_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / "valgame-20260101T000000.000000Z.db.gz").write_bytes(gzip.compress(b"not a database" * 100))
    refused = restore(tmp_path / "data", folder)
    assert refused.returncode == 1 and b"not a usable database" in refused.stderr
    (folder / "valgame-20260101T000001.000000Z.db.gz").write_bytes(b"truncated")
    refused = restore(tmp_path / "data", folder)
    assert refused.returncode == 1 and b"damaged" in refused.stderr
    assert not (tmp_path / "data" / "valgame.db").exists()


def test_mongodb_is_backed_up_with_mongodump(tmp_path: Path) -> None:
    done = admin("backup", "--storage", "mongodb://127.0.0.1:1/valgame", "--backup-dir", str(tmp_path))
    assert done.returncode == 1 and b"mongodump" in done.stderr


def test_a_node_backs_itself_up_every_interval(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    node = ServerProcess(tmp_path / "data", backup_every=0.5, backup_keep=3, backup_dir=str(folder)).start()
    try:
        wait_until(lambda: len(names(folder)) == 3, 30, "three backups")
        first = names(folder)[0]
        wait_until(lambda: first not in names(folder), 30, "the oldest backup to be pruned")
        assert len(names(folder)) <= 3
    finally:
        node.kill()


def _seed(path: Path, user_version: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (n INTEGER)")
    db.executemany("INSERT INTO t VALUES (?)", [(1,), (2,), (3,)])
    db.execute(f"PRAGMA user_version={user_version}")
    db.commit()
    db.close()


def _rows(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT count(*) FROM t").fetchone()[0]
    finally:
        db.close()
