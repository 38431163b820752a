"""The digest's core without I/O: what it keeps, what it counts, the frame it makes."""

from __future__ import annotations

import orjson
import pytest

from protocol import encode_event
from server.digest import TopicDigest


def listed(n: int) -> bytes:
    return encode_event("market.listed", {"id": f"L{n}", "price": n}, topic="market")


def test_the_first_frame_opens_the_interval_and_take_starts_a_new_one() -> None:
    digest = TopicDigest("market", "market:digest", "market.digest", 1.0, 10)
    assert digest.take() is None, "nothing came: nothing to send"
    assert [digest.add(listed(n)) for n in range(3)] == [True, False, False]
    frame = orjson.loads(digest.take() or b"")
    assert frame == {"type": "market.digest", "topic": "market:digest",
                     "data": {"events": [orjson.loads(listed(n)) for n in range(3)], "skipped": 0}}
    assert digest.take() is None
    assert digest.add(listed(9)), "after a take, the next frame opens a new interval"


def test_past_max_events_frames_are_only_counted() -> None:
    digest = TopicDigest("market", "market:digest", "market.digest", 1.0, 2)
    assert [digest.add(listed(n)) for n in range(5)] == [True, False, False, False, False]
    data = orjson.loads(digest.take() or b"")["data"]
    assert ([e["data"]["id"] for e in data["events"]], data["skipped"]) == (["L0", "L1"], 3)


@pytest.mark.parametrize(("seconds", "max_events"), [(0.0, 10), (-1.0, 10), (1.0, 0)])
def test_settings_that_make_no_digest_are_refused(seconds: float, max_events: int) -> None:
    with pytest.raises(ValueError):
        TopicDigest("market", "market:digest", "market.digest", seconds, max_events)
