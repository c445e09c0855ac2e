"""Point-in-time joins of the feature table, on hand-built frames: a value is used at t only if
it was published at or before t (revisions, late revisions, staleness, per-symbol on-chain
joins, the sentiment window (t − 24 h, t])."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from coinfill.features.catalog import ONCHAIN_MAX_AGE, macro_max_age
from coinfill.features.pointintime import (
    KNOWN,
    OBSERVED,
    VALUE,
    as_of,
    as_of_by,
    effective,
    macro_events,
    trailing_counts,
)
from coinfill.features.sentiment import sentiment_columns
from coinfill.macro.catalog import MacroSeries, catalog
from coinfill.onchain.metrics import BLOCKCHAIN_INFO, COINMETRICS, available_at

CAT = catalog()
SECOND = timedelta(seconds=1)
# (observation date, first_value, published_at, value, value_known_at)
Row = tuple[str, float | None, datetime | None, float | None, datetime | None]


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def rows(*observations: Row) -> pd.DataFrame:
    """``macro_indicators`` rows of one indicator as ``db.features.macro_rows`` returns them."""
    frame = pd.DataFrame(
        observations, columns=["day", "first_value", "published_at", "value", "value_known_at"]
    )
    return pd.DataFrame(
        {
            "observed": pd.to_datetime(frame["day"]).astype("datetime64[us]"),
            "value": frame["value"].astype(float),
            "first_value": frame["first_value"].astype(float),
            "published_at": pd.to_datetime(frame["published_at"]).astype("datetime64[us]"),
            "value_known_at": pd.to_datetime(frame["value_known_at"]).astype("datetime64[us]"),
        }
    )


def at(
    events: pd.DataFrame, *times: datetime, max_age: timedelta = timedelta(days=90)
) -> list[tuple[float | None, date | None]]:
    """(value, observation date) known at each time; None where NULL."""
    found = as_of(pd.Series(list(times)), events, max_age)
    return [
        (None, None) if np.isnan(v) else (float(v), pd.Timestamp(o).date())
        for v, o in zip(found[VALUE], found[OBSERVED], strict=True)
    ]


def test_a_value_published_exactly_at_t_is_used_and_one_second_later_is_not() -> None:
    pub = ts("2026-03-06 13:30")
    events = macro_events(
        rows(
            ("2026-01-01", 4.3, ts("2026-02-06 13:30"), 4.3, ts("2026-02-06 13:30")),
            ("2026-02-01", 4.4, pub, 4.4, pub),
            ("2026-03-01", 4.5, pub + timedelta(days=28) + SECOND, 4.5, None),
        )
    )
    assert at(events, pub - SECOND, pub, pub + timedelta(days=28)) == [
        (4.3, date(2026, 1, 1)),
        (4.4, date(2026, 2, 1)),
        (4.4, date(2026, 2, 1)),  # March is published one second later
    ]
    assert at(events, ts("2026-02-06 13:29:59")) == [(None, None)]


def test_a_revision_is_seen_only_from_value_known_at() -> None:
    pub, revised = ts("2026-02-06 13:30"), ts("2026-03-02 10:00:01")
    events = macro_events(rows(("2026-01-01", 4.3, pub, 4.35, revised)))
    assert at(events, pub, revised - SECOND, revised, revised + timedelta(days=7)) == [
        (4.3, date(2026, 1, 1)),
        (4.3, date(2026, 1, 1)),
        (4.35, date(2026, 1, 1)),
        (4.35, date(2026, 1, 1)),
    ]
    # The same value "revised" at publication is one event; a change at publication is the value.
    assert len(macro_events(rows(("2026-01-01", 4.3, pub, 4.3, pub)))) == 1
    assert at(macro_events(rows(("2026-01-01", 4.3, pub, 4.4, pub))), pub) == [
        (4.4, date(2026, 1, 1))
    ]


def test_a_late_revision_of_an_old_period_never_replaces_the_newer_period() -> None:
    events = macro_events(
        rows(
            ("2025-12-01", 4.4, ts("2026-01-09 13:30"), 4.45, ts("2026-03-04 06:00")),
            ("2026-01-01", 4.3, ts("2026-02-06 13:30"), 4.35, ts("2026-03-06 13:30")),
            # Feb's first release comes out with January's revision, at the same instant.
            ("2026-02-01", 4.2, ts("2026-03-06 13:30"), 4.2, ts("2026-03-06 13:30")),
        )
    )
    assert 4.45 not in set(events[VALUE]) and 4.35 not in set(events[VALUE])
    assert at(events, ts("2026-02-06 13:29"), ts("2026-03-04 06:00"), ts("2026-03-06 13:30")) == [
        (4.4, date(2025, 12, 1)),
        (4.3, date(2026, 1, 1)),  # not December's revision
        (4.2, date(2026, 2, 1)),  # not January's revision
    ]


def test_a_monthly_row_on_5_march_does_not_see_march_published_in_april() -> None:
    series = CAT["US_UNEMPLOYMENT"]
    assert (series.frequency, macro_max_age(series)) == ("monthly", timedelta(days=90))
    events = macro_events(
        rows(
            ("2026-01-01", 4.3, ts("2026-02-06 13:30"), 4.3, ts("2026-02-06 13:30")),
            ("2026-02-01", 4.2, ts("2026-03-06 13:30"), 4.2, ts("2026-03-06 13:30")),
            ("2026-03-01", 4.1, ts("2026-04-03 12:30"), 4.0, ts("2026-05-08 12:30")),
        )
    )
    t = ts("2026-03-05 12:00")
    found = as_of(pd.Series([t]), events, macro_max_age(series))
    assert found[VALUE].tolist() == [4.3]
    assert (t - found[OBSERVED].iloc[0]) / timedelta(hours=1) == 63 * 24 + 12
    assert at(events, ts("2026-04-03 12:30"), ts("2026-05-08 12:30")) == [
        (4.1, date(2026, 3, 1)),
        (4.0, date(2026, 3, 1)),
    ]


def test_a_quarterly_value_lasts_its_max_age_and_not_one_second_more() -> None:
    series = CAT["US_GDP"]
    limit = macro_max_age(series)
    assert (series.frequency, limit) == ("quarterly", timedelta(days=92 + 130 + 30))
    events = macro_events(
        rows(
            ("2025-07-01", 2.0, ts("2025-10-30 12:30"), 2.2, ts("2026-01-29 12:30")),
            ("2025-10-01", 1.5, ts("2026-01-29 12:30"), 1.7, ts("2026-02-26 12:30")),
        )
    )
    edge = datetime(2025, 10, 1) + limit
    assert at(events, ts("2026-01-29 12:29:59"), edge, edge + SECOND, max_age=limit) == [
        (2.0, date(2025, 7, 1)),
        (1.7, date(2025, 10, 1)),
        (None, None),
    ]


def test_a_stale_value_is_null_and_the_next_release_revives_the_column() -> None:
    limit = macro_max_age(CAT["VIX"])
    assert limit == timedelta(days=8)
    events = macro_events(
        rows(
            ("2026-02-23", 21.0, ts("2026-02-25 05:00"), 21.0, ts("2026-02-25 05:00")),
            ("2026-03-04", 22.0, ts("2026-03-06 05:00"), 22.0, ts("2026-03-06 05:00")),
        )
    )
    edge = ts("2026-03-03 00:00")
    assert at(events, edge, edge + SECOND, ts("2026-03-06 05:00"), max_age=limit) == [
        (21.0, date(2026, 2, 23)),
        (None, None),
        (22.0, date(2026, 3, 4)),
    ]
    override = MacroSeries(indicator_name="X", series_id="X", stale_after_days=3)
    assert macro_max_age(override) == timedelta(days=3)


def test_rows_without_a_publication_time_are_never_used() -> None:
    events = macro_events(rows(("2026-03-06", None, None, 99.0, None)))
    assert events.empty
    assert at(events, ts("2030-01-01")) == [(None, None)]


def test_effective_keeps_only_state_changes_per_group() -> None:
    events = pd.DataFrame(
        {
            "symbol": ["BTC", "BTC", "BTC", "ETH"],
            KNOWN: [ts("2026-03-02"), ts("2026-03-03"), ts("2026-03-03"), ts("2026-03-01")],
            OBSERVED: [ts("2026-03-01"), ts("2026-02-20"), ts("2026-03-02"), ts("2026-02-25")],
            VALUE: [1.0, 2.0, 3.0, 4.0],
        }
    )
    kept = effective(events, by="symbol")
    assert kept[["symbol", VALUE]].values.tolist() == [
        ["BTC", 1.0],
        ["BTC", 3.0],
        ["ETH", 4.0],
    ]
    # Without groups, BTC's day of 20 February (known after 1 March was) is dropped.
    assert effective(events)[VALUE].tolist() == [4.0, 1.0, 3.0]


def test_as_of_keeps_the_callers_index_and_order() -> None:
    events = macro_events(
        rows(("2026-01-01", 1.0, ts("2026-02-01"), 1.0, ts("2026-02-01")),
             ("2026-02-01", 2.0, ts("2026-03-01"), 2.0, ts("2026-03-01")))
    )  # fmt: skip
    times = pd.Series([ts("2026-03-01"), ts("2026-01-31"), ts("2026-02-15")], index=[30, 10, 20])
    found = as_of(times, events, timedelta(days=90))
    assert found.index.tolist() == [30, 10, 20]
    assert found[VALUE].fillna(-1).tolist() == [2.0, -1, 1.0]
    empty = as_of(times, events.iloc[0:0], timedelta(days=90))
    assert empty[VALUE].isna().all() and empty[OBSERVED].isna().all()


def onchain_events(days: list[tuple[str, str, float, str]]) -> pd.DataFrame:
    """(symbol, UTC day, value, source) → events known at ``available_at(day, source)``."""
    return effective(
        pd.DataFrame(
            {
                "symbol": [s for s, *_ in days],
                KNOWN: [available_at(date.fromisoformat(d), src) for _, d, _, src in days],
                OBSERVED: [datetime.fromisoformat(d) for _, d, *_ in days],
                VALUE: [v for *_, v, _ in days],
                "source": [src for *_, src in days],
            }
        ),
        by="symbol",
    )


def test_onchain_as_of_by_never_mixes_symbols_and_goes_null_after_max_age() -> None:
    events = onchain_events(
        [
            ("BTC", "2026-03-01", 1_001.0, COINMETRICS),
            ("BTC", "2026-03-02", 1_002.0, BLOCKCHAIN_INFO),
            ("ETH", "2026-02-27", 2_027.0, COINMETRICS),
        ]
    )
    probe = [
        ("BTC", "2026-03-02 23:59:59"),  # 1 March (CoinMetrics) is readable at 3 March 00:00
        ("BTC", "2026-03-03 00:00"),
        ("BTC", "2026-03-03 01:00"),  # 2 March via blockchain.info: day end + 1 h
        ("ETH", "2026-03-03 00:00"),  # ETH's last day ended 28 Feb: 3 days is the limit
        ("ETH", "2026-03-03 00:00:01"),
        ("SOL", "2026-03-03 01:00"),
    ]
    frame = pd.DataFrame(
        {"symbol": [s for s, _ in probe], "timestamp_iso": [ts(t) for _, t in probe]},
        index=[5, 4, 3, 2, 1, 0],
    )
    found = as_of_by(frame, events, ONCHAIN_MAX_AGE, age_from=timedelta(days=1), extra=("source",))
    assert found.index.tolist() == [5, 4, 3, 2, 1, 0]
    assert found[VALUE].fillna(-1).tolist() == [-1, 1_001.0, 1_002.0, 2_027.0, -1, -1]
    assert [None if pd.isna(s) else s for s in found["source"]] == [
        None, COINMETRICS, BLOCKCHAIN_INFO, COINMETRICS, None, None,
    ]  # fmt: skip


def test_trailing_counts_window_is_open_at_t_minus_span_and_closed_at_t() -> None:
    day = 86_400
    t = 10 * day
    events = np.array([t - day - 1, t - day, t - day + 1, t - 1, t, t + 1], dtype=np.int64)
    rows_ = np.array([t - day, t, t + day], dtype=np.int64)
    assert trailing_counts(rows_, events, timedelta(days=1)).tolist() == [2, 3, 1]
    weights = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    assert trailing_counts(rows_, events, timedelta(days=1), weights).tolist() == [3.0, 28.0, 32.0]


def test_sentiment_counts_articles_in_the_trailing_24_hours_means_over_scored_only() -> None:
    t = ts("2026-03-05 12:00")
    day = timedelta(hours=24)
    mentions = [  # symbol, published, score, label positive, confidence
        ("BTC", t - day - SECOND, 0.9, True, 0.9),  # before the window
        ("BTC", t - day, 0.9, True, 0.9),  # exactly t − 24 h: out
        ("BTC", t - day + SECOND, 0.5, True, 0.8),  # in
        ("BTC", t - timedelta(hours=3), None, True, None),  # in, unscored: counted only
        ("BTC", t, -0.1, False, 0.6),  # exactly t: in
        ("BTC", t + SECOND, -0.9, False, 0.1),  # after t: out
        ("ETH", t - timedelta(hours=1), -0.7, False, 0.5),
    ]
    frame = pd.DataFrame(
        {
            "symbol": [m[0] for m in mentions],
            "seconds": [int(pd.Timestamp(m[1]).timestamp()) for m in mentions],
            "score": [np.nan if m[2] is None else m[2] for m in mentions],
            "positive": [m[3] for m in mentions],
            "confidence": [np.nan if m[4] is None else m[4] for m in mentions],
            "scorable": [True] * len(mentions),
        }
    )
    rows_ = pd.DataFrame(
        {"symbol": ["ETH", "BTC", "XRP"], "timestamp_iso": [t, t, t]}, index=[7, 8, 9]
    )
    out = sentiment_columns(rows_, frame)
    assert out.index.tolist() == [7, 8, 9]
    assert out["sentiment_count_24h"].tolist() == [1, 3, 0]
    assert out["sentiment_mean_24h"].tolist()[:2] == pytest.approx([-0.7, 0.2])
    assert out["sentiment_positive_share_24h"].tolist()[:2] == pytest.approx([0.0, 0.5])
    assert out["sentiment_confidence_mean_24h"].tolist()[:2] == pytest.approx([0.5, 0.7])
    assert out.loc[9, ["sentiment_mean_24h", "sentiment_positive_share_24h"]].isna().all()
