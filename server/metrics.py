"""Prometheus metrics of a node, on a registry of its own (several nodes may share a process in tools)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sockets = Gauge("valgame_sockets_open", "Authenticated WebSockets open on this node.", registry=r)
        self.commands = Counter("valgame_commands_total",
                                "Commands handled, by type and outcome (ok or an error code).",
                                ["type", "outcome"], registry=r)
        self.latency = Histogram("valgame_command_seconds",
                                 "Time from a command's arrival to its reply being queued.",
                                 ["type"], registry=r,
                                 buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.queue_overflows = Counter("valgame_queue_overflows_total",
                                       "Sockets closed with 4008 because their outbound queue overflowed.", registry=r)
        self.auth_failures = Counter("valgame_auth_failures_total", "Failed authentications, by reason.",
                                     ["reason"], registry=r)
        self.rate_limited = Counter("valgame_rate_limited_total", "Commands refused by the per-socket rate limit.",
                                    registry=r)
        self.closes = Counter("valgame_socket_closes_total", "Sockets closed by the server, by close code.",
                              ["code"], registry=r)
        self.events = Counter("valgame_events_delivered_total", "Event frames queued to sockets on this node.",
                              registry=r)
        self.bus_gaps = Counter("valgame_bus_gaps_total", "Times the bus connection was lost and re-established.",
                                registry=r)
        self.draining = Gauge("valgame_draining", "1 while this node drains.", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
