"""The MongoDB adapter's market browse on secantusd, as it is and with the page index named as a hint.

Run 10 of docs/PERFORMANCE.md found that naming the page index (`hint`) made secantusd's browse slower than its own
plan (a collection scan and an in-memory sort), because its index scan runs in Python; the adapter gave the hint up.
This measures both, so the figures can be made again:

- secantusd (tests/support/mongo.py `MongoProcess`, on 127.0.0.1, pinned to the server core) is started and stopped
  here; this process, the client, runs on the generator core.
- For each size `total:active` (`--sizes`), a fresh database gets `total` listings through the adapter's own
  `commit` (MongoStorage), made by the market's rules (`market.list_goods`; the ones not active then sold with
  `market.sell`), so the documents are those `market.list` and `market.buy` write. All are consumables (the kind
  the browse asks for), every 17th featured.
- The browse is `query_listings` as `market.browse` calls it: newest first, `kind` given, live listings only, a
  page of 20 and one more to tell whether a next page exists. The `find` it sends is captured from the client's
  command events and sent again with `hint` naming the page index whose keys are that sort (read from the
  adapter's index definitions); both must return the same page.
- `--rounds` rounds, each `--browses` browses of the adapter then `--browses` with the hint (A B A B ...), after one
  unmeasured browse of each. Per variant: ms a browse, median and range over the rounds; and the hint's time over
  the adapter's, round by round, median and range.

    python -m bench.bench_browse                                # 1,000:100 and 10,000:1,000, 5 rounds of 10
    python -m bench.bench_browse --sizes 1000:100 --rounds 2    # a quick check
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import random
import time
from typing import Any

from pymongo import ASCENDING
from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent

from bench.common import GENERATOR_CPUS, SERVER_CPUS, WORK, check_loopback, pin, ratio, record, spread, tree
from persistence.mongo import INDEXES, MongoStorage
from persistence.port import Change, ListingQuery, ListingWrite
from server.game import market
from server.game.catalog import CONSUMABLES
from server.game.config import GameSettings
from server.game.outcome import RuleContext
from server.game.state import Item, PlayerState
from tests.support.mongo import MongoProcess

SELLERS = 40  # distinct sellers (and buyers) among the listings
FEATURED_EVERY = 17
SEED_BATCH = 500  # listings a commit (one transaction) when seeding
PAGE = ListingQuery().limit  # market.browse's page when the client names none (protocol: "default 20")
KIND = "consumable"  # every seeded listing's kind, and the kind the browse asks for


class FindCapture(CommandListener):
    """Keeps the first `find` on the listings sent once `armed`: the adapter's own browse, as it reached the wire."""

    def __init__(self) -> None:
        self.armed = False
        self.find: dict[str, Any] | None = None

    def started(self, event: CommandStartedEvent) -> None:
        if self.armed and event.command_name == "find" and event.command.get("find") == "listings":
            self.find, self.armed = dict(event.command), False

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        total, _, active = part.partition(":")
        try:
            size = (int(total), int(active))
        except ValueError:
            raise SystemExit(f"--sizes: {part!r} is not total:active") from None
        if not 0 < size[1] <= size[0]:
            raise SystemExit(f"--sizes: {part!r} needs 0 < active <= total")
        sizes.append(size)
    if not sizes:
        raise SystemExit("--sizes: name at least one total:active")
    return sizes


def listing_writes(total: int, active: int, now: float) -> list[ListingWrite]:
    """`total` listings made by the market's rules, `active` of them spread evenly and the others sold; one a second,
    the newest a second before `now`."""
    settings = GameSettings()
    code = next(iter(CONSUMABLES))  # a consumable, KIND
    low = settings.market_min_price(KIND)
    writes = []
    for i in range(total):
        ctx = RuleContext(settings=settings, now=now - total + i, rng=random.Random(i),
                          make_id=lambda prefix, i=i: f"{prefix}{i:07d}")
        seller_id, buyer_id = f"p{i % SELLERS}", f"p{(i + 1) % SELLERS}"
        seller = PlayerState(val=settings.market_feature_cost, items=[Item(f"i{i:07d}", code, KIND)])
        move = market.list_goods(seller, seller_id, f"seller{i % SELLERS}", low + i % 50, i % FEATURED_EVERY == 0,
                                 ctx, item_id=f"i{i:07d}")
        doc = move.listing.doc
        if (i + 1) * active // total == i * active // total:  # not one of the `active` evenly spread ones
            sold = market.sell(PlayerState(val=doc["price"]), move.outcomes[seller_id].state, buyer_id,
                               f"buyer{i % SELLERS}", doc, ctx)
            doc = sold.listing.doc
        writes.append(ListingWrite(doc["id"], None, doc))
    return writes


def page_index(sort: dict[str, int]) -> str:
    """The adapter's index that reads the active listings in exactly `sort`'s order (its page index)."""
    for model in INDEXES["listings"]:
        if list(model.document["key"].items()) == [("status", ASCENDING), *sort.items()]:
            return str(model.document["name"])
    raise SystemExit(f"no index of persistence/mongo.py INDEXES['listings'] reads the page in the order {sort}")


async def measure(url: str, total: int, active: int, rounds: int, browses: int) -> dict[str, Any]:
    capture = FindCapture()
    storage = MongoStorage(url, event_listeners=[capture], commit_seconds=120.0)
    await storage.open()
    try:
        started = time.perf_counter()
        writes = listing_writes(total, active, time.time())
        for first in range(0, total, SEED_BATCH):
            await storage.commit(Change(listings=writes[first:first + SEED_BATCH]))
        seed_s = time.perf_counter() - started
        listings = storage.db["listings"]
        if await listings.count_documents({"status": "active"}) != active:
            raise SystemExit(f"seeded {total}:{active}, but the store does not hold {active} active listings")

        def query() -> ListingQuery:  # as market.browse builds it: live listings now, a page and one more
            return ListingQuery(kind=KIND, sort="newest", descending=True, live_at=time.time(),
                                limit=PAGE + 1)

        capture.armed = True
        page = await storage.query_listings(query())
        sent = capture.find
        if sent is None:
            raise SystemExit("the adapter's browse sent no find on the listings")
        sort = dict(sent["sort"])
        index = page_index(sort)
        present = [i["name"] async for i in await listings.list_indexes()]
        if index not in present:
            raise SystemExit(f"index {index} is not on the collection (it has {present})")

        async def hinted() -> list[dict[str, Any]]:
            # The adapter's find as sent (its filter, sort and limit), with a fresh `live_at` as each browse has.
            where = dict(sent["filter"])
            if "expires_at" in where:
                where["expires_at"] = {"$gt": time.time()}
            return await listings.find(where, sort=list(sort.items()), limit=sent["limit"], hint=index).to_list()

        hinted_page = await hinted()
        if len(page) != min(PAGE + 1, active) or [d["id"] for d in page] != [d["id"] for d in hinted_page]:
            raise SystemExit(f"expected the same page of {min(PAGE + 1, active)} from both: adapter "
                             f"{[d['id'] for d in page]}, hint {[d['id'] for d in hinted_page]}")

        adapter_ms: list[float] = []
        hint_ms: list[float] = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(browses):
                await storage.query_listings(query())
            t1 = time.perf_counter()
            for _ in range(browses):
                await hinted()
            t2 = time.perf_counter()
            adapter_ms.append((t1 - t0) / browses * 1000)
            hint_ms.append((t2 - t1) / browses * 1000)
            print(f"{total}:{active} round {len(adapter_ms)}: adapter {adapter_ms[-1]:.1f} ms, hint "
                  f"{hint_ms[-1]:.1f} ms a browse (hint / adapter {ratio(hint_ms[-1], adapter_ms[-1]):.2f})",
                  flush=True)
        ratios = [ratio(h, a) for h, a in zip(hint_ms, adapter_ms, strict=True)]
        return {"total": total, "active": active, "seed_s": round(seed_s, 1), "index": index, "page": len(page),
                "adapter": {**spread(adapter_ms), "rounds_ms": adapter_ms},
                "hint": {**spread(hint_ms), "rounds_ms": hint_ms},
                "ratio_hint_vs_adapter": {**spread(ratios), "rounds": ratios}}
    finally:
        await storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000:100,10000:1000",
                        help="Listings in the store and how many of them are active, total:active, comma-separated.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--browses", type=int, default=10, help="Browses of each variant in a round.")
    args = parser.parse_args()
    sizes = parse_sizes(args.sizes)
    if args.rounds < 1 or args.browses < 1:
        raise SystemExit("--rounds and --browses take 1 or more")
    start = {"date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
             "loadavg_start": os.getloadavg(), "tree": tree()}

    server = MongoProcess(WORK / f"browse-{os.getpid()}")
    try:
        server.start()
        check_loopback(server.address.rsplit(":", 1)[0])
        assert server.proc is not None
        pin(server.proc.pid, SERVER_CPUS)
        os.sched_setaffinity(0, GENERATOR_CPUS)
        results = {f"{total}:{active}": asyncio.run(measure(server.url(), total, active, args.rounds, args.browses))
                   for total, active in sizes}
    finally:
        server.stop()
    for size, r in results.items():
        print(f"{size} ({r['index']}, page {r['page']}): " + ", ".join(
            f"{name} {r[name]['median']:.1f} [{r[name]['min']:.1f}-{r[name]['max']:.1f}] ms"
            for name in ("adapter", "hint"))
            + f"; hint / adapter {r['ratio_hint_vs_adapter']['median']:.2f} "
              f"[{r['ratio_hint_vs_adapter']['min']:.2f}-{r['ratio_hint_vs_adapter']['max']:.2f}]", flush=True)
    record("browse", {**start, "loadavg_end": os.getloadavg(), "rounds": args.rounds, "browses": args.browses,
                      "secantusd_pid": server.proc.pid, "results": results})


if __name__ == "__main__":
    main()
