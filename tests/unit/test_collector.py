"""The node's garbage-collector settings and pause figures (server/collector.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from server.collector import CollectorPauses, set_thresholds


@pytest.fixture
def thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_thresholds_are_set_for_the_process(thresholds: None) -> None:
    set_thresholds(1234, 5, 6)
    assert gc.get_threshold() == (1234, 5, 6)


@pytest.mark.parametrize("values", [(0, 10, 10), (700, 0, 10), (700, 10, -1)])
def test_a_threshold_below_one_is_refused(thresholds: None, values: tuple[int, int, int]) -> None:
    before = gc.get_threshold()
    with pytest.raises(ValueError, match="must be at least 1"):
        set_thresholds(*values)
    assert gc.get_threshold() == before


def test_each_collection_is_counted_with_its_time_by_generation() -> None:
    pauses = CollectorPauses()
    pauses.watch()
    pauses.watch()  # once only, however often asked
    try:
        gc.collect(1)
        gc.collect(2)
        gc.collect(2)
    finally:
        pauses.unwatch()
    assert pauses.runs[1] >= 1  # the young and middle generations also run on their own
    assert pauses.runs[2] == 2  # each full collection counted once: watched once
    assert pauses.seconds[2] > 0
    counted = list(pauses.runs)
    gc.collect(2)  # no longer watched
    assert pauses.runs == counted

    registry = CollectorRegistry()
    registry.register(pauses)
    assert registry.get_sample_value("valgame_gc_collections_total", {"generation": "2"}) == pauses.runs[2]
    assert registry.get_sample_value("valgame_gc_pause_seconds_total", {"generation": "2"}) == pauses.seconds[2]
    assert registry.get_sample_value("valgame_gc_threshold", {"generation": "0"}) == gc.get_threshold()[0]
