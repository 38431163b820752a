"""A Locust player that speaks Valgame's protocol v1 over a real WebSocket.

Each user registers and logs in over HTTP (recorded as HTTP requests by Locust), opens `/ws`, sends `auth`, then
runs a weighted mix of commands. Every command is recorded as a Locust request of type "WS" named by the command
type, with the round-trip time from sending the frame to reading its reply.

Outcomes:
- an `ok` reply is a success under the command's name;
- an *expected* refusal (the game said no for a reason a real player meets: `insufficient_energy`, `conflict` when
  another buyer won, `rate_limited` on chat, ...) is a success recorded under `"<type> [<code>]"`, so it is visible
  and kept apart from the command's own latency row;
- any other error reply, a missing reply (timeout) or a closed socket is a failure under the command's name.

Events the server pushes are counted per type (`EVENT_COUNTS`) and printed when the run ends; with `--csv PREFIX`
they are also written to `PREFIX_events.csv`.

Runs under Locust's gevent: the socket is the client SDK's blocking shell (valgame_client.sync, on
`websocket-client`, pure Python sockets which gevent patches), whose reader thread is a greenlet that matches replies
to commands by id and answers the server's pings. A dropped socket is reopened and its session resumed by the SDK;
commands in flight that cannot be repeated safely are recorded as failures.

    locust -f locustfiles/game_user.py --headless -u 100 -r 10 -t 5m --host http://127.0.0.1:8000

`--host` is the node's (or the load balancer's) HTTP base URL; the socket URL is asked of it (`GET /ws-url`: `/ws`
beside HTTP, or the picows transport's own port). The scenarios of the seed (normal, peak, stress) are the shapes in
locustfiles/normal.py, peak.py and stress.py.
"""

from __future__ import annotations

import csv
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import gevent
import orjson
from locust import HttpUser, between, events, task
from locust.env import Environment
from locust.exception import StopUser

from valgame_client.errors import CommandError, ConnectionLost
from valgame_client.http import Tokens, discover_socket_url, register_request, retry_after_seconds
from valgame_client.sync import Client

DUNGEON = "cueva-goblins"
REPLY_TIMEOUT = float(os.environ.get("VALGAME_REPLY_TIMEOUT", "10"))
PASSWORD = "load-test-password"
BUSY_RETRIES = 5  # a login answered 503/429 with Retry-After is tried again after that long, this many times

# Refusals a well-behaved player meets in normal play; they are not failures of the server.
EXPECTED: dict[str, frozenset[str]] = {
    "combat.start": frozenset({"in_combat", "insufficient_energy", "character_wounded"}),
    "character.heal": frozenset({"insufficient_funds", "insufficient_energy", "conflict", "in_combat",
                                 "character_wounded"}),
    "character.revive": frozenset({"insufficient_funds", "conflict", "in_combat"}),
    "market.list": frozenset({"insufficient_funds", "not_found", "in_combat", "conflict"}),
    "market.buy": frozenset({"conflict", "not_found", "insufficient_funds", "inventory_full", "forbidden"}),
    "chat.send": frozenset({"rate_limited"}),
}

EVENT_COUNTS: Counter[str] = Counter()

# The scenario shapes (normal.py, peak.py, stress.py) multiply their players and durations by this, for a short
# try-out of a scenario (bench/scenario.py --scale 0.05); spawn rates stay the seed's.
SCALE = float(os.environ.get("VALGAME_SCALE", "1"))


def scaled_users(users: int) -> int:
    return max(1, round(users * SCALE))


def scaled_seconds(seconds: float) -> float:
    return seconds * SCALE


class ValgamePlayer(HttpUser):
    """A player: register (which signs it in), open the socket, then play a weighted mix of commands."""

    wait_time = between(float(os.environ.get("VALGAME_WAIT_MIN", "1")), float(os.environ.get("VALGAME_WAIT_MAX", "2")))

    def on_start(self) -> None:
        self.sock: Client | None = None
        self._ws_url: str | None = None
        self.name = "lt_" + uuid.uuid4().hex[:16]
        self.player_id = ""
        self.character = ""
        self.items: list[dict[str, Any]] = []
        self.val = 0
        self.energy = 0
        self.in_combat = False
        self.hurt = False
        self.wounded = False
        self._login()
        self._connect()

    def on_stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    # --- set-up ---------------------------------------------------------------------------------------------
    def _login(self) -> None:
        """Register: a new player is signed in by its registration (one password hash, as in the browser client)."""
        request = register_request(self.name, f"{self.name}@load.test", PASSWORD)
        for attempt in range(BUSY_RETRIES + 1):
            with self.client.request(request.method, request.path, data=request.content(),
                                     headers=request.headers(), name=request.path, catch_response=True) as r:
                if r.status_code == 201:
                    break
                r.failure(f"{request.path}: {r.status_code} {_error_text(r.text)}")
                wait = retry_after_seconds(r.status_code, r.headers)
                if wait is None or attempt == BUSY_RETRIES:
                    raise StopUser  # not a usable player: Locust stops this user
            # The node is saturated (password hashing) and said when to come back: do as a client should.
            gevent.sleep(wait * random.uniform(1.0, 1.5))
        tokens = Tokens.from_reply(r.json())
        self.token, self.player_id = tokens.access_token, tokens.player_id

    def _socket_url(self) -> str:
        """Where the node's socket is (`GET /ws-url`: it may be on another port than HTTP), asked once per user."""
        if self._ws_url is None:
            self._ws_url = discover_socket_url(self.host or "")
        return self._ws_url

    def _connect(self) -> None:
        # Events go to _on_event only: kept, a 15-minute run's chat digests filled a Locust worker's memory (11 GB).
        self.sock = Client(self._socket_url(), token=self.token, reconnect=True, on_event=self._on_event,
                           timeout=REPLY_TIMEOUT, max_kept_events=0)
        if self._timed("connect", self.sock.open_socket) is None:
            raise StopUser
        auth = self._timed("auth", self.sock.authenticate)
        if auth is None:
            raise StopUser
        player = auth["player"]
        self.val, self.energy = player["val"], player["energy"]
        chars = self.command("character.list")
        if chars and chars["characters"]:
            self.character = chars["characters"][0]["id"]
        inventory = self.command("inventory.get")
        if inventory:
            self.items = list(inventory["items"])
        self.command("sub.add", {"topic": "chat:global:digest"})  # as the browser client: a frame a second

    # --- protocol helpers -----------------------------------------------------------------------------------
    def _record(self, name: str, ms: float, length: int, exc: BaseException | None) -> None:
        self.environment.events.request.fire(request_type="WS", name=name, response_time=ms,
                                             response_length=length, exception=exc, context={})

    def _timed(self, name: str, work: Callable[[], Any]) -> Any:
        """Run `work` and record it under `name`: its result on success, else None."""
        started = time.perf_counter()
        try:
            result = work()
        except Exception as exc:
            self._record(name, (time.perf_counter() - started) * 1000, 0, exc)
            return None
        self._record(name, (time.perf_counter() - started) * 1000, len(orjson.dumps(result)) if result else 0, None)
        return result if result is not None else {}

    def command(self, type_: str, data: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Run one command and record it; the reply data on success, else None."""
        if self.sock is None:
            return None
        started = time.perf_counter()
        try:
            reply = self.sock.request(type_, data)
        except ConnectionLost as exc:
            self._record(type_, (time.perf_counter() - started) * 1000, 0, exc)
            if self.sock.closed:  # a close the SDK does not come back from (kicked, replaced, token refused)
                self._reconnect()
            return None
        except Exception as exc:
            self._record(type_, REPLY_TIMEOUT * 1000, 0, exc)
            return None
        ms = (time.perf_counter() - started) * 1000
        length = len(orjson.dumps(reply))
        if reply["ok"]:
            self._record(type_, ms, length, None)
            return reply.get("data") or {}
        code = str((reply.get("error") or {}).get("code"))
        if code in EXPECTED.get(type_, ()):
            self._record(f"{type_} [{code}]", ms, length, None)
            self._refused(type_, code)
        else:
            self._record(type_, ms, length, CommandError({"type": type_, "error": _error_of(reply.get("error"))}))
        return None

    def _reconnect(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self._connect()

    def _refused(self, type_: str, code: str) -> None:
        if code == "in_combat":
            self.in_combat = True
        elif code == "character_wounded":
            self.wounded = True
        elif code == "insufficient_energy":
            self.energy = 0

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type", "?")
        EVENT_COUNTS[kind] += 1
        data = event.get("data") or {}
        if kind == "chat.digest":  # the global chat's messages of the last second
            EVENT_COUNTS.update(entry["type"] for entry in data.get("events") or ())
        if kind == "energy.updated":
            self.energy = data.get("energy", self.energy)
        elif kind == "wallet.updated":
            self.val = data.get("val", self.val)
        elif kind == "combat.started":
            self.in_combat = True
        elif kind == "combat.round":
            hp = (data.get("team_hp") or {}).get(self.character)
            if hp is not None:
                self.hurt = hp < 20
        elif kind == "combat.ended":
            self.in_combat = False
            self.items.extend(d for d in data.get("drops") or () if isinstance(d, dict))
            if data.get("outcome") != "win":
                self.wounded = True

    # --- the mix ----------------------------------------------------------------------------------------------
    @task(10)
    def energy_get(self) -> None:
        data = self.command("energy.get")
        if data:
            self.energy = data["energy"]

    @task(6)
    def state_get(self) -> None:
        data = self.command("state.get")
        if data:
            self.val, self.energy = data["player"]["val"], data["player"]["energy"]

    @task(4)
    def combat(self) -> None:
        """Auto-mode combat in the first dungeon with the starting character; heal or revive it when needed."""
        if not self.character or self.in_combat:
            self.command("combat.state")
            return
        if self.wounded:
            if self.command("character.revive", {"character": self.character}) is not None:
                self.wounded = self.hurt = False
            return
        if self.hurt:
            if self.command("character.heal", {"character": self.character}) is not None:
                self.hurt = False
            return
        if self.energy < 5:
            self.command("energy.get")
            return
        if self.command("combat.start", {"dungeon": DUNGEON, "team": [self.character], "mode": "auto"}):
            self.in_combat = True
            self.energy -= 5

    @task(4)
    def market_browse(self) -> None:
        self.command("market.browse", {"sort": "newest", "limit": 20})

    @task(2)
    def market_list(self) -> None:
        if not self.items:
            data = self.command("inventory.get")
            self.items = list(data["items"]) if data else []
            return
        item = self.items.pop(random.randrange(len(self.items)))
        price = 10 if item.get("kind") == "equipment" else 5
        self.command("market.list", {"item": item["id"], "price": price})

    @task(2)
    def market_buy(self) -> None:
        page = self.command("market.browse", {"kind": "consumable", "sort": "newest", "limit": 20})
        if not page:
            return
        offers = [x for x in page["listings"] if x.get("seller_id") != self.player_id and x["price"] <= self.val]
        if not offers:
            return
        data = self.command("market.buy", {"listing": random.choice(offers)["id"]})
        if data:
            self.val = data.get("val", self.val)
            received = data.get("received")
            if isinstance(received, dict):
                self.items.append(received)

    @task(1)
    def chat(self) -> None:
        self.command("chat.send", {"text": f"{self.name} looking for a party"})


# --- reporting and thresholds -------------------------------------------------------------------------------------
def _error_of(error: Any) -> dict[str, Any]:
    """An error reply's code and message only: Locust counts failures by their text, and the rest (`retry_after_ms`,
    spread at random) would make a row of the report per value."""
    error = error if isinstance(error, dict) else {}
    return {"code": error.get("code"), "message": error.get("message")}


def _error_text(body: str) -> str:
    """An HTTP error body as its code and message (the load balancer's own pages: their first line)."""
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.strip().splitlines()[0][:200] if body.strip() else "(no body)"
    return str(_error_of(decoded.get("error") if isinstance(decoded, dict) else None))


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--valgame-p95-ms", type=float, default=0.0, env_var="VALGAME_P95_MS",
                        help="Fail the run (exit code 1) when the p95 of all requests exceeds this (0: off).")
    parser.add_argument("--valgame-max-fail-ratio", type=float, default=-1.0, env_var="VALGAME_MAX_FAIL_RATIO",
                        help="Fail the run when the failure ratio exceeds this, e.g. 0.001 (negative: off).")


def check_thresholds(environment: Environment, p95_ms: float, max_fail_ratio: float) -> list[str]:
    """Compare the whole run with the limits; on a breach set the exit code to 1. Returns the breaches."""
    total = environment.stats.total
    breaches = []
    p95 = total.get_response_time_percentile(0.95) or 0
    if p95_ms > 0 and p95 > p95_ms:
        breaches.append(f"p95 {p95:.0f} ms > {p95_ms:g} ms")
    if max_fail_ratio >= 0 and total.fail_ratio > max_fail_ratio:
        breaches.append(f"failure ratio {total.fail_ratio:.4%} > {max_fail_ratio:.4%}")
    if total.num_requests == 0:
        breaches.append("no requests were made")
    if breaches:
        environment.process_exit_code = 1
    return breaches


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    p95 = getattr(options, "valgame_p95_ms", 0.0) or 0.0
    ratio = getattr(options, "valgame_max_fail_ratio", -1.0)
    ratio = -1.0 if ratio is None else ratio
    if p95 > 0 or ratio >= 0:
        breaches = check_thresholds(environment, p95, ratio)
        print("valgame thresholds:", "; ".join(breaches) if breaches else "met")


@events.test_stop.add_listener
def _report_events(environment: Environment, **_: Any) -> None:
    if EVENT_COUNTS:
        print("valgame events received:", ", ".join(f"{k} {v}" for k, v in sorted(EVENT_COUNTS.items())))
    prefix = getattr(environment.parsed_options, "csv_prefix", None) if environment.parsed_options else None
    if prefix:
        with open(f"{prefix}_events.csv", "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["event", "count"])
            writer.writerows(sorted(EVENT_COUNTS.items()))
