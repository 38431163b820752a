"""`secantusd-py` with a chosen transaction lifetime: the test store's counterpart of mongod's
`--setParameter transactionLifetimeLimitSeconds=N`, for the tests of a node that dies inside a transaction.

The daemon (secantus/cli.py) ends a transaction after 60 s and offers no flag, configuration key or `setParameter`
to change that (its `setParameter` accepts only `logLevel` and `quiet`). The server class it runs takes the
lifetime as a constructor argument (`transaction_lifetime_seconds`); this starts that same server, as the daemon
would (in-memory storage, advertised as a single-node replica set, test commands off), with the lifetime given.
Unlike mongod, which counts from a transaction's start and sweeps expired ones every half lifetime, SecantusDB
ends a transaction idle that long, the next time any transaction command reaches it.

    python -m tests.support.secantusd_lifetime --port 27017 --transaction-lifetime 6
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from secantus.server import SecantusDBServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--transaction-lifetime", type=float, required=True, metavar="SECONDS")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = SecantusDBServer(host=args.host, port=args.port, storage_path=":memory:", enable_test_commands=False,
                              transaction_lifetime_seconds=args.transaction_lifetime)

    def stop(signum: int, frame: object) -> None:
        server.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.start()
    server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
