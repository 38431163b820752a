"""Backups of the embedded SQLite store, taken while the node serves, and their restore.

A backup is SQLite's online backup API copying the live database into a snapshot in one step (one read
transaction: a consistent picture, while the node's writer carries on in WAL mode), gzip-compressed, and, when a
key is set, sealed with AES-256-GCM (the `cryptography` package). It is written beside its final name and renamed
into place, so a reader never sees half a backup, then the oldest beyond `backup_keep` are deleted.

Everything a client saw acknowledged before a backup's start time is in it: the name carries that time (UTC, to the
microsecond), and it is taken before the snapshot's read transaction begins.

MongoDB is backed up with `mongodump` (docs/OPERATIONS.md, "Disaster recovery"); these functions refuse its URLs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import calendar
import gzip
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from server.metrics import Metrics
from server.settings import Settings

MAGIC = b"VALGBK1\n"  # starts an encrypted backup; also its AES-GCM associated data
NONCE_BYTES = 12
PLAIN, SEALED = ".db.gz", ".db.gz.aes"
LEFTOVER_SECONDS = 3600  # scratch older than this was left by a crash, not by a backup still running
NAME = re.compile(r"^valgame-(\d{8}T\d{6})\.(\d{6})Z\.db\.gz(\.aes)?$")


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why (never the key)."""


@dataclass(frozen=True)
class Backup:
    path: Path
    started_at: float  # Unix time taken before the snapshot began
    encrypted: bool

    @classmethod
    def parse(cls, path: Path) -> Backup | None:
        found = NAME.match(path.name)
        if found is None:
            return None
        seconds = calendar.timegm(time.strptime(found[1], "%Y%m%dT%H%M%S"))
        return cls(path, seconds + int(found[2]) / 1e6, bool(found[3]))


def backup_name(started_at: float, encrypted: bool) -> str:
    whole = int(started_at)
    micros = int((started_at - whole) * 1e6)  # rounded down: the name never claims a later moment than the real one
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(whole))
    return f"valgame-{stamp}.{micros:06d}Z{SEALED if encrypted else PLAIN}"


def new_key() -> str:
    """A fresh key for `VALGAME_BACKUP_KEY`."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def load_key(raw: str) -> bytes | None:
    if not raw:
        return None
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise BackupError("backup_key must be the urlsafe base64 of 32 bytes (`valgame admin backup --new-key`)")
    return key


def database_path(settings: Settings) -> Path:
    url = settings.storage_url
    if not url.startswith("sqlite://") or url == "sqlite://" or url.endswith(":memory:"):
        raise BackupError(f"backups here are of the embedded SQLite store; this node uses {url.split(':', 1)[0]} "
                          "(back MongoDB up with mongodump: see docs/OPERATIONS.md)")
    return Path(url.removeprefix("sqlite://"))


def backup_folder(settings: Settings) -> Path:
    return Path(settings.backup_dir) if settings.backup_dir else Path(settings.data_dir) / "backups"


def backups(folder: Path) -> list[Backup]:
    """Complete backups in a folder, oldest first (names sort by time)."""
    if not folder.is_dir():
        return []
    found = (Backup.parse(p) for p in folder.iterdir())
    return sorted((b for b in found if b is not None), key=lambda b: b.started_at)


def make_backup(settings: Settings) -> Backup:
    """Back the live store up now (blocking: run it in a thread from the event loop)."""
    source = database_path(settings)
    if not source.exists():
        raise BackupError(f"no database at {source}")
    key = load_key(settings.backup_key)
    folder = backup_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".snapshot-") as scratch:
        snapshot = Path(scratch) / "snapshot.db"
        live = sqlite3.connect(source, timeout=30)
        copy = sqlite3.connect(snapshot)
        try:
            started_at = time.time()
            live.backup(copy)  # all pages in one step: one read transaction, so one consistent moment
            copy.execute("PRAGMA journal_mode=DELETE")  # a standalone file, no -wal beside it
        finally:
            copy.close()
            live.close()
        data = gzip.compress(snapshot.read_bytes(), compresslevel=6)
    if key is not None:
        nonce = secrets.token_bytes(NONCE_BYTES)
        data = MAGIC + nonce + AESGCM(key).encrypt(nonce, data, MAGIC)
    backup = Backup(folder / backup_name(started_at, key is not None), started_at, key is not None)
    _write_atomically(backup.path, data)
    prune(folder, settings.backup_keep)
    return backup


def job(settings: Settings, metrics: Metrics) -> Callable[[], Awaitable[int]] | None:
    """With `backup_every`, the work of one scheduled backup (the node runs it every that many seconds while it
    serves); None without. A node on MongoDB refuses the setting: its backups are mongodump's."""
    if settings.backup_every <= 0:
        return None
    database_path(settings)
    load_key(settings.backup_key)
    metrics.backup_every.set(settings.backup_every)

    async def once() -> int:
        started = time.perf_counter()
        try:
            backup = await asyncio.to_thread(make_backup, settings)
        except Exception:
            metrics.backup_failures.inc()
            raise
        metrics.backup_seconds.set(time.perf_counter() - started)
        metrics.backup_last_success.set(backup.started_at)
        return 1

    return once


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete the oldest backups beyond `keep`; returns what was deleted."""
    old = backups(folder)[:-keep] if keep > 0 else []
    for backup in old:
        backup.path.unlink(missing_ok=True)
    _sweep_leftovers(folder)
    return [b.path for b in old]


def _sweep_leftovers(folder: Path) -> None:
    """Delete the scratch of backups cut off by a crash (a `.snapshot-*` folder, a `.partial` file) once it is an
    hour old: a backup running now, perhaps from another process sharing the folder, is younger."""
    cutoff = time.time() - LEFTOVER_SECONDS
    for path in folder.iterdir():
        scratch = path.name.startswith(".snapshot-") or (path.name.startswith(".") and path.name.endswith(".partial"))
        if scratch and path.stat().st_mtime < cutoff:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def restore(settings: Settings, chosen: Path | None = None, force: bool = False) -> Backup:
    """Put a backup (the latest in the backup folder by default) in place of the store. The node must be stopped."""
    target = database_path(settings)
    if chosen is None:
        found = backups(backup_folder(settings))
        if not found:
            raise BackupError(f"no backup in {backup_folder(settings)}")
        backup = found[-1]
    else:
        parsed = Backup.parse(chosen)
        backup = parsed or Backup(chosen, chosen.stat().st_mtime, chosen.read_bytes()[:len(MAGIC)] == MAGIC)
    if target.exists() and not force:
        raise BackupError(f"{target} exists: stop the node, then pass --force to replace it")
    data = _open(backup.path.read_bytes(), load_key(settings.backup_key))
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(target.name + ".restoring")
    _write_atomically(staged, data)
    try:
        _check(staged)
        for stale in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
            stale.unlink(missing_ok=True)  # a WAL of the replaced database would be replayed into the backup
        os.replace(staged, target)
    finally:
        staged.unlink(missing_ok=True)
    return backup


def _open(data: bytes, key: bytes | None) -> bytes:
    if data.startswith(MAGIC):
        if key is None:
            raise BackupError("this backup is encrypted: set VALGAME_BACKUP_KEY")
        nonce = data[len(MAGIC):len(MAGIC) + NONCE_BYTES]
        try:
            data = AESGCM(key).decrypt(nonce, data[len(MAGIC) + NONCE_BYTES:], MAGIC)
        except InvalidTag:
            raise BackupError("the backup does not open with this key (wrong key, or the file was altered)") from None
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise BackupError(f"the backup is damaged: {exc}") from None


def _check(path: Path) -> None:
    """Refuse a damaged database, or one written by a newer version of the node (its schema is unknown here)."""
    from persistence.sqlite import MIGRATIONS

    db = sqlite3.connect(path)
    try:
        verdict = db.execute("PRAGMA integrity_check").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the backup is not a usable database: {exc}") from None
    finally:
        db.close()
    if verdict != "ok":
        raise BackupError(f"the backup fails SQLite's integrity check: {verdict}")
    if version > len(MIGRATIONS):
        raise BackupError(f"the backup has schema version {version}; this node knows {len(MIGRATIONS)}: restore "
                          "it with the version of valgame that wrote it")


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
