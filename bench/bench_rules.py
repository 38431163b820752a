"""The CPU of the game's hottest rule, in-process: one combat round (`resolve_round`, which copies the state) and its
serialisation for the commit (`to_dict`), by the rounds the combat has already had; and a command's random context
(`Players.context`, a seeded generator, plus one `make_id`). Pure Python, no I/O: what a round costs the event loop
before the store sees it.

    python -m bench.bench_rules --rounds 1,5,10,20 --runs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import timeit
from typing import Any

from bench.common import record, tree
from server.game.combat import resolve_round, start_combat
from server.players import Players, make_id
from tests.unit.factories import fresh_player, hero, make_ctx


def measure(marks: list[int], runs: int, number: int) -> dict[str, Any]:
    ctx = make_ctx(seed=3)
    state = fresh_player(ctx)
    hero(state).hp = 10**6  # the monster never wins: as many rounds as asked
    state = start_combat(state, "cueva-goblins", [hero(state).id], "manual", ctx).state
    rounds: dict[str, dict[str, Any]] = {}
    for fought in range(1, max(marks) + 1):
        state = resolve_round(state, "defend", ctx).state  # defend: the monster keeps its HP, the combat goes on
        if fought in marks:
            times = [t / number * 1e6 for t in timeit.repeat(
                lambda current=state: resolve_round(current, "defend", ctx).state.to_dict(), number=number,
                repeat=runs)]
            rounds[str(fought)] = {"us": times, "median": statistics.median(times), "min": min(times)}
    players = Players.__new__(Players)  # the context needs only the game settings
    players.settings = ctx.settings
    times = [t / (number * 10) * 1e6 for t in timeit.repeat(lambda: (players.context(), make_id("b")),
                                                           number=number * 10, repeat=runs)]
    return {"round_us_by_rounds_fought": rounds,
            "context_and_id_us": {"us": times, "median": statistics.median(times), "min": min(times)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", default="1,5,10,20", help="Rounds already fought when a round is timed.")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--number", type=int, default=3000, help="Rounds timed per run.")
    args = parser.parse_args()
    marks = sorted({int(r) for r in args.rounds.split(",")})
    if not marks or marks[0] < 1 or marks[-1] > 200 or not 0 < args.number <= 100_000:
        parser.error("--rounds in 1..200, --number in 1..100,000")
    started = os.getloadavg()
    result = measure(marks, args.runs, args.number)
    record("rules", {"runs": args.runs, "number": args.number, "loadavg_start": list(started), "tree": tree(),
                     **result})


if __name__ == "__main__":
    main()
