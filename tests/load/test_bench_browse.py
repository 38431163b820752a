"""bench/bench_browse.py scaled down to seconds: 200 listings, 20 of them active, one round of two browses of each
variant. Both variants return the same page and are timed, the ratio is the hint's time over the adapter's, the
entry names its tree, date and load, and the secantusd it started is gone."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from persistence.mongo import INDEXES
from tests.load.test_bench_references import run_bench
from tests.support.servers import process_alive


@pytest.mark.timeout(180)
def test_browse_times_the_adapter_and_the_hinted_page_index(tmp_path: Path) -> None:
    entry = run_bench(tmp_path, "bench.bench_browse", "--sizes", "200:20", "--rounds", "1", "--browses", "2")
    assert entry["bench"] == "browse" and entry["rounds"] == 1 and entry["browses"] == 2
    result = entry["results"]["200:20"]
    assert (result["total"], result["active"], result["page"]) == (200, 20, 20)
    assert result["index"] in {model.document["name"] for model in INDEXES["listings"]}
    for variant in ("adapter", "hint"):
        figures = result[variant]
        assert len(figures["rounds_ms"]) == 1 and figures["rounds_ms"][0] > 0, (variant, figures)
        assert figures["min"] == figures["median"] == figures["max"] == figures["rounds_ms"][0]
    assert result["ratio_hint_vs_adapter"]["rounds"] == [
        pytest.approx(result["hint"]["rounds_ms"][0] / result["adapter"]["rounds_ms"][0])]

    assert datetime.datetime.fromisoformat(entry["date_utc"]).utcoffset() == datetime.timedelta(0)
    assert len(entry["loadavg_start"]) == 3 and len(entry["loadavg_end"]) == 3
    assert entry["tree"]["commit"]
    assert not process_alive(entry["secantusd_pid"])
