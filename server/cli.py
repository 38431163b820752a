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
        count = await rebuild_rankings(node.storage, node.bus.leaderboards)
        print(f"rankings rebuilt from {count} players")
        return 0
    return _with_node(args, work)


def _admin_request(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None) -> int:
    """Call the admin REST of a running node. Credentials come from the environment, never from arguments:
    VALGAME_ADMIN_TOKEN, or VALGAME_ADMIN_USER with VALGAME_ADMIN_PASSWORD."""
    import urllib.error
    import urllib.request

    def call(method: str, path: str, body: dict[str, Any] | None, token: str | None) -> dict[str, Any]:
        request = urllib.request.Request(args.url.rstrip("/") + path, method=method,
                                         data=orjson.dumps(body) if body is not None else None)
        request.add_header("content-type", "application/json")
        if token:
            request.add_header("authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return orjson.loads(response.read())

    try:
        token = os.environ.get("VALGAME_ADMIN_TOKEN")
        if not token:
            user, password = os.environ.get("VALGAME_ADMIN_USER"), os.environ.get("VALGAME_ADMIN_PASSWORD")
            if not (user and password):
                print("set VALGAME_ADMIN_TOKEN, or VALGAME_ADMIN_USER and VALGAME_ADMIN_PASSWORD", file=sys.stderr)
                return 2
            token = call("POST", "/auth/login", {"username": user, "password": password}, None)["access_token"]
        result = call(method, path, body, token)
    except urllib.error.HTTPError as exc:
        print(exc.read().decode(errors="replace"), file=sys.stderr)
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
