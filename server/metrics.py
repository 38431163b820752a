"""Prometheus metrics of a node, on a registry of its own (several nodes may share a process in tools)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from server.collector import PAUSES

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class CommandFigures:
    """Commands handled (by type and outcome) and their latency (by type), counted in plain ints and handed to
    Prometheus when it scrapes. Labelled prometheus_client metrics take a lock and look up their labels on every
    update: about 8 % of the CPU of a light command."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        # type -> (count by outcome, [count per latency bucket..., count above the last, sum of seconds]): one
        # look-up by type per command, and no key made of the pair
        self._by_type: dict[str, tuple[dict[str, int], list[float]]] = {}

    def record(self, command_type: str, outcome: str, seconds: float | None = None) -> None:
        figures = self._by_type.get(command_type)
        if figures is None:
            figures = self._by_type[command_type] = ({}, [0] * (len(self.buckets) + 2))
        outcomes, latency = figures
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if seconds is None:
            return
        latency[bisect_left(self.buckets, seconds)] += 1
        latency[-1] += seconds

    def count(self, command_type: str, outcome: str) -> int:
        figures = self._by_type.get(command_type)
        return figures[0].get(outcome, 0) if figures is not None else 0

    def total(self) -> int:
        return sum(sum(outcomes.values()) for outcomes, _ in self._by_type.values())

    def collect(self) -> Iterator[Metric]:
        commands = CounterMetricFamily("valgame_commands", "Commands handled, by type and outcome (ok or an error "
                                       "code).", labels=["type", "outcome"])
        for command_type, (outcomes, _) in sorted(self._by_type.items()):
            for outcome, count in sorted(outcomes.items()):
                commands.add_metric([command_type, outcome], count)
        yield commands
        latency = HistogramMetricFamily("valgame_command_seconds", "Time from a command's arrival to its reply "
                                        "being queued.", labels=["type"])
        bounds = [*(str(float(b)) for b in self.buckets), "+Inf"]
        for command_type, (_, values) in sorted(self._by_type.items()):
            if not any(values[:-1]):
                continue  # counted, never timed (frames refused before they had a command)
            cumulative, running = [], 0
            for bound, count in zip(bounds, values[:-1], strict=True):
                running += int(count)
                cumulative.append((bound, running))
            latency.add_metric([command_type], cumulative, sum_value=values[-1])
        yield latency


class StorageFigures:
    """Storage operations as the node sees them (server/storage_watch.py counts them), in plain numbers for the same
    reason as `CommandFigures`: every command makes one or more storage calls.

    `busy_seconds` adds up the time of every operation, so its rate is the average number of operations in flight;
    divided by `pool_size` (what the adapter can run at once) it is how full the storage connection pool was."""

    def __init__(self) -> None:
        self.inflight = 0
        self.busy_seconds = 0.0
        self.by_operation: dict[str, list[int]] = {}  # operation -> [finished, slow, failed]
        self.pool_size: Callable[[], int] = lambda: 1

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("valgame_storage_inflight", "Storage operations running or waiting for a connection.",
                                value=self.inflight)
        yield GaugeMetricFamily("valgame_storage_pool_size", "Storage operations the adapter runs at once (MongoDB: "
                                "the connection pool's size; SQLite: its threads, writer and reader).",
                                value=self.pool_size())
        yield CounterMetricFamily("valgame_storage_busy_seconds", "Sum of the durations of storage operations (its "
                                  "rate is the average number in flight).", value=self.busy_seconds)
        for column, (name, doc) in enumerate((
                ("valgame_storage_operations", "Storage operations finished, by operation."),
                ("valgame_storage_slow_operations", "Storage operations slower than `storage_slow_seconds`, by "
                 "operation."),
                ("valgame_storage_failures", "Storage operations that raised, by operation (version conflicts and "
                 "duplicates, which callers handle, excepted)."))):
            family = CounterMetricFamily(name, doc, labels=["operation"])
            for operation, counts in sorted(self.by_operation.items()):
                family.add_metric([operation], counts[column])
            yield family


class LoadFigures:
    """Counted by the hub when Prometheus scrapes, so the hot path keeps no extra count."""

    def __init__(self, players: Callable[[], int], inflight: Callable[[], int]) -> None:
        self.players, self.inflight = players, inflight

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("valgame_players_active", "Players with at least one authenticated socket on this "
                                "node.", value=self.players())
        # A socket reads its next command only after the reply to the last one (server/socket.py), so the commands
        # being handled are the node's request queue: what the autoscaler's queue rule watches.
        yield GaugeMetricFamily("valgame_commands_inflight", "Commands being handled on this node (its request "
                                "queue).", value=self.inflight())


class DeliveryFigures:
    """The bus's delivery probe (server/bus/redis/link.py), read when Prometheus scrapes."""

    def __init__(self, ok: Callable[[], bool], seconds: Callable[[], float]) -> None:
        self.ok, self.seconds = ok, seconds

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("valgame_bus_delivery_ok", "1 while a probe this node publishes to itself through "
                                "the bus arrives within `bus_probe_timeout_seconds`, else 0 (/ready is 503).",
                                value=1 if self.ok() else 0)
        yield GaugeMetricFamily("valgame_bus_probe_seconds", "How long the last delivery probe that arrived took, "
                                "from publish to receipt.", value=self.seconds())


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sockets = Gauge("valgame_sockets_open", "Authenticated WebSockets open on this node.", registry=r)
        self.commands = CommandFigures()
        r.register(self.commands)
        self.queue_overflows = Counter("valgame_queue_overflows_total",
                                       "Sockets closed with 4008 because their outbound queue overflowed.", registry=r)
        self.write_deadline_closes = Counter(
            "valgame_write_deadline_closes_total", "Sockets cut off (4008, transport aborted) because the client "
            "accepted none of its pending frames within the write deadline.", registry=r)
        self.auth_failures = Counter("valgame_auth_failures_total", "Failed authentications, by reason.",
                                     ["reason"], registry=r)
        self.password_rehashes = Counter(
            "valgame_password_rehashes_total", "Password hashes made with other argon2 parameters met at login: "
            "upgraded (re-hashed and stored) or deferred (every hashing thread was busy).", ["outcome"], registry=r)
        self.rate_limited = Counter("valgame_rate_limited_total", "Commands refused by the per-socket rate limit.",
                                    registry=r)
        self.closes = Counter("valgame_socket_closes_total", "Sockets closed by the server, by close code.",
                              ["code"], registry=r)
        self.events = Counter("valgame_events_delivered_total", "Event frames queued to sockets on this node.",
                              registry=r)
        self.bus_gaps = Counter("valgame_bus_gaps_total", "Times the bus connection was lost and re-established.",
                                registry=r)
        self.event_catch_ups = Counter(
            "valgame_event_catch_ups_total", "Times a socket read missed events back from the event log (a gap in "
            "what the bus brought, or the periodic check found it behind).", registry=r)
        self.draining = Gauge("valgame_draining", "1 while this node drains.", registry=r)
        self.bus_lag = Gauge("valgame_bus_lag_seconds", "Round trip of a ping to the bus, measured every 5 s.",
                             registry=r)
        self.job_runs = Counter("valgame_job_runs_total", "Scheduled job runs that completed, by job.", ["job"],
                                registry=r)
        self.job_items = Counter("valgame_job_items_total", "What scheduled jobs handled, by job: characters lost "
                                 "(sweep), listings expired (expiry), idempotency records purged (purge).", ["job"],
                                 registry=r)
        self.storage = StorageFigures()
        r.register(self.storage)
        # process_cpu_seconds_total, process_resident_memory_bytes...: the CPU alert and the dashboard use them
        ProcessCollector(registry=r)
        r.register(PAUSES)  # the garbage collector's runs and pauses (server/collector.py)
        self.backup_last_success = Gauge("valgame_backup_last_success_timestamp_seconds", "When the last backup of "
                                         "this node's embedded store started that succeeded (Unix time; 0: none).",
                                         registry=r)
        self.backup_seconds = Gauge("valgame_backup_seconds", "How long the last successful backup took.",
                                    registry=r)
        self.backup_every = Gauge("valgame_backup_every_seconds", "The node's backup interval (0: it makes none).",
                                  registry=r)
        self.backup_failures = Counter("valgame_backup_failures_total", "Backups of the embedded store that failed.",
                                       registry=r)

    def watch_load(self, players: Callable[[], int], inflight: Callable[[], int]) -> None:
        """Export the players connected here and the commands being handled, read when scraped."""
        self.registry.register(LoadFigures(players, inflight))

    def watch_delivery(self, ok: Callable[[], bool], seconds: Callable[[], float]) -> None:
        """Export whether the bus delivers to this node, read when scraped."""
        self.registry.register(DeliveryFigures(ok, seconds))

    def render(self) -> bytes:
        return generate_latest(self.registry)
