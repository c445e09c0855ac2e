"""Pure macro logic: calendars, publication lags, gap plans, point-in-time rows, catalogue."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from coinfill.errors import ConfigurationError, InputError
from coinfill.macro.calendar import expected_dates, known_at, observation_dates
from coinfill.macro.catalog import DEFAULT_SERIES, MacroSeries, catalog, choose
from coinfill.macro.plan import StoredDates, plan_all, plan_series
from coinfill.macro.rows import to_rows
from coinfill.sources.fred import Observation

CAT = catalog()
TODAY = date(2026, 11, 21)


def test_the_four_old_mistakes_are_fixed() -> None:
    ids = {s.indicator_name: s.series_id for s in DEFAULT_SERIES}
    assert ids["10Y_YIELD"] == "DGS10"  # not DFF10
    assert ids["DXY"] == "DTWEXBGS"  # not DEXUSEU
    assert ids["GOLD_PRICE"] is None  # GOLDAMND never existed
    assert CAT["US_INFLATION"].series_id == "CPIAUCSL" and CAT["US_INFLATION"].units == "pc1"
    assert "GOLDAMND" in CAT["GOLD_PRICE"].note


def test_users_extend_and_override_the_catalogue_without_code() -> None:
    extended = catalog(
        {
            "US_M2": {"series_id": "M2SL", "frequency": "monthly", "lag_days": 30},
            "VIX": {"lag_days": 4},
        }
    )
    assert extended["US_M2"].series_id == "M2SL" and extended["US_M2"].frequency == "monthly"
    assert extended["VIX"].lag_days == 4 and extended["VIX"].series_id == "VIXCLS"
    with pytest.raises(ConfigurationError, match=r"US_BAD.*frequency"):
        catalog({"US_BAD": {"series_id": "X", "frequency": "hourly"}})


def test_choose_names_unknown_indicators() -> None:
    assert [s.indicator_name for s in choose(CAT, ["vix", "US_GDP"])] == ["VIX", "US_GDP"]
    with pytest.raises(InputError, match=r"unknown indicator DFF10.*10Y_YIELD"):
        choose(CAT, ["DFF10"])


def test_calendars_follow_native_frequency() -> None:
    daily = list(observation_dates("daily", date(2026, 11, 16), date(2026, 11, 23)))
    assert daily == [date(2026, 11, d) for d in (16, 17, 18, 19, 20)]  # no weekend
    monthly = list(observation_dates("monthly", date(2026, 1, 15), date(2026, 5, 1)))
    assert monthly == [date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)]
    quarterly = list(observation_dates("quarterly", date(2025, 2, 1), date(2026, 2, 1)))
    assert quarterly == [date(2025, 4, 1), date(2025, 7, 1), date(2025, 10, 1), date(2026, 1, 1)]


def test_expected_dates_leave_out_what_cannot_be_published_yet() -> None:
    cpi = CAT["US_INFLATION"]  # lag 50 days
    dates = expected_dates(cpi, date(2026, 1, 1), date(2026, 12, 1), TODAY)
    assert dates[-1] == date(2026, 10, 1)  # October's CPI is due by 20 November (1 Oct + 50)
    earlier = expected_dates(cpi, date(2026, 1, 1), date(2026, 12, 1), date(2026, 11, 20))
    assert earlier[-1] == date(2026, 9, 1)  # ... so on the 20th it is not missing yet
    gdp = CAT["US_GDP"]
    assert expected_dates(gdp, date(2026, 1, 1), date(2027, 1, 1), TODAY)[-1] == date(2026, 7, 1)
    assert expected_dates(CAT["GOLD_PRICE"], date(2026, 1, 1), TODAY, TODAY) == []


def test_known_at_is_the_end_of_the_us_eastern_day() -> None:
    assert known_at(date(2026, 1, 15)) == datetime(2026, 1, 16, 5, 0)  # EST = UTC-5
    assert known_at(date(2026, 7, 15)) == datetime(2026, 7, 16, 4, 0)  # EDT = UTC-4


def obs(day: str, value: float | None, start: str, end: str = "9999-12-31") -> Observation:
    return Observation(
        date.fromisoformat(day), value, date.fromisoformat(start), date.fromisoformat(end)
    )


def test_first_release_rows_keep_the_first_value_and_its_publication() -> None:
    rows = to_rows(
        CAT["US_UNEMPLOYMENT"],
        [
            obs("2026-09-01", 4.3, "2026-10-03", "2026-11-06"),
            obs("2026-09-01", 4.4, "2026-11-07"),  # revised a month later
            obs("2026-10-01", 4.5, "2026-11-07"),
        ],
    )
    sept = rows.iloc[0]
    assert sept["value"] == 4.4 and sept["first_value"] == 4.3
    assert sept["published_at"] == known_at(date(2026, 10, 3))
    assert sept["value_known_at"] == known_at(date(2026, 11, 7))
    assert not sept["missing_at_source"]
    assert rows.iloc[1]["published_at"] == rows.iloc[1]["value_known_at"]


def test_lag_rows_and_holidays() -> None:
    rows = to_rows(
        CAT["VIX"],
        [
            obs("2025-12-24", 17.0, "2026-11-21", "2026-11-21"),
            obs("2025-12-25", None, "2026-11-21", "2026-11-21"),
        ],
    )
    eve, christmas = rows.iloc[0], rows.iloc[1]
    # Not the realtime_start of today's download: the close is known two days after the date.
    assert eve["published_at"] == known_at(date(2025, 12, 26))
    assert christmas["missing_at_source"] and christmas["value"] != christmas["value"]  # NaN
    assert pd.isna(christmas["published_at"])


def test_plan_fetches_gaps_and_the_trailing_window_in_one_request() -> None:
    vix = CAT["VIX"]
    start, end = date(2026, 1, 1), None
    expected = expected_dates(vix, start, date(2026, 11, 22), TODAY)
    stored = StoredDates(filled=frozenset(expected[:100] + expected[101:]), first=start)
    plan = plan_series(vix, stored, start, end, TODAY, revision_days=30)
    assert plan.gaps == (expected[100],)
    assert plan.fetch and plan.fetch_start == expected[100] and plan.requests == 1
    assert "1 gap(s)" in plan.reason and "trailing" in plan.reason


def test_complete_history_outside_the_trailing_window_is_not_fetched() -> None:
    vix = CAT["VIX"]
    start, end = date(2025, 1, 1), date(2025, 7, 1)
    holidays = frozenset({date(2025, 1, 1)})
    filled = frozenset(d for d in expected_dates(vix, start, end, TODAY) if d not in holidays)
    plan = plan_series(vix, StoredDates(filled, holidays, start), start, end, TODAY, 30)
    assert not plan.fetch and plan.reason == "complete" and plan.gaps == ()


def test_plan_all_history_and_gold_reason() -> None:
    plan = plan_all(
        [CAT["VIX"], CAT["GOLD_PRICE"]],
        {},
        None,
        None,
        TODAY,
        revision_days=30,
        requests_per_second=1,
    )
    vix, gold = plan.series
    assert vix.fetch and vix.fetch_start is None and vix.reason == "all history"
    assert not gold.fetch and "GOLDAMND" in gold.reason
    assert plan.requests == 1 and plan.seconds_at_rate_limit == 0
    assert "GOLD_PRICE" in plan.notes[0]
    text = plan.markdown("all")
    assert "1 request(s)" in text and "| VIX | VIXCLS |" in text


def test_plan_time_at_the_rate_limit() -> None:
    plan = plan_all(
        DEFAULT_SERIES,
        {},
        date(2024, 11, 21),
        None,
        TODAY,
        revision_days=30,
        requests_per_second=0.5,
    )
    assert plan.requests == 8  # every series but gold
    assert plan.seconds_at_rate_limit == pytest.approx(14.0)


def test_macro_series_validation() -> None:
    with pytest.raises(ValueError):
        MacroSeries(indicator_name="lower case")
