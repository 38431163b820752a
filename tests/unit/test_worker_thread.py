"""The store's thread hop (persistence/worker_thread.py): calls run on its one thread, in order, answered on the
caller's loop; failures reach the caller; a caller that stops waiting does not stop its call; shutdown lets the
queued calls finish."""

from __future__ import annotations

import asyncio
import threading

import pytest

from persistence.worker_thread import WorkerThread


async def test_calls_run_on_its_one_thread_in_order() -> None:
    worker = WorkerThread("test-worker")
    ran: list[tuple[int, str]] = []

    def call(n: int) -> int:
        ran.append((n, threading.current_thread().name))
        return n * 2

    try:
        results = await asyncio.gather(*(worker.run(call, n) for n in range(50)))
    finally:
        worker.shutdown()
    assert results == [n * 2 for n in range(50)]
    assert [n for n, _ in ran] == list(range(50)), "in the order they were handed over"
    assert {name for _, name in ran} == {"test-worker"}
    assert not any(t.name == "test-worker" for t in threading.enumerate()), "stopped at shutdown"


async def test_a_failure_reaches_its_caller_and_the_thread_goes_on() -> None:
    worker = WorkerThread("test-worker")

    def fail() -> None:
        raise ValueError("no such row")

    try:
        with pytest.raises(ValueError, match="no such row"):
            await worker.run(fail)
        assert await worker.run(lambda: "still here") == "still here"
    finally:
        worker.shutdown()


async def test_a_call_whose_caller_stopped_waiting_still_runs_and_shutdown_waits_for_it() -> None:
    worker = WorkerThread("test-worker")
    release = threading.Event()
    done: list[str] = []

    def slow(tag: str) -> None:
        release.wait(10)
        done.append(tag)

    first = worker.run(slow, "first")
    second = worker.run(slow, "second")  # queued behind the first
    second.cancel()  # its caller gave up (a command's deadline) before it started
    release.set()
    await first
    worker.shutdown()  # blocks until the queue is done
    assert done == ["first", "second"]
    with pytest.raises(RuntimeError):
        worker.run(slow, "after")
