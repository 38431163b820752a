"""A scheduled job outlives what one run of it meets: contention and storage outages are retried by the next run."""

from __future__ import annotations

import asyncio
import logging

import pytest

from persistence import Unavailable
from protocol.codes import ErrorCode
from server import jobs
from server.game.errors import GameError
from server.metrics import Metrics

FAILURES = [GameError(ErrorCode.CONFLICT, "the state changed too often at once; try again"), Unavailable("slow")]


async def run_until_ok(failures: list[Exception], metrics: Metrics) -> None:
    """Run a job whose first runs raise `failures`, one each, whose next run handles 2 items, and whose run after
    that never ends (so the test sees exactly one good run)."""
    ahead = list(failures)
    handled = asyncio.Event()

    async def work() -> int:
        if ahead:
            raise ahead.pop(0)
        if handled.is_set():
            await asyncio.Event().wait()
        handled.set()
        return 2

    job = asyncio.create_task(jobs.every(0, work, "expiry", metrics))
    try:
        await asyncio.wait_for(handled.wait(), 5)
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)


async def test_contention_and_unavailable_storage_are_retried_by_the_next_run(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    with caplog.at_level(logging.WARNING, logger="valgame.jobs"):
        await run_until_ok(FAILURES, metrics)
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]
    assert not any(r.exc_info for r in caplog.records)  # no traceback: nothing is wrong with the job
    assert metrics.registry.get_sample_value("valgame_job_runs_total", {"job": "expiry"}) == 1
    assert metrics.registry.get_sample_value("valgame_job_items_total", {"job": "expiry"}) == 2


async def test_other_refusals_are_logged_as_failures(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="valgame.jobs"):
        await run_until_ok([GameError(ErrorCode.NOT_FOUND, "no listing 'l_x'")], Metrics())
    assert [(r.levelname, r.msg) for r in caplog.records] == [("ERROR", "job failed")]
    assert caplog.records[0].exc_info is not None
