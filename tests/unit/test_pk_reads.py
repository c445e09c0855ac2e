"""Planning id-range reads: rows stored together are read as ranges, scattered rows by id."""

from __future__ import annotations

import numpy as np
import pandas as pd

from coinfill.db.engine import make_engine
from coinfill.db.pk_reads import MIN_RUN, only_wanted, plan, statements
from coinfill.db.schema import price_data_real


def test_rows_stored_together_are_one_range_and_a_late_tail_is_looked_up_by_id() -> None:
    block = np.arange(1_000, 1_700)
    tail = np.array([90_000, 90_500, 91_000])
    found = plan(np.concatenate([tail, block[::-1]]))  # any order
    assert found is not None
    assert found.ranges == [(1_000, 1_699)] and list(found.points) == list(tail)
    assert len(found.wanted) == 703


def test_small_holes_and_a_few_foreign_rows_stay_in_the_range() -> None:
    every_other = np.arange(0, 2 * 500, 2)  # two symbols stored interleaved
    found = plan(every_other)
    assert found is not None and found.ranges == [(0, 998)] and not len(found.points)


def test_scattered_rows_are_not_planned() -> None:
    assert plan(np.arange(0, 500 * 10, 10)) is None  # ten symbols interleaved
    assert plan(np.arange(MIN_RUN - 1)) is None  # one run, too short to be worth a range
    assert plan(np.array([], dtype=np.int64)) is None


def test_statements_split_rows_evenly_and_keep_only_the_wanted_rows() -> None:
    engine = make_engine("sqlite://", check=False)
    found = plan(np.concatenate([np.arange(0, 100), np.arange(1_000, 1_300), [5_000, 6_000]]))
    assert found is not None
    one = statements(
        engine, [price_data_real.c.id, price_data_real.c.symbol], price_data_real.c.id, found, 1
    )
    two = statements(
        engine, [price_data_real.c.id, price_data_real.c.symbol], price_data_real.c.id, found, 2
    )
    assert len(one) == 1 and one[0].count("UNION ALL") == 2
    assert len(two) == 2 and "BETWEEN 0 AND 99" in two[0] and "IN (5000, 6000)" in two[1]
    read = pd.DataFrame({"id": [0, 50, 99, 7_777], "symbol": ["A", "A", "A", "OTHER"]})
    assert list(only_wanted(read, found)["id"]) == [0, 50, 99]
