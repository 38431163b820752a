"""Node settings: every knob of a node, read from `VALGAME_*` environment variables and `valgame serve` flags.

The numbers of the game itself live in `server.game.config.GameSettings`; `game_overrides` (a JSON object in
`VALGAME_GAME`) overrides them, which is how tests speed up energy regeneration or combat pacing.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import orjson


def setting(default: Any, doc: str) -> Any:
    if isinstance(default, dict):
        return field(default_factory=dict, metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    host: str = setting(
        "127.0.0.1", "Address to listen on.")
    port: int = setting(
        8000, "Port to listen on.")
    transport: str = setting(
        "asgi", "WebSocket transport of `/ws`: `asgi` (uvicorn, on `port`) or `picows` (a native server on "
                "`ws_port`, same process and event loop; see docs/DESIGN.md).")
    ws_port: int = setting(
        8001, "Port of `/ws` when `transport` is `picows` (the HTTP side stays on `port`).")
    ws_public_url: str = setting(
        "", "The socket URL `GET /ws-url` gives clients: absolute (`wss://game.example/ws`) or a path resolved "
            "against the HTTP address they used (`/ws`, when the load balancer routes it); empty: `/ws` on `port` "
            "(asgi) or on `ws_port` of the same host (picows).")
    data_dir: str = setting(
        "./valgame-data", "Folder of the embedded store and the generated signing secret.")
    storage: str = setting(
        "", "Storage URL: `sqlite:///path.db` or `mongodb://...`; empty means SQLite in the data folder.")
    bus: str = setting(
        "memory://", "Bus URL: `memory://` (single node), `redis://host:port/0`, "
                     "`redis+sentinel://h1:26379,h2:26379/mymaster/0` or `redis+cluster://h1:7000,h2:7001/`.")
    node_id: str = setting(
        "", "Name of this node in presence and replies; random when empty.")
    jwt_secret: str = setting(
        "", "HS256 signing secret shared by all nodes; generated into the data folder when empty.")
    access_token_seconds: int = setting(
        900, "Lifetime of an access token (clients refresh before it ends; a revoked one dies with it at worst).")
    refresh_token_seconds: int = setting(
        30 * 24 * 3600, "Lifetime of a refresh token.")
    login_attempts: int = setting(
        10, "Failed logins allowed per account in `login_window_seconds`.")
    login_attempts_per_address: int = setting(
        50, "Failed logins allowed per client address in `login_window_seconds` (players behind one NAT share it).")
    limiter_max_keys: int = setting(
        100_000, "Keys each rate limiter keeps (accounts, addresses); when full, those with the fewest recent "
                 "events go first, so a flood of new keys cannot wipe a lockout.")
    password_hash_memory_kib: int = setting(
        19 * 1024, "argon2id memory cost in KiB (OWASP's minimum recommendation: 19 MiB, 2 passes, 1 lane). Raised "
                   "parameters apply to stored passwords too: each is re-hashed at its next login.")
    password_hash_time_cost: int = setting(
        2, "argon2id passes.")
    password_hash_parallelism: int = setting(
        1, "argon2id lanes.")
    password_hash_workers: int = setting(
        0, "Threads that hash passwords (argon2 runs without the GIL); 0: one per core.")
    password_queue_seconds: float = setting(
        0.5, "Longest a login or registration may wait for a hashing thread; beyond, 503 with `Retry-After` at once.")
    password_min_length: int = setting(
        10, "Shortest password accepted at registration (common, repetitive and username-like ones are refused).")
    reserved_names: str = setting(
        "admin,administrator,root,system,ops,operator,moderator,mod,support,staff,official,security,valgame,"
        "server,gm,gamemaster,null,undefined", "Comma-separated names nobody may register (nor names starting with "
                                               "`admin`, `gm_` or `mod_`).")
    login_window_seconds: int = setting(
        300, "Window of the login limit.")
    auth_timeout_seconds: float = setting(
        5.0, "Time allowed for the first frame (`auth`).")
    max_sessions_per_player: int = setting(
        3, "Sockets one player may hold; the oldest is closed with 4009.")
    outbound_max_frames: int = setting(
        256, "Frames queued for a socket before it is closed with 4008.")
    outbound_max_bytes: int = setting(
        1024 * 1024, "Bytes queued for a socket before it is closed with 4008.")
    write_deadline_seconds: float = setting(
        10.0, "A socket whose client accepts none of its pending frames for this long is closed with 4008 and its "
              "connection dropped.")
    rate_per_second: float = setting(
        30.0, "Commands per second per socket (token bucket rate).")
    rate_burst: int = setting(
        60, "Token bucket size.")
    rate_abuse_limit: int = setting(
        60, "Refused commands within 10 s that close the socket with 4029.")
    ping_interval_seconds: float = setting(
        25.0, "Server pings every this often (keeping sockets alive costs CPU in proportion: see docs/PERFORMANCE.md).")
    ping_timeout_seconds: float = setting(
        20.0, "A peer that does not answer a ping in this time is dropped.")
    max_topics_per_socket: int = setting(
        16, "Broadcast topics one socket may follow (`sub.add`); more are refused with `bad_request`.")
    digest_seconds: float = setting(
        1.0, "Interval of the topics' digests (`market:digest`, `chat:global:digest`): a socket following one gets "
             "one frame this long after the first event of an interval, with that interval's events.")
    digest_max_events: int = setting(
        100, "Most events one digest frame carries; an interval's others are only counted (`skipped`), and the "
             "client catches up with `market.browse` or `chat.history`.")
    chat_messages_per_10s: int = setting(
        10, "Chat messages (global and whispers) one player may send in 10 s.")
    sweep_interval_seconds: float = setting(
        30.0, "How often the permadeath sweep looks for characters wounded too long.")
    expiry_interval_seconds: float = setting(
        30.0, "How often expired market listings are returned to their sellers.")
    presence_seconds: float = setting(
        30.0, "A node that stops heartbeating drops out of presence after this long (its players with it).")
    bus_probe_seconds: float = setting(
        2.0, "How often a node publishes a probe to itself through the bus, the way its players' events come.")
    bus_probe_timeout_seconds: float = setting(
        3.0, "A probe not received within this long marks the node's delivery broken: /ready 503 until one arrives.")
    history_size: int = setting(
        500, "Most events a `resume` replays; a client further behind is told `resumed: false` and re-reads.")
    history_seconds: int = setting(
        900, "The replay window: a `resume` replays events up to this old, and the event log keeps each event at "
             "least this long (trimmed in the background after it).")
    event_check_seconds: float = setting(
        5.0, "How often a node compares its sockets' last event with the event log, so an event whose publication "
             "was lost (a node killed between commit and publish) still arrives, this much later at worst.")
    idem_claim_seconds: int = setting(
        10, "Longest a keyed command holds its key against twins (a retry elsewhere waits for it, then replays).")
    command_deadline_seconds: float = setting(
        10.0, "Longest a command may take: past it the client gets `unavailable` with `retry_after_ms` (a commit "
              "already started still ends whole, so a retry with the same idem key gets the one true outcome).")
    storage_commit_seconds: float = setting(
        5.0, "Longest one MongoDB commit may retry write conflicts (documents held by another transaction, e.g. a "
             "dead node's) or wait for the server, and longest a SQLite write waits for the file's write lock held "
             "by another process, before its command is answered `unavailable`; below `command_deadline_seconds`.")
    storage_pool_size: int = setting(
        50, "Most connections a node holds to each MongoDB server (PyMongo's `maxPoolSize`); operations beyond wait "
            "for one, within their command's deadline. The store, not the number of connections, bounds how many "
            "operations finish per second: 50 lets a node keep a store of a few cores busy, and 20 nodes stay "
            "under a server's 1,000 connections (secantusd's cap). Not used with SQLite.")
    retry_after_seconds: float = setting(
        1.0, "The wait an `unavailable` reply asks for (`retry_after_ms`, spread up to twice this).")
    state_cache_size: int = setting(
        10000, "Decoded player states kept in memory for reads (0 turns the cache off).")
    state_cache_seconds: float = setting(
        30.0, "Longest a cached state is trusted without news of a change (bounds staleness if the bus drops one).")
    max_connections: int = setting(
        0, "Open connections (HTTP and sockets) before new ones are refused with 503 / 1013; 0: the open-files "
           "limit less 100.")
    connections_per_address_per_10s: int = setting(
        600, "New connections one client address may open in 10 s (0: no limit); `trusted_addresses` are exempt.")
    trusted_addresses: str = setting(
        "127.0.0.0/8,::1", "Comma-separated addresses or networks exempt from per-address limits: your load "
                           "balancer and load generators (behind a proxy every client shares its address).")
    max_header_bytes: int = setting(
        16 * 1024, "Largest request header block (431 beyond).")
    max_headers: int = setting(
        100, "Most request headers (431 beyond).")
    header_timeout_seconds: float = setting(
        10.0, "Time from connect (or the end of the previous response) to a complete header block; slower "
              "connections are dropped.")
    keepalive_seconds: float = setting(
        5.0, "Idle time before an HTTP keep-alive connection is closed.")
    max_body_bytes: int = setting(
        16 * 1024, "Largest HTTP request body (413 beyond, refused before it is read).")
    drain_seconds: float = setting(
        10.0, "How long a drain waits for the commands in flight, counted from its start (the `drain` command or "
              "the first SIGTERM); a stopping node exits by then, plus about 3 s to close its sockets.")
    ws_per_message_deflate: bool = setting(
        False, "Per-message deflate (costs memory and throughput).")
    gc_threshold0: int = setting(
        700, "The cyclic garbage collector's young generation: tracked objects allocated (net) before it runs "
             "(Python's default).")
    gc_threshold1: int = setting(
        10, "Young collections before a collection of the middle generation (Python's default).")
    gc_threshold2: int = setting(
        1000, "Middle collections before a full collection is considered (Python's default is 10, which on a busy "
              "node made full collections, each a pause of the event loop, most of its CPU: server/collector.py, "
              "docs/PERFORMANCE.md run 17). Python also waits until the objects promoted since the last one are a "
              "quarter of those it would walk.")
    sqlite_synchronous: str = setting(
        "NORMAL", "SQLite `synchronous` pragma: NORMAL survives a crashed process, FULL also a power cut.")
    sqlite_checkpoint_seconds: float = setting(
        1.0, "How often a background connection checkpoints the embedded store's WAL into its file (0: SQLite does "
             "it on the committing connection, every 1,000 pages, and the commits behind it wait).")
    storage_slow_seconds: float = setting(
        5.0, "A storage operation slower than this counts in `valgame_storage_slow_operations_total`.")
    backup_every: float = setting(
        0.0, "Seconds between online backups of the embedded SQLite store by the node (0: none). 60 or less keeps "
             "the RPO within a minute; see docs/OPERATIONS.md.")
    backup_dir: str = setting(
        "", "Folder of the embedded store's backups; empty means `backups` in the data folder (keep them on "
            "another disk).")
    backup_keep: int = setting(
        720, "Backups kept in the backup folder; older ones are deleted after each new one.")
    backup_key: str = setting(
        "", "AES-256-GCM key of the backups (urlsafe base64 of 32 bytes); empty writes them unencrypted. Give it "
            "through the environment: a flag shows in the process list.")
    testonly_storage_delays: str = setting(
        "", "TEST ONLY (leave empty in production): `operation=seconds,...` storage operations delayed that long, "
            "to drive the slow-query and response-time alerts in tests.")
    testonly_storage_failures: str = setting(
        "", "TEST ONLY (leave empty in production): `operation,...` storage operations that fail, to drive the "
            "error-rate alert in tests.")
    testonly_exit_at: str = setting(
        "", "TEST ONLY (leave empty in production): `point[:n],...` where the process exits at once, as if killed "
            "(server/failpoints.py lists the points), for fault tests.")
    testonly_fail_at: str = setting(
        "", "TEST ONLY (leave empty in production): `point[:n],...` steps that fail (raise) the first n times they "
            "run (server/failpoints.py lists the points), to show in fault tests that they are retried.")
    metrics_token: str = setting(
        "", "When set, `GET /metrics` requires `Authorization: Bearer <token>` (Prometheus: `authorization` in the "
            "scrape config); empty: open, for a node whose port only the scraper reaches.")
    log_level: str = setting(
        "info", "Log level.")
    game_overrides: dict[str, Any] = setting(  # noqa: RUF009 (a fresh dict per instance)
        {}, "JSON object overriding numbers of the game (`VALGAME_GAME`).")

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{Path(self.data_dir).resolve() / 'valgame.db'}"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **explicit: Any) -> Settings:
        """Defaults, then `VALGAME_<NAME>` variables, then explicit values (the command line flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = "VALGAME_GAME" if f.name == "game_overrides" else f"VALGAME_{f.name.upper()}"
            if name in env:
                values[f.name] = _parse(f, env[name])
        values.update({k: v for k, v in explicit.items() if v is not None})
        return cls(**values)


def _parse(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "bool":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind.startswith("dict"):
        value = orjson.loads(raw)
        if not isinstance(value, dict):
            raise ValueError(f"VALGAME_GAME must be a JSON object, got {raw!r}")
        return value
    return raw


def documented_settings() -> list[tuple[str, str, Any, str]]:
    """(environment variable, flag, default, meaning) of every setting, for the docs and `--help`."""
    rows = []
    for f in fields(Settings):
        env = "VALGAME_GAME" if f.name == "game_overrides" else f"VALGAME_{f.name.upper()}"
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        rows.append((env, "--" + f.name.replace("_", "-"), default, f.metadata.get("doc", "")))
    return rows
