"""Command deadlines on one loop timer (server/deadlines.py) behave as `asyncio.timeout` does for each command: a block
past its deadline raises TimeoutError, one that ends in time is left alone, a cancellation from elsewhere stays a
cancellation; and one timer serves them all, each cut off no earlier than its own deadline."""

from __future__ import annotations

import asyncio

import pytest

from server.deadlines import CommandDeadlines

SECONDS = 0.1


def current() -> asyncio.Task[object]:
    task = asyncio.current_task()
    assert task is not None
    return task


async def forever() -> None:
    await asyncio.get_running_loop().create_future()


async def timed_block(deadlines: CommandDeadlines, started: asyncio.Event | None = None) -> float:
    """Run a block that never ends under the deadline; the seconds until it was cut off."""
    loop = asyncio.get_running_loop()
    begun = loop.time()
    with pytest.raises(TimeoutError), deadlines.limit(current()):
        if started is not None:
            started.set()
        await forever()
    return loop.time() - begun


async def test_a_block_that_ends_in_time_is_left_alone() -> None:
    deadlines = CommandDeadlines(SECONDS)
    deadline = deadlines.limit(current())
    with deadline:
        await asyncio.sleep(0)
    assert not deadline.expired
    assert deadlines.running() == 0
    assert await timed_block(deadlines) >= SECONDS  # the timer armed for the first block does not cut the next early


async def test_a_block_past_its_deadline_raises_timeout_error() -> None:
    deadlines = CommandDeadlines(SECONDS)
    assert await timed_block(deadlines) >= SECONDS
    assert deadlines.running() == 0


async def test_each_block_is_cut_off_at_its_own_deadline_in_start_order() -> None:
    deadlines = CommandDeadlines(SECONDS)
    order: list[int] = []

    async def command(i: int) -> float:
        elapsed = await timed_block(deadlines)
        order.append(i)
        return elapsed

    tasks = []
    for i in range(5):
        tasks.append(asyncio.create_task(command(i)))
        await asyncio.sleep(SECONDS / 4)  # staggered starts: the later ones expire while the earlier are cut
    elapsed = await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    assert min(elapsed) >= SECONDS
    assert deadlines.running() == 0


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    deadlines = CommandDeadlines(60)
    started = asyncio.Event()
    task = asyncio.create_task(timed_block(deadlines, started))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert deadlines.running() == 0


async def test_a_block_that_catches_nothing_still_sees_its_own_errors() -> None:
    deadlines = CommandDeadlines(60)
    with pytest.raises(KeyError), deadlines.limit(current()):
        raise KeyError("x")
    assert deadlines.running() == 0


async def test_one_deadline_serves_a_task_command_after_command() -> None:
    deadlines = CommandDeadlines(SECONDS)
    deadline = deadlines.limit(current())
    for _ in range(3):
        with pytest.raises(TimeoutError), deadline:
            await forever()
        with deadline:  # the next command starts afresh: not cut off, not cancelled
            await asyncio.sleep(0)
        assert not deadline.expired
    assert deadlines.running() == 0


def test_a_deadline_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CommandDeadlines(0)
