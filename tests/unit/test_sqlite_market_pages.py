"""A market page on SQLite is read from an index in the page's order and stops at the page (persistence/sqlite.py
migration 4): the planner's own account of each default browse shows the sort's index and no sort of all the active
listings. Without it a browse sorted every active listing (10-19 ms each at 18,000 listings, docs/PERFORMANCE.md)."""

from __future__ import annotations

import sqlite3

import pytest

from persistence.port import ListingQuery
from persistence.sqlite import MIGRATIONS, listings_sql

NOW = 1_000.0


def plan(query: ListingQuery) -> list[str]:
    db = sqlite3.connect(":memory:")
    for script in MIGRATIONS:
        db.executescript(script)
    sql, args = listings_sql(query)
    return [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", args)]


@pytest.mark.parametrize(("query", "index"), [
    (ListingQuery(sort="price", live_at=NOW), "listings_price"),
    (ListingQuery(sort="newest", descending=True, live_at=NOW), "listings_newest"),
    (ListingQuery(sort="level", descending=True, live_at=NOW), "listings_level"),
    (ListingQuery(sort="newest", descending=True, kind="consumable", rank="D", live_at=NOW), "listings_newest"),
    (ListingQuery(sort="newest", descending=True, live_at=NOW, after=(0, 5.0, "l_x")), "listings_newest"),
    (ListingQuery(sort="newest", descending=True, seller_id="p_1", limit=100), "listings_seller"),
], ids=["price", "newest", "level", "newest-filtered", "newest-next-page", "own-listings"])
def test_a_page_in_its_default_order_is_read_from_its_index(query: ListingQuery, index: str) -> None:
    steps = plan(query)
    assert any(f"USING INDEX {index} " in step for step in steps), steps
    # Only ties of the whole sort key (same featured flag and value) are put in order apart, never all the rows.
    assert "USE TEMP B-TREE FOR ORDER BY" not in steps, steps
