"""The macro-indicators flow end to end: a local FRED imitation, real databases, Prefect harness."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from sqlalchemy import Engine, text

from coinfill.db.engine import make_engine
from coinfill.errors import BackfillFailedError, ConfigurationError, CoverageMissedError, InputError
from coinfill.macro.calendar import known_at
from flows.macro_indicators import macro_indicators
from flows.ml_features import ml_features
from tests.fakes.fred_server import FakeFred, SeriesSpec
from tests.helpers import run_artifacts, store_prices

TODAY = datetime.now(UTC).date()
HOLIDAY = date(2025, 12, 25)
KEY = "flow-test-key-0123456789"
DAILY = {"DGS10": 4.0, "VIXCLS": 15.0, "DTWEXBGS": 110.0, "DCOILWTICO": 60.0}


def specs(holidays: frozenset[date] = frozenset({HOLIDAY})) -> list[SeriesSpec]:
    return [
        SeriesSpec("UNRATE", "m", date(1948, 1, 1), base=4.0, lag_days=35, revisions=1),
        SeriesSpec("CPIAUCSL", "m", date(1947, 1, 1), base=250.0, lag_days=40),
        SeriesSpec("A191RO1Q156NBEA", "q", date(1948, 1, 1), base=2.0, lag_days=90),
        SeriesSpec("FEDFUNDS", "m", date(1954, 7, 1), base=3.0, lag_days=2),
        *(
            SeriesSpec(sid, "d", date(2000, 1, 3), base=base, holidays=holidays)
            for sid, base in DAILY.items()
        ),
    ]


@pytest.fixture
def fred(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFred]:
    with FakeFred(specs(), api_key=KEY, today=TODAY) as fake:
        monkeypatch.setenv("COINFILL_FRED_BASE_URL", fake.url)
        monkeypatch.setenv("COINFILL_FRED_API_KEY", KEY)
        monkeypatch.setenv("COINFILL_RATE_LIMITER", "local")
        monkeypatch.setenv("COINFILL_FRED_REQUESTS_PER_SECOND", "10")
        yield fake


@pytest.fixture
def flow_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("COINFILL_DATABASE_URL", db_url)
    return make_engine(db_url)


def stored(engine: Engine, name: str) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT indicator_date, value, first_value, published_at, value_known_at, "
                "missing_at_source, series_id FROM macro_indicators WHERE indicator_name = :n "
                "ORDER BY indicator_date"
            ),
            {"n": name},
        ).all()
    frame = pd.DataFrame(
        rows, columns=["day", "value", "first_value", "published_at", "known_at", "missing", "sid"]
    )
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return frame


def test_backfill_fills_every_indicator_then_a_rerun_changes_nothing(
    fred: FakeFred, flow_db: Engine
) -> None:
    first = macro_indicators(days=730)
    assert not first.failed
    by_name = {r.indicator: r for r in first.results}
    assert set(by_name) == {
        "US_UNEMPLOYMENT", "US_INFLATION", "US_GDP", "FEDERAL_FUNDS_RATE",
        "10Y_YIELD", "VIX", "DXY", "OIL_PRICE",
    }  # fmt: skip
    assert by_name["10Y_YIELD"].no_value == 1  # Christmas 2025 is "." at FRED
    assert "100.0 %" in first.coverage and "❌" not in first.coverage

    vix = stored(flow_db, "VIX")
    day = vix.loc[vix["value"].notna(), "day"].iloc[-1]
    assert vix.loc[vix["day"] == day, "value"].item() == fred.expected_value("VIXCLS", day)
    assert set(vix["sid"]) == {"VIXCLS"}
    xmas = vix[vix["day"] == HOLIDAY].iloc[0]
    assert pd.isna(xmas["value"]) and bool(xmas["missing"])

    # Point in time: the revised unemployment value carries its first release and both dates.
    unrate = stored(flow_db, "US_UNEMPLOYMENT")
    revised = unrate[unrate["value"] != unrate["first_value"]].iloc[0]
    assert revised["value"] == pytest.approx(revised["first_value"] + 0.1)
    assert pd.Timestamp(revised["published_at"]) == pd.Timestamp(
        known_at(revised["day"] + timedelta(days=35))
    )
    assert pd.Timestamp(revised["known_at"]) > pd.Timestamp(revised["published_at"])
    cpi = stored(flow_db, "US_INFLATION")
    day = cpi["day"].iloc[-1]
    assert cpi["value"].iloc[-1] == pytest.approx(fred.expected_value("CPIAUCSL", day, units="pc1"))

    requests_before = len(fred.requests)
    second = macro_indicators(days=730)
    assert second.total("inserted") == 0 and second.total("updated") == 0
    assert second.total("unchanged") > 0
    # Only the trailing window FRED may revise was asked for, one request per series.
    asked = [params for _, params in fred.requests[requests_before:]]
    assert len(asked) == 8
    assert all(p["observation_start"] > (TODAY - timedelta(days=200)).isoformat() for p in asked)


def test_dry_run_prints_the_plan_and_writes_nothing(fred: FakeFred, flow_db: Engine) -> None:
    summary = macro_indicators(days=730, dry_run=True)
    assert fred.requests == []
    assert "8 request(s)" in summary.plan and "at 10 request/s" in summary.plan
    assert "| VIX | VIXCLS |" in summary.plan and "GOLDAMND" in summary.markdown()
    with flow_db.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM macro_indicators")).scalar_one() == 0
        assert conn.execute(text("SELECT COUNT(*) FROM coverage_history")).scalar_one() == 0


def test_dot_and_empty_answers_never_null_out_stored_values(
    fred: FakeFred, flow_db: Engine
) -> None:
    start, end = date(2025, 12, 1), date(2026, 1, 10)
    macro_indicators(start=start, end=end, indicators=["VIX"])
    before = stored(flow_db, "VIX")
    # FRED now answers "." for a day we hold a value for, then nothing at all.
    fred.series["VIXCLS"] = SeriesSpec(
        "VIXCLS", "d", date(2000, 1, 3), base=15.0, holidays=frozenset({HOLIDAY, date(2025, 12, 2)})
    )
    with flow_db.begin() as conn:  # make the day a gap so the plan fetches it again
        conn.execute(
            text(
                "UPDATE macro_indicators SET value = NULL WHERE indicator_name = 'VIX' AND indicator_date = '2025-12-03'"
            )
        )
    again = macro_indicators(start=start, end=end, indicators=["VIX"])
    after = stored(flow_db, "VIX")
    dec2 = after[after["day"] == date(2025, 12, 2)].iloc[0]
    assert dec2["value"] == before[before["day"] == date(2025, 12, 2)]["value"].item()
    assert not bool(dec2["missing"])
    assert after[after["day"] == date(2025, 12, 3)]["value"].notna().all()  # the gap refilled
    assert again.results[0].updated == 1

    fred.queue((200, {}, '{"count": 0, "offset": 0, "limit": 100000, "observations": []}'))
    with flow_db.begin() as conn:
        conn.execute(
            text(
                "UPDATE macro_indicators SET value = NULL WHERE indicator_name = 'VIX' AND indicator_date = '2025-12-03'"
            )
        )
    with pytest.raises(CoverageMissedError):  # nothing came back: the gap stays a gap
        macro_indicators(start=start, end=end, indicators=["VIX"], coverage_targets={"macro": 100})
    assert (
        stored(flow_db, "VIX")
        .drop(columns="known_at")
        .equals(
            after.drop(columns="known_at").assign(
                value=after["value"].where(after["day"] != date(2025, 12, 3))
            )
        )
    )


def test_unknown_series_fails_the_run_naming_it_and_keeps_the_others(
    fred: FakeFred, flow_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "COINFILL_MACRO_SERIES", '{"US_M2": {"series_id": "NOSUCHSERIES", "frequency": "monthly"}}'
    )
    with pytest.raises(BackfillFailedError, match=r"US_M2: .*NOSUCHSERIES.*does not exist"):
        macro_indicators(days=60, indicators=["VIX", "US_M2"])
    assert stored(flow_db, "VIX")["value"].notna().sum() > 30
    unknown = [p for _, p in fred.requests if p.get("series_id") == "NOSUCHSERIES"]
    assert len(unknown) == 1  # a 400 is never retried


def test_wrong_key_stops_at_once_with_a_clear_message_and_never_shows_the_key(
    fred: FakeFred,
    flow_db: Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-key-must-not-leak-42"
    monkeypatch.setenv("COINFILL_FRED_API_KEY", wrong)
    with pytest.raises(ConfigurationError, match=r"api_key.*COINFILL_FRED_API_KEY") as failure:
        macro_indicators(days=30)
    assert wrong not in str(failure.value)
    assert wrong not in caplog.text
    # The first refusal stops FRED: only the requests already in flight (two chunks run at
    # once) were made; the other six series were not asked.
    assert len(fred.requests) <= 2


def test_missing_key_is_a_configuration_error(
    fred: FakeFred, flow_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COINFILL_FRED_API_KEY")
    with pytest.raises(ConfigurationError, match=r"fred-api-key.*COINFILL_FRED_API_KEY"):
        macro_indicators(days=30)


def test_secret_block_wins_over_the_environment(
    fred: FakeFred, flow_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    Secret(value=KEY).save("fred-api-key-test", overwrite=True)
    monkeypatch.setenv("COINFILL_FRED_API_KEY_BLOCK", "fred-api-key-test")
    monkeypatch.setenv("COINFILL_FRED_API_KEY", "a-stale-env-key")
    summary = macro_indicators(days=30, indicators=["VIX"])
    assert summary.results[0].inserted > 15


def test_a_coverage_miss_fails_the_run_unless_report_only(fred: FakeFred, flow_db: Engine) -> None:
    # FRED has no rows at all before 28 March (not even "."): coverage must show the gap.
    fred.series["VIXCLS"] = SeriesSpec("VIXCLS", "d", date(2026, 3, 28), base=15.0)
    with pytest.raises(CoverageMissedError, match=r"VIX"):
        macro_indicators(start=date(2026, 3, 1), end=date(2026, 5, 1), indicators=["VIX"])
    summary = macro_indicators(
        start=date(2026, 3, 1), end=date(2026, 5, 1), indicators=["VIX"], enforce_coverage=False
    )
    assert "| VIX | 44 | 24 → 24 | 54.5 % → 54.5 % | ≥ 95 % | ❌ |" in summary.coverage


def test_bad_window_and_unknown_indicator(fred: FakeFred, flow_db: Engine) -> None:
    with pytest.raises(InputError, match="DFF10"):
        macro_indicators(days=30, indicators=["DFF10"])
    with pytest.raises(InputError, match="not before end"):
        macro_indicators(start=date(2026, 2, 1), end=date(2026, 1, 1))
    assert fred.requests == []


def test_prefect_global_limit_holds_the_rate_across_the_run(
    fred: FakeFred, flow_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name="fred", limit=1, slot_decay_per_second=4.0)
        )
    monkeypatch.setenv("COINFILL_RATE_LIMITER", "prefect")
    monkeypatch.setenv("COINFILL_FRED_REQUESTS_PER_SECOND", "4")
    fred.requests_per_second = 4.0
    try:
        macro_indicators(days=60)
    finally:
        with get_client(sync_client=True) as client:
            client.delete_global_concurrency_limit_by_name("fred")
    assert len(fred.requests) == 8 and fred.too_many == 0
    times = sorted(t for t, _ in fred.requests)
    assert times[-1] - times[0] >= 7 / 4 - 0.1


def test_prefect_mode_without_the_global_limit_is_a_configuration_error(
    fred: FakeFred, flow_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COINFILL_RATE_LIMITER", "prefect")
    with pytest.raises(ConfigurationError, match=r"prefect gcl create fred"):
        macro_indicators(days=30)
    assert fred.requests == []


def test_a_run_publishes_plan_progress_series_and_coverage_without_the_key(
    fred: FakeFred, flow_db: Engine
) -> None:
    state = macro_indicators(days=30, indicators=["VIX", "GOLD_PRICE"], return_state=True)
    assert state.is_completed()
    artifacts = run_artifacts(state.state_details.flow_run_id)
    by_key = {a.key: a for a in artifacts if a.key}
    assert {
        "macro-indicators-plan",
        "macro-indicators-series",
        "macro-indicators-summary",
        "macro-indicators-coverage",
        "macro-indicators-coverage-table",
    } <= set(by_key)
    assert "GOLDAMND" in str(by_key["macro-indicators-summary"].data)
    assert "| VIX |" in str(by_key["macro-indicators-coverage"].data)
    assert any(a.type == "progress" and a.data == 100.0 for a in artifacts)
    assert all(KEY not in str(a.data) for a in artifacts)


def test_a_user_added_series_is_collected_and_measured_with_its_own_target(
    fred: FakeFred, flow_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    fred.series["M2SL"] = SeriesSpec("M2SL", "m", date(1959, 1, 1), base=20.0, lag_days=20)
    monkeypatch.setenv(
        "COINFILL_MACRO_SERIES",
        '{"US_M2": {"series_id": "M2SL", "frequency": "monthly", "lag_days": 30}}',
    )
    summary = macro_indicators(
        days=400, indicators=["US_M2"], coverage_targets={"macro.US_M2": 100}
    )
    assert summary.results[0].inserted >= 12
    assert "| US_M2 | " in summary.coverage and "100.0 % | ≥ 100 % | ✅" in summary.coverage
    with pytest.raises(InputError, match=r"'US_M3' is not a measured column of macro"):
        macro_indicators(days=400, coverage_targets={"macro.US_M3": 90})


def test_a_macro_run_with_holiday_rows_then_the_feature_refresh_completes(
    fred: FakeFred, flow_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FRED answers "." on market holidays; the refresh the macro run triggers (and the
    scheduled one after it) used to crash on those rows (`All arrays must be of the same length`)."""
    weekdays = [TODAY - timedelta(days=n) for n in range(5, 20)]
    holidays = frozenset([d for d in weekdays if d.weekday() < 5][:2])
    fred.series["VIXCLS"] = SeriesSpec(
        "VIXCLS", "d", date(2000, 1, 3), base=15.0, holidays=holidays
    )
    first_hour = datetime.combine(TODAY - timedelta(days=25), datetime.min.time())
    prices = pd.DataFrame(
        {
            "symbol": "BTC",
            "timestamp_iso": [first_hour + timedelta(hours=h) for h in range(24 * 24)],
            "current_price": [30_000.0 + 10 * h for h in range(24 * 24)],
        }
    )
    prices["timestamp"] = prices["timestamp_iso"].map(
        lambda t: int(t.replace(tzinfo=UTC).timestamp() * 1000)
    )
    prices["high_24h"] = prices["low_24h"] = prices["current_price"]
    prices["volume_usd_24h"], prices["data_source"] = 1.0, "test"
    store_prices(flow_db, prices)

    macro_indicators(days=30, indicators=["VIX"], refresh_features=True, enforce_coverage=False)
    assert stored(flow_db, "VIX")["missing"].sum() == len(holidays)  # the "." rows are stored
    ml_features(symbols=["BTC"], enforce_coverage=False)  # the scheduled refresh, after it

    with flow_db.connect() as conn:
        filled = conn.execute(
            text(
                "SELECT COUNT(*) FROM ml_features_materialized WHERE symbol = 'BTC' AND vix IS NOT NULL"
            )
        ).scalar_one()
    assert filled > 0
