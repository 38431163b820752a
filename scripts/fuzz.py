"""Fire the project's fuzzer at a node it starts (on a free loopback port) and print what happened.

    python scripts/fuzz.py                      # 100,000 frames over 8 sockets
    python scripts/fuzz.py --frames 500000 --sockets 16 --seed 7

Exits 1 on any `internal` reply, traceback (in a reply or the node's log), socket closed by the node, or a node
that is not healthy afterwards. The suite runs the same at 20,000 frames (tests/integration/test_fuzz_node.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.client import register, unique_name
from tests.support.fuzz import fire
from tests.support.servers import ServerProcess


async def main(frames: int, sockets: int, seed: int) -> int:
    node = ServerProcess(Path(tempfile.mkdtemp(prefix="valgame-fuzz-")), rate_per_second=1_000_000,
                         rate_burst=1_000_000, chat_messages_per_10s=1_000_000).start()
    try:
        tokens = [(await register(node.http, unique_name("fz")))["access_token"] for _ in range(sockets)]
        report = await fire(node.ws, tokens, frames, seed)
        print(report.summary())
        async with httpx.AsyncClient(base_url=node.http) as http:
            healthy = (await http.get("/health")).status_code == 200
        logged = "Traceback" in node.log()
        failed = (report.internal or report.tracebacks or any(report.closes) or not healthy or logged
                  or report.replies != report.frames)
        print(f"healthy after: {healthy}; traceback in the node's log: {logged}")
        for line in (report.internal + report.tracebacks)[:10]:
            print("  ", line)
        return 1 if failed else 0
    finally:
        node.terminate()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--sockets", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.frames, args.sockets, args.seed)))
