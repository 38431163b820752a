"""TEST ONLY: make the node's process die at a named point of its work, as a SIGKILL at that moment would.

`testonly_exit_at` (empty in production; the node logs a warning when it is set) names the points, e.g.
`after_commit` or `after_commit:3` (the third time that point is reached). The process ends with `os._exit(137)`:
no cleanup, no flush, no reply sent, exactly what a killed node leaves behind. Fault tests use it to stop a node
between two steps that must not be separated by a crash without harm (a commit and the publish of its events, the
writes of a transaction and its commit).

Code that can die at a point takes the `exit_at` callable (components outside `server/`, such as a storage
adapter, get the bound method, never this module).
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger("valgame.failpoints")

POINTS = frozenset({"after_commit", "in_transaction"})


class Failpoints:
    def __init__(self, spec: str) -> None:
        self._remaining: dict[str, int] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, _, count = item.partition(":")
            if name not in POINTS:
                raise ValueError(f"unknown failpoint {name!r}; known: {', '.join(sorted(POINTS))}")
            self._remaining[name] = int(count or 1)
        if self._remaining:
            log.warning("TEST ONLY failpoints set: the process will exit at them", extra={"points": spec})

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
