"""The `valgame` command: serve a node, write the protocol docs, administer the game."""

from __future__ import annotations

import argparse
import asyncio
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


def cmd_docs(args: argparse.Namespace) -> int:
    from protocol.docs import render_protocol

    text = render_protocol()
    if args.check:
        current = Path(args.output).read_text() if Path(args.output).exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run `valgame docs`", file=sys.stderr)
            return 1
        return 0
    Path(args.output).write_text(text)
    print(f"wrote {args.output}")
    return 0


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
        count = await rebuild_rankings(node)
        print(f"rankings rebuilt from {count} players")
        return 0
    return _with_node(args, work)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="valgame", description="Valgame real-time game server.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="Run a node (embedded SQLite and in-process bus by default).")
    _add_setting_flags(serve)
    serve.set_defaults(run=cmd_serve)

    docs = commands.add_parser("docs", help="Write docs/PROTOCOL.md from the protocol's schemas.")
    docs.add_argument("--output", default="docs/PROTOCOL.md")
    docs.add_argument("--check", action="store_true", help="Fail when the file differs from the schemas.")
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

    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
