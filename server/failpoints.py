"""TEST ONLY: make the node's process die, or one step of its work fail, at a named point.

`testonly_exit_at` (empty in production; the node logs a warning when it is set) names the exit points, e.g.
`after_commit` or `after_commit:3` (the third time that point is reached). The process ends with `os._exit(137)`:
no cleanup, no flush, no reply sent, exactly what a killed node leaves behind. Fault tests use it to stop a node
between two steps that must not be separated by a crash without harm (a commit and the publish of its events, the
writes of a transaction and its commit).

`testonly_fail_at` names the failure points, e.g. `rebuild_rankings:2`: the first two times that point is reached
it raises `FailpointError` (a step that failed, say on a connection Redis closed), and it passes after that. Fault
tests use it to show that a failed step is retried, by this node or another.

Code that can die or fail at a point takes the `exit_at` / `fail_at` callable (components outside `server/`, such
as a storage adapter, get the bound method, never this module).
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger("valgame.failpoints")

POINTS = frozenset({"after_commit", "in_transaction"})
FAIL_POINTS = frozenset({"rebuild_rankings", "timed_round"})


class FailpointError(RuntimeError):
    """Raised at an armed failure point (test only)."""


def _parse(spec: str, known: frozenset[str]) -> dict[str, int]:
    """`point[:n],...` as {point: n} (n is 1 when left out)."""
    points: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, count = item.partition(":")
        if name not in known:
            raise ValueError(f"unknown failpoint {name!r}; known: {', '.join(sorted(known))}")
        points[name] = int(count or 1)
    return points


class Failpoints:
    def __init__(self, spec: str, fail_spec: str = "") -> None:
        self._remaining = _parse(spec, POINTS)
        self._failures = _parse(fail_spec, FAIL_POINTS)
        if self._remaining:
            log.warning("TEST ONLY failpoints set: the process will exit at them", extra={"points": spec})
        if self._failures:
            log.warning("TEST ONLY failpoints set: these steps will fail", extra={"points": fail_spec})

    def exit_at(self, name: str) -> None:
        """Die here if `name` is armed and this is its chosen hit."""
        remaining = self._remaining.get(name)
        if remaining is None:
            return
        if remaining > 1:
            self._remaining[name] = remaining - 1
            return
        sys.stderr.write(f"failpoint {name}: exiting\n")
        sys.stderr.flush()
        os._exit(137)

    def fail_at(self, name: str) -> None:
        """Raise `FailpointError` here if `name` is armed and has failures left."""
        left = self._failures.get(name, 0)
        if left <= 0:
            return
        self._failures[name] = left - 1
        raise FailpointError(f"test-only failpoint: {name} fails")
