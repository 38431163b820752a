from __future__ import annotations

import os
import threading

from server.entropy import ENTROPY, Entropy
from server.players import make_id


def test_draws_never_repeat_across_blocks() -> None:
    entropy = Entropy(block_bytes=64)
    draws = [entropy.take(8) for _ in range(1000)]  # 125 blocks
    assert all(len(d) == 8 for d in draws)
    assert len(set(draws)) == len(draws)


def test_a_draw_larger_than_a_block() -> None:
    entropy = Entropy(block_bytes=16)
    entropy.take(10)
    assert len(entropy.take(40)) == 40


def test_bits_and_hex_have_their_size() -> None:
    entropy = Entropy()
    values = [entropy.bits(63) for _ in range(2000)]
    assert all(0 <= v < 2**63 for v in values)
    assert max(values) >= 2**62  # the top bit is used: not truncated to fewer bits
    assert all(0 <= entropy.bits(5) < 32 for _ in range(100))
    ids = {make_id("b") for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 18 and int(i[2:], 16) >= 0 for i in ids)


def test_threads_never_share_a_draw() -> None:
    entropy = Entropy(block_bytes=256)
    drawn: list[bytes] = []

    def draw() -> None:
        mine = [entropy.take(8) for _ in range(2000)]
        drawn.extend(mine)

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(drawn)) == len(drawn) == 8000


def test_a_forked_child_does_not_repeat_its_parents_draws() -> None:
    ENTROPY.take(8)  # the parent holds a block with bytes left in it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next draw, to the parent
        try:
            os.write(write, ENTROPY.take(16))
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 16
    assert ENTROPY.take(16) != child
