"""The node process's cyclic garbage collector: its thresholds (settings), and the time its collections take
(for /metrics).

Why the thresholds are settings, and the full collection's is not Python's (10): CPython counts a generation's age
in allocations, not in time. One node with 10,000 active players allocates so fast that an object living ten
milliseconds (a command's state, a commit waiting for its group) survives two young collections and is counted
towards the next full one, and a full collection walks every object of 10,000 sessions. Measured on that node
(issue #13, docs/PERFORMANCE.md run 17): 45 full collections in 3 minutes, 1.2 s each, with the event loop stopped
through each: 56 % of the loop thread's CPU was the collector, and every command waited behind it. Considered after
1,000 middle collections instead of 10, a full collection came once in a run of the same length. Young and middle
collections keep Python's sizes: a young generation of 50,000 objects also stopped the full collections, but each
young collection then took ~50 ms, walking objects no longer in the processor's cache, and a picows node holding
19,500 idle sockets used ~0.025 core more with it (two runs each way).

What rare full collections cost: objects that only the collector frees (reference cycles: a closed socket's
objects, errors kept with their tracebacks) wait longer for it. persistence.port.without_frames keeps the commit
path's errors out of such cycles; `valgame_gc_pause_seconds_total` shows what the collector costs a node.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric


def set_thresholds(young: int, middle: int, old: int) -> None:
    """`gc.set_threshold` for this process, each value checked: 0 for the young generation would turn the
    collector off, and cycles would never be freed."""
    for name, value in (("gc_threshold0", young), ("gc_threshold1", middle), ("gc_threshold2", old)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, not {value}")
    gc.set_threshold(young, middle, old)


class CollectorPauses:
    """How many collections of each generation ran in this process and how long they took, from `gc.callbacks`.
    Process-wide (the collector is): install it once (`watch`), read it from any node's registry."""

    def __init__(self) -> None:
        self.runs = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0
        self._clock = time.perf_counter

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = self._clock()
        else:
            generation = info["generation"]
            self.runs[generation] += 1
            self.seconds[generation] += self._clock() - self._started

    def watch(self) -> None:
        if self._on_collection not in gc.callbacks:
            gc.callbacks.append(self._on_collection)

    def unwatch(self) -> None:
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)

    def collect(self) -> Iterator[Metric]:
        runs = CounterMetricFamily("valgame_gc_collections", "Runs of the cyclic garbage collector in this node's "
                                   "process, by generation (2: a full collection).", labels=["generation"])
        pauses = CounterMetricFamily("valgame_gc_pause_seconds", "Time the collector's runs took, by generation: "
                                     "the event loop does nothing else meanwhile.", labels=["generation"])
        thresholds = GaugeMetricFamily("valgame_gc_threshold", "The collector's thresholds (`gc_threshold0..2`).",
                                       labels=["generation"])
        for generation, threshold in enumerate(gc.get_threshold()):
            label = [str(generation)]
            runs.add_metric(label, self.runs[generation])
            pauses.add_metric(label, self.seconds[generation])
            thresholds.add_metric(label, threshold)
        yield runs
        yield pauses
        yield thresholds


PAUSES = CollectorPauses()
