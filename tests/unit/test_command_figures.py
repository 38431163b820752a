"""`CommandFigures`: what Prometheus reads of the commands a node handled (server/metrics.py)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from server.metrics import CommandFigures


def exposition(figures: CommandFigures) -> str:
    registry = CollectorRegistry()
    registry.register(figures)  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def test_counts_by_type_and_outcome_and_latency_by_type() -> None:
    figures = CommandFigures(buckets=(0.001, 0.01))
    figures.record("ping", "ok", 0.0005)
    figures.record("ping", "ok", 0.005)
    figures.record("ping", "rate_limited", 0.02)
    figures.record("energy.get", "ok", 0.0001)
    figures.record("invalid", "bad_request")  # refused before it had a command: counted, not timed

    assert figures.count("ping", "ok") == 2
    assert figures.count("ping", "rate_limited") == 1
    assert figures.count("ping", "internal") == 0
    assert figures.count("market.buy", "ok") == 0
    assert figures.total() == 5
    text = exposition(figures)
    assert 'valgame_commands_total{outcome="ok",type="ping"} 2.0' in text
    assert 'valgame_commands_total{outcome="rate_limited",type="ping"} 1.0' in text
    assert 'valgame_commands_total{outcome="bad_request",type="invalid"} 1.0' in text
    assert 'valgame_command_seconds_bucket{le="0.001",type="ping"} 1.0' in text
    assert 'valgame_command_seconds_bucket{le="0.01",type="ping"} 2.0' in text
    assert 'valgame_command_seconds_bucket{le="+Inf",type="ping"} 3.0' in text
    assert 'valgame_command_seconds_count{type="ping"} 3.0' in text
    assert 'valgame_command_seconds_sum{type="ping"} 0.0255' in text
    assert 'valgame_command_seconds_count{type="energy.get"} 1.0' in text
    assert 'type="invalid"' not in text.split("valgame_command_seconds", 1)[1]  # no histogram for it
