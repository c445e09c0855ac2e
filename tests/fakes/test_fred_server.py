"""Quick checks that the fake FRED server answers like FRED does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from tests.fakes.fred_server import (
    BAD_KEY_MESSAGE,
    NO_SERIES_MESSAGE,
    RATE_LIMIT_MESSAGE,
    FakeFred,
    SeriesSpec,
)

TODAY = date(2026, 11, 21)
HOLIDAY = date(2024, 1, 15)
DAILY = SeriesSpec("DGS10", "d", date(2024, 1, 1), base=3.0, holidays=frozenset({HOLIDAY}))
MONTHLY = SeriesSpec("CPIAUCSL", "m", date(2020, 1, 1), base=300.0, lag_days=30)
REVISED = SeriesSpec("UNRATE", "m", date(2024, 1, 1), base=4.0, revisions=1)
QUARTERLY = SeriesSpec("GDP", "q", date(2023, 2, 1), base=200.0)


def get(fake: FakeFred, **params: Any) -> httpx.Response:
    query = {"api_key": "test-key", "file_type": "json", **params}
    return httpx.get(f"{fake.url}/fred/series/observations", params=query, timeout=5)


@pytest.fixture
def fake() -> Iterator[FakeFred]:
    with FakeFred([DAILY, MONTHLY, REVISED, QUARTERLY], today=TODAY) as server:
        yield server


def test_daily_page_with_holiday(fake: FakeFred) -> None:
    response = get(
        fake, series_id="DGS10", observation_start="2024-01-01", observation_end="2024-01-31"
    )
    assert response.status_code == 200
    body = response.json()
    rows = body["observations"]
    assert body["count"] == len(rows) == 23  # the weekdays of January 2024
    assert body["observation_start"] == "2024-01-01"
    assert body["units"] == "lin" and body["output_type"] == 1 and body["offset"] == 0
    assert all(date.fromisoformat(row["date"]).weekday() < 5 for row in rows)
    assert {(row["realtime_start"], row["realtime_end"]) for row in rows} == {
        ("2026-11-21", "2026-11-21")
    }
    by_date = {row["date"]: row["value"] for row in rows}
    assert by_date[HOLIDAY.isoformat()] == "."
    assert fake.expected_value("DGS10", HOLIDAY) is None
    for row in rows:
        if row["value"] != ".":
            day = date.fromisoformat(row["date"])
            assert float(row["value"]) == fake.expected_value("DGS10", day)


def test_unpublished_observations_are_not_returned(fake: FakeFred) -> None:
    daily = get(fake, series_id="DGS10", observation_start="2026-11-16").json()
    assert [row["date"] for row in daily["observations"]] == [
        "2026-11-16",
        "2026-11-17",
        "2026-11-18",
        "2026-11-19",
        "2026-11-20",  # published 2026-11-21 (lag 1 day)
    ]
    monthly = get(fake, series_id="CPIAUCSL", observation_start="2026-09-01").json()
    # 2026-11-01 is published on 2026-12-01 (lag 30 days), after today.
    assert [row["date"] for row in monthly["observations"]] == ["2026-09-01", "2026-10-01"]
    with pytest.raises(KeyError):
        fake.expected_value("CPIAUCSL", date(2026, 11, 1))


def test_quarterly_dates_align_to_quarter_starts(fake: FakeFred) -> None:
    body = get(fake, series_id="GDP", observation_end="2024-01-01").json()
    assert [row["date"] for row in body["observations"]] == [
        "2023-04-01",
        "2023-07-01",
        "2023-10-01",
        "2024-01-01",
    ]


def test_monthly_pc1(fake: FakeFred) -> None:
    body = get(fake, series_id="CPIAUCSL", units="pc1", observation_end="2021-03-01").json()
    assert body["units"] == "pc1"
    values = {row["date"]: row["value"] for row in body["observations"]}
    assert len(values) == 15
    assert all(values[f"2020-{month:02d}-01"] == "." for month in range(1, 13))
    for month in (1, 2, 3):
        now = fake.expected_value("CPIAUCSL", date(2021, month, 1))
        before = fake.expected_value("CPIAUCSL", date(2020, month, 1))
        assert now is not None and before is not None
        pct = float(values[f"2021-{month:02d}-01"])
        assert pct == pytest.approx((now / before - 1) * 100, abs=1e-5)
        assert pct == fake.expected_value("CPIAUCSL", date(2021, month, 1), units="pc1")


def test_vintage_rows_with_a_revision(fake: FakeFred) -> None:
    body = get(
        fake,
        series_id="UNRATE",
        realtime_start="1776-07-04",
        realtime_end="9999-12-31",
        observation_start="2024-01-01",
        observation_end="2024-02-01",
    ).json()
    first = REVISED.first_value(date(2024, 1, 1))
    second = REVISED.first_value(date(2024, 2, 1))
    assert body["count"] == 4
    assert body["realtime_start"] == "1776-07-04" and body["realtime_end"] == "9999-12-31"
    assert [
        (row["date"], row["realtime_start"], row["realtime_end"], row["value"])
        for row in body["observations"]
    ] == [
        ("2024-01-01", "2024-01-02", "2024-01-31", f"{first:.2f}"),
        ("2024-01-01", "2024-02-01", "9999-12-31", f"{first + 0.1:.2f}"),
        ("2024-02-01", "2024-02-02", "2024-03-02", f"{second:.2f}"),
        ("2024-02-01", "2024-03-03", "9999-12-31", f"{second + 0.1:.2f}"),
    ]
    assert fake.expected_value("UNRATE", date(2024, 1, 1)) == round(first + 0.1, 2)
    assert fake.expected_value("UNRATE", date(2024, 1, 1), as_of=date(2024, 1, 10)) == first
    # The latest observation's revision is due after today: one open-ended row only.
    latest = get(
        fake,
        series_id="UNRATE",
        realtime_start="1776-07-04",
        realtime_end="9999-12-31",
        observation_start="2026-11-01",
    ).json()["observations"]
    assert [(row["realtime_start"], row["realtime_end"]) for row in latest] == [
        ("2026-11-02", "9999-12-31")
    ]


def test_paging_with_a_small_page_limit() -> None:
    with FakeFred([DAILY], today=date(2024, 2, 1), page_limit=3) as fake:
        seen: list[str] = []
        offset = 0
        while True:
            body = get(fake, series_id="DGS10", offset=offset).json()
            assert body["count"] == 23 and body["offset"] == offset and body["limit"] == 3
            rows = body["observations"]
            assert len(rows) == min(3, 23 - offset)
            seen += [row["date"] for row in rows]
            offset += len(rows)
            if offset >= body["count"]:
                break
        assert len(fake.requests) == 8
    assert len(seen) == len(set(seen)) == 23
    assert seen == sorted(seen) and seen[0] == "2024-01-01" and seen[-1] == "2024-01-31"


def test_unknown_series_is_400(fake: FakeFred) -> None:
    response = get(fake, series_id="NOPE")
    assert response.status_code == 400
    assert response.json() == {"error_code": 400, "error_message": NO_SERIES_MESSAGE}


def test_bad_api_key_is_400(fake: FakeFred) -> None:
    response = get(fake, series_id="DGS10", api_key="wrong")
    assert response.status_code == 400
    assert response.json() == {"error_code": 400, "error_message": BAD_KEY_MESSAGE}
    assert "api_key is not registered" in BAD_KEY_MESSAGE


def test_file_type_must_be_json(fake: FakeFred) -> None:
    response = get(fake, series_id="DGS10", file_type="xml")
    assert response.status_code == 400
    assert response.json()["error_code"] == 400


def test_rate_limit_gives_429_with_retry_after() -> None:
    with FakeFred([DAILY], requests_per_second=1.0) as fake:
        assert get(fake, series_id="DGS10").status_code == 200
        response = get(fake, series_id="DGS10")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "1"
        assert response.json() == {"error_code": 429, "error_message": RATE_LIMIT_MESSAGE}
        assert fake.too_many == 1
        assert len(fake.requests) == 2
        assert fake.requests[1][1]["series_id"] == "DGS10"


def test_queued_500_is_served_first_then_normal(fake: FakeFred) -> None:
    fake.queue((500, {"Content-Type": "text/html"}, "<html>Internal Server Error</html>"))
    failed = get(fake, series_id="DGS10")
    assert failed.status_code == 500
    assert failed.text == "<html>Internal Server Error</html>"
    assert get(fake, series_id="DGS10").status_code == 200
    assert len(fake.requests) == 2


def test_queued_sleep_provokes_a_read_timeout(fake: FakeFred) -> None:
    fake.queue((0, {"sleep": "0.5"}, b""))
    url = f"{fake.url}/fred/series/observations"
    query = {"api_key": "test-key", "file_type": "json", "series_id": "DGS10"}
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(url, params=query, timeout=0.1)
    assert get(fake, series_id="DGS10").status_code == 200
