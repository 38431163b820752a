"""Random bits from the operating system, read a block at a time.

Every command that changes state draws a seed for its rules' generator and ids for what it creates. Drawn with
`secrets` / `uuid.uuid4`, each draw is a `getrandom` system call, which also lets go of the interpreter lock and has
to win it back: on one node with 10,000 active players, where the store's threads want the lock too, those draws
showed in every profile of the event loop (docs/PERFORMANCE.md, runs 13 and 14). Here one system call fills a block
that serves many draws. The bits are the same kernel CSPRNG's, used once each; a forked child starts with an empty
block of its own, so it never repeats its parent's.
"""

from __future__ import annotations

import os
import threading

BLOCK_BYTES = 4096


class Entropy:
    __slots__ = ("_block", "_block_bytes", "_lock", "_used")

    def __init__(self, block_bytes: int = BLOCK_BYTES) -> None:
        self._block_bytes = block_bytes
        self._block = b""
        self._used = 0
        self._lock = threading.Lock()  # store threads and jobs may draw too: no two draws get the same bytes

    def take(self, count: int) -> bytes:
        """`count` random bytes, never handed out before."""
        with self._lock:
            used = self._used
            if used + count > len(self._block):
                self._block, used = os.urandom(max(self._block_bytes, count)), 0
            self._used = used + count
            return self._block[used:used + count]

    def bits(self, count: int) -> int:
        """A random integer of `count` bits."""
        return int.from_bytes(self.take((count + 7) // 8), "big") >> (-count % 8)

    def hex(self, count: int) -> str:
        """`count` random bytes as twice as many hexadecimal digits."""
        return self.take(count).hex()

    def _forget(self) -> None:
        self._block, self._used = b"", 0
        self._lock = threading.Lock()


ENTROPY = Entropy()
os.register_at_fork(after_in_child=ENTROPY._forget)
