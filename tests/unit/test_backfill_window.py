from datetime import date, datetime

import pytest

from coinfill.backfill import chunked, parse_symbols, plan_window, symbols_per_chunk
from coinfill.errors import InputError

NOW = datetime(2026, 11, 21, 10, 37)


def test_given_days_zero_when_planned_then_window_is_all_history() -> None:
    window = plan_window(0, None, None, now=NOW)
    assert (window.start, window.end, window.label) == (None, None, "all")


def test_given_days_when_planned_then_window_trails_from_the_current_hour() -> None:
    window = plan_window(30, None, None, now=NOW)
    assert window.start == datetime(2026, 10, 22, 10, 0)
    assert window.end is None
    assert window.label == "30d"


def test_given_nothing_when_planned_then_default_days_apply() -> None:
    assert plan_window(None, None, None, now=NOW, default_days=2).label == "2d"


def test_given_start_and_end_when_planned_then_half_open_window() -> None:
    window = plan_window(None, date(2024, 1, 1), "2024-02-01", now=NOW)
    assert window.start == datetime(2024, 1, 1)
    assert window.end == datetime(2024, 2, 1)
    assert window.label == "2024-01-01..2024-02-01"
    assert window.start_ms == 1704067200000


@pytest.mark.parametrize(
    ("days", "start", "end", "message"),
    [
        (-1, None, None, "days=-1 is negative"),
        (None, "2024-02-01", "2024-02-01", "is not before end"),
        (None, "2024-03-01", "2024-02-01", "is not before end"),
        (None, "2027-01-01", None, "lies entirely in the future"),
        (None, "2027-01-01", "2027-02-01", "lies entirely in the future"),
        (7, "2024-01-01", None, "either days or start/end"),
        (None, "01/02/2024", None, "not an ISO date"),
    ],
)
def test_given_bad_request_when_planned_then_clear_error(
    days: int | None, start: str | None, end: str | None, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        plan_window(days, start, end, now=NOW)


def test_symbols_are_normalised_and_checked() -> None:
    assert parse_symbols(" btc, ETH ,btc") == ["BTC", "ETH"]
    assert parse_symbols(None) is None
    with pytest.raises(InputError, match="not a valid symbol"):
        parse_symbols("BTC; DROP TABLE x")
    with pytest.raises(InputError, match="empty"):
        parse_symbols(" , ")


def test_chunks_cover_every_symbol_once() -> None:
    assert chunked(["A", "B", "C", "D", "E"], 2) == [["A", "B"], ["C", "D"], ["E"]]


def test_short_windows_put_more_symbols_in_a_chunk() -> None:
    sizes = {
        label: symbols_per_chunk(
            plan_window(days, None, None, now=NOW),
            minimum=25,
            target_rows=400_000,
            lookback_rows=600,
            now=NOW,
        )
        for label, days in (("all", 0), ("2d", 2), ("365d", 365))
    }
    assert sizes == {"all": 25, "2d": 616, "365d": 42}
