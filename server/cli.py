"""The `valgame` command: serve a node, write the protocol docs, administer the game."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from server.settings import Settings, documented_settings


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    for env, flag, default, doc in documented_settings():
        if env == "VALGAME_GAME":
            parser.add_argument(flag, dest="game_overrides", type=_json_object, default=None,
                                help=f"{doc} [{env}]")
            continue
        kind = type(default)
        if kind is bool:
            parser.add_argument(flag, dest=flag[2:].replace("-", "_"), default=None,
                                action=argparse.BooleanOptionalAction, help=f"{doc} [{env}, default {default}]")
        else:
            parser.add_argument(flag, dest=flag[2:].replace("-", "_"), type=kind, default=None,
                                help=f"{doc} [{env}, default {default!r}]")


def _json_object(raw: str) -> dict[str, Any]:
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def _settings(args: argparse.Namespace) -> Settings:
    names = {flag[2:].replace("-", "_") for _, flag, _, _ in documented_settings()}
    return Settings.from_env(**{k: v for k, v in vars(args).items() if k in names})


def _with_node(args: argparse.Namespace, work: Callable[[Any], Awaitable[int]]) -> int:
    """Open the ports as a node would, without serving or running its jobs, and run `work(node)`."""
    from server.node import Node

    async def run() -> int:
        node = Node(_settings(args))
        await node.start(serve=False)
        try:
            return await work(node)
        finally:
            await node.stop()

    return asyncio.run(run())


def cmd_serve(args: argparse.Namespace) -> int:
    from server.serve import serve

    serve(_settings(args))
    return 0


def _game_facts() -> dict[str, Any]:
    """The game's numbers a client shows, for protocol.json (protocol/ itself imports nothing of the server)."""
    from server.game.catalog import CATALOG_VERSION, STARTING_CHARACTER, STARTING_ITEMS, catalog_as_dict
    from server.game.config import DEFAULT_SETTINGS as game

    catalog = catalog_as_dict(game)
    base, rank = STARTING_CHARACTER
    return {"catalog_version": CATALOG_VERSION, "ranks": catalog["ranks"], "slots": catalog["slots"],
            "settings": game.to_dict(),
            "starting_kit": {"val": game.start_val, "evo": game.start_evo, "characters": [{"base": base, "rank": rank}],
                             "items": [{"code": code, "count": count} for code, count in STARTING_ITEMS]}}


def cmd_docs(args: argparse.Namespace) -> int:
    """Write (or with --check compare) PROTOCOL.md, asyncapi.json beside it and the browser's protocol.json."""
    from protocol.docs import render_artifacts

    docs = Path(args.output).parent
    paths = {"PROTOCOL.md": Path(args.output), "asyncapi.json": docs / "asyncapi.json",
             "protocol.json": Path(__file__).parent / "static" / "protocol.json"}  # served at /protocol.json
    stale = 0
    for name, text in render_artifacts(_game_facts()).items():
        path = paths[name]
        if args.check:
            if not path.exists() or path.read_text() != text:
                print(f"{path} is out of date: run `valgame docs`", file=sys.stderr)
                stale += 1
            continue
        path.write_text(text)
        print(f"wrote {path}")
    return 1 if stale else 0


def cmd_create_admin(args: argparse.Namespace) -> int:
    async def work(node: Any) -> int:
        account = await node.storage.account_by_name(args.name)
        if account is None:
            print(f"no account named {args.name}; register it first", file=sys.stderr)
            return 1
        await node.storage.set_role(account.id, "admin")
        print(f"{args.name} is now an admin (new tokens carry the role)")
        return 0
    return _with_node(args, work)


def cmd_audit(args: argparse.Namespace) -> int:
    from server.audit import audit

    async def work(node: Any) -> int:
        report = await audit(node.storage)
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return 0 if report["ok"] else 1
    return _with_node(args, work)


def cmd_rebuild_rankings(args: argparse.Namespace) -> int:
    from server.jobs import rebuild_rankings

    async def work(node: Any) -> int:
        count = await rebuild_rankings(node.storage, node.bus.leaderboards)
        print(f"rankings rebuilt from {count} players")
        return 0
    return _with_node(args, work)


def cmd_backup(args: argparse.Namespace) -> int:
    from server import backup

    if args.new_key:
        print(backup.new_key())
        return 0
    try:
        made = backup.make_backup(_settings(args))
    except backup.BackupError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(orjson.dumps({"backup": str(made.path), "started_at": made.started_at, "encrypted": made.encrypted,
                        "bytes": made.path.stat().st_size}).decode())
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from server import backup

    settings = _settings(args)
    try:
        used = backup.restore(settings, Path(args.backup) if args.backup else None, force=args.force)
    except (backup.BackupError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(orjson.dumps({"restored": str(used.path), "started_at": used.started_at,
                        "database": str(backup.database_path(settings))}).decode())
    return 0


def _admin_request(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None) -> int:
    """Call the admin REST of a running node through the client SDK. Credentials come from the environment, never
    from arguments: VALGAME_ADMIN_TOKEN, or VALGAME_ADMIN_USER with VALGAME_ADMIN_PASSWORD."""
    from valgame_client import http

    try:
        token = os.environ.get("VALGAME_ADMIN_TOKEN")
        if not token:
            user, password = os.environ.get("VALGAME_ADMIN_USER"), os.environ.get("VALGAME_ADMIN_PASSWORD")
            if not (user and password):
                print("set VALGAME_ADMIN_TOKEN, or VALGAME_ADMIN_USER and VALGAME_ADMIN_PASSWORD", file=sys.stderr)
                return 2
            token = http.login(args.url, user, password).access_token
        result = http.send(args.url, http.admin_request(method, path, body, token))
    except http.HttpError as exc:
        print(orjson.dumps({"error": exc.error}).decode(), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


def cmd_ops(args: argparse.Namespace) -> int:
    if args.ops_command == "broadcast":
        body: dict[str, Any] = {"message": args.message}
        if args.to:
            body["to"] = args.to
        if args.key:
            body["key"] = args.key
        return _admin_request(args, "POST", "/admin/broadcast", body)
    if args.ops_command == "kick":
        return _admin_request(args, "POST", "/admin/kick", {"player": args.name})
    if args.ops_command == "drain":
        return _admin_request(args, "POST", "/admin/drain", {"node": args.node} if args.node else {})
    return _admin_request(args, "GET", "/admin/stats", None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="valgame", description="Valgame real-time game server.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="Run a node (embedded SQLite and in-process bus by default).")
    _add_setting_flags(serve)
    serve.set_defaults(run=cmd_serve)

    docs = commands.add_parser("docs", help="Write docs/PROTOCOL.md, docs/asyncapi.json and the browser's "
                                            "protocol.json from the protocol's schemas and captured examples.")
    docs.add_argument("--output", default="docs/PROTOCOL.md")
    docs.add_argument("--check", action="store_true", help="Fail when a file differs from what it would be.")
    docs.set_defaults(run=cmd_docs)

    admin = commands.add_parser("admin", help="Administration against the configured storage.")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    create_admin = admin_commands.add_parser("create-admin", help="Give an account the admin role.")
    create_admin.add_argument("name")
    _add_setting_flags(create_admin)
    create_admin.set_defaults(run=cmd_create_admin)

    audit = admin_commands.add_parser("audit", help="Check the economy: balances vs ledger, items owned once.")
    _add_setting_flags(audit)
    audit.set_defaults(run=cmd_audit)
    rebuild = admin_commands.add_parser("rebuild-rankings", help="Recompute every leaderboard from stored players.")
    _add_setting_flags(rebuild)
    rebuild.set_defaults(run=cmd_rebuild_rankings)
    backup = admin_commands.add_parser("backup", help="Back the embedded store up now, while the node serves "
                                       "(compressed; encrypted with VALGAME_BACKUP_KEY when set).")
    backup.add_argument("--new-key", action="store_true", help="Print a fresh backup key and exit.")
    _add_setting_flags(backup)
    backup.set_defaults(run=cmd_backup)
    restore = admin_commands.add_parser("restore", help="Replace the embedded store with a backup (the latest in "
                                        "the backup folder by default). Stop the node first.")
    restore.add_argument("backup", nargs="?", help="A backup file; the latest in --backup-dir when omitted.")
    restore.add_argument("--force", action="store_true", help="Replace an existing database.")
    _add_setting_flags(restore)
    restore.set_defaults(run=cmd_restore)

    ops = commands.add_parser("ops", help="Operate a running cluster through a node's admin REST.")
    ops.add_argument("--url", default=os.environ.get("VALGAME_URL", "http://127.0.0.1:8000"),
                     help="Any node of the cluster [VALGAME_URL].")
    ops_commands = ops.add_subparsers(dest="ops_command", required=True)
    ops_broadcast = ops_commands.add_parser("broadcast", help="Show a message on every socket.")
    ops_broadcast.add_argument("message")
    ops_broadcast.add_argument("--to", help="Only this player (name).")
    ops_broadcast.add_argument("--key", help="Idempotency key: a retried broadcast is shown once.")
    ops_commands.add_parser("kick", help="Close a player's sockets (4003).").add_argument("name")
    ops_commands.add_parser("drain", help="Drain a node (this one by default).").add_argument("node", nargs="?")
    ops_commands.add_parser("stats", help="Sockets, command rate and bus lag per node.")
    ops.set_defaults(run=cmd_ops)

    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
