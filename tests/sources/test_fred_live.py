"""Against the real FRED (off by default): ``pytest -m network tests/sources/test_fred_live.py``
with ``COINFILL_FRED_API_KEY`` set. Checks that every catalogue series exists and answers."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from coinfill.macro.catalog import DEFAULT_SERIES, MacroSeries
from coinfill.sources.fred import FredClient
from coinfill.sources.ratelimit import TokenBucket

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def client() -> FredClient:
    key = os.environ.get("COINFILL_FRED_API_KEY")
    if not key:
        pytest.fail("set COINFILL_FRED_API_KEY to run the live FRED tests")
    return FredClient(key, "https://api.stlouisfed.org", TokenBucket(1.0))


@pytest.mark.parametrize(
    "series", [s for s in DEFAULT_SERIES if s.series_id], ids=lambda s: s.indicator_name
)
def test_every_catalogue_series_answers_with_recent_values(
    client: FredClient, series: MacroSeries
) -> None:
    today = datetime.now(UTC).date()
    found = client.observations(
        series.series_id,
        today - timedelta(days=series.lag_days + 400),
        None,
        units=series.units,
        vintages=series.point_in_time == "first_release",
    )
    values = [o.value for o in found if o.value is not None]
    assert values, f"{series.series_id} returned no values in the last year"
