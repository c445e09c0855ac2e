"""Quick checks that the fake blockchain.info charts and the fake Messari v1 time series answer
in their APIs' formats, with their refusals and rate limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fakes.blockchain_server import MAX_SAMPLED_POINTS, FakeBlockchainInfo, midnight
from tests.fakes.clock import Clock
from tests.fakes.messari_server import KEY_HEADER, FakeMessari, day_ms

NOW = datetime(2025, 1, 1, 12, tzinfo=UTC).timestamp()
GAP = date(2024, 3, 10)
CHART = "/charts/n-unique-addresses"
SERIES = "/api/v1/assets/{asset}/metrics/{metric}/time-series"


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def chain(clock: Clock) -> FakeBlockchainInfo:
    return FakeBlockchainInfo(date(2009, 1, 3), gaps=frozenset({GAP}), clock=clock)


@pytest.fixture
def chain_http(chain: FakeBlockchainInfo) -> Iterator[httpx.Client]:
    with httpx.Client(transport=chain.transport(), base_url="https://bc.test") as http:
        yield http


def chart_params(start: date, days: int, **extra: str) -> dict[str, str]:
    base = {"timespan": f"{days}days", "start": start.isoformat(), "format": "json"}
    return {**base, "sampled": "false", **extra}


def test_chart_body_has_the_real_fields_and_every_day(
    chain_http: httpx.Client, chain: FakeBlockchainInfo
) -> None:
    body = chain_http.get(CHART, params=chart_params(date(2024, 3, 1), 20)).json()
    assert {k: body[k] for k in ("status", "name", "unit", "period")} == {
        "status": "ok",
        "name": "Unique Addresses Used",
        "unit": "Addresses",
        "period": "day",
    }
    assert body["description"]
    days = [date(2024, 3, 1) + timedelta(days=k) for k in range(20) if k != 9]  # 10th: the gap
    assert [v["x"] for v in body["values"]] == [midnight(d) for d in days]
    assert all(v["x"] % 86400 == 0 for v in body["values"])
    assert [v["y"] for v in body["values"]] == [chain.value("n-unique-addresses", d) for d in days]
    assert all(isinstance(v["y"], int) and v["y"] > 0 for v in body["values"])
    other = chain_http.get("/charts/n-transactions", params=chart_params(date(2024, 3, 1), 2))
    assert other.json()["name"] == "Confirmed Transactions Per Day"
    assert other.json()["unit"] == "Transactions"


def test_chart_is_thinned_unless_sampled_false(chain_http: httpx.Client) -> None:
    full = chain_http.get(CHART, params=chart_params(date(2021, 1, 1), 1000)).json()["values"]
    assert len(full) == 1000
    params = chart_params(date(2021, 1, 1), 1000)
    del params["sampled"]
    thinned = chain_http.get(CHART, params=params).json()["values"]
    assert len(thinned) <= MAX_SAMPLED_POINTS and thinned == full[::5]
    year = chart_params(date(2022, 1, 1), 365, sampled="true")
    assert len(chain_http.get(CHART, params=year).json()["values"]) == 183


def test_days_outside_the_data_are_absent(chain_http: httpx.Client, clock: Clock) -> None:
    before = chain_http.get(CHART, params=chart_params(date(2008, 12, 1), 30)).json()
    assert before["status"] == "ok" and before["values"] == []
    edge = chain_http.get(CHART, params=chart_params(date(2008, 12, 31), 4)).json()
    assert [v["x"] for v in edge["values"]] == [midnight(date(2009, 1, 3))]
    recent = chain_http.get(CHART, params=chart_params(date(2024, 12, 25), 30)).json()
    assert recent["values"][-1]["x"] == midnight(date(2024, 12, 31))  # yesterday by the clock
    clock.now += 86400
    recent = chain_http.get(CHART, params=chart_params(date(2024, 12, 25), 30)).json()
    assert recent["values"][-1]["x"] == midnight(date(2025, 1, 1))


def test_unknown_chart_is_a_404_page(chain_http: httpx.Client, chain: FakeBlockchainInfo) -> None:
    response = chain_http.get("/charts/n-nonsense", params=chart_params(date(2024, 1, 1), 5))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Not Found" in response.text
    assert chain.stats()["charts"] == {"n-nonsense": 1}


def test_min_interval_answers_429_with_retry_after(clock: Clock) -> None:
    fake = FakeBlockchainInfo(clock=clock, min_interval=10.0)
    with httpx.Client(transport=fake.transport(), base_url="https://bc.test") as http:
        params = chart_params(date(2024, 1, 1), 3)
        assert http.get(CHART, params=params).status_code == 200
        clock.now += 2.5
        refused = http.get(CHART, params=params)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "8"
        clock.now += 7.4  # 9.9 s after the admitted one: still too soon (ceil → 1)
        assert http.get(CHART, params=params).headers["Retry-After"] == "1"
        clock.now += 0.2
        assert http.get(CHART, params=params).status_code == 200
    stats = fake.stats()
    assert stats["count_429"] == 2 and stats["charts"] == {"n-unique-addresses": 4}
    assert stats["statuses"] == {"200": 2, "429": 2}


# -- Messari -----------------------------------------------------------------------------------


@pytest.fixture
def messari(clock: Clock) -> FakeMessari:
    return FakeMessari({"bitcoin": (date(2010, 7, 18), date(2024, 12, 31))}, clock=clock)


def series(
    fake: FakeMessari, asset: str, start: str, end: str, key: str | None = "good-key", **extra: str
) -> httpx.Response:
    headers = {KEY_HEADER: key} if key is not None else {}
    with httpx.Client(transport=fake.transport(), base_url="https://m.test") as http:
        params = {"start": start, "end": end, "interval": "1d", **extra}
        return http.get(
            SERIES.format(asset=asset, metric="act.addr.cnt"), params=params, headers=headers
        )


def error_of(response: httpx.Response) -> dict[str, Any]:
    status: dict[str, Any] = response.json()["status"]
    assert status["error_code"] == response.status_code and "timestamp" in status
    return status


def test_series_body_is_messari_v1(messari: FakeMessari) -> None:
    response = series(messari, "bitcoin", "2024-01-01", "2024-01-10")
    assert response.status_code == 200
    body = response.json()
    assert set(body["status"]) == {"elapsed", "timestamp"} and body["status"]["timestamp"].endswith(
        "Z"
    )
    data = body["data"]
    assert (data["symbol"], data["name"], data["slug"]) == ("BTC", "Bitcoin", "bitcoin")
    assert data["parameters"]["columns"] == ["timestamp", "active_addresses"]
    assert data["parameters"]["timestamp_format"] == "unix-milliseconds"
    assert data["schema"]["metric_id"] == "act.addr.cnt"
    assert set(data["schema"]["values_schema"]) == {"timestamp", "active_addresses"}
    days = [date(2024, 1, 1) + timedelta(days=k) for k in range(10)]  # end inclusive
    assert data["values"] == [
        [day_ms(d), messari.value("bitcoin", "act.addr.cnt", d)] for d in days
    ]
    assert (
        series(messari, "BTC", "2024-01-01", "2024-01-10").json()["data"]["values"]
        == data["values"]
    )


def test_series_without_data_is_null(messari: FakeMessari) -> None:
    assert series(messari, "bitcoin", "2009-01-01", "2009-12-31").json()["data"]["values"] is None
    edge = series(messari, "bitcoin", "2024-12-30", "2025-01-05").json()["data"]["values"]
    assert [row[0] for row in edge] == [day_ms(date(2024, 12, 30)), day_ms(date(2024, 12, 31))]


def test_messari_refusals(messari: FakeMessari) -> None:
    missing = series(messari, "bitcoin", "2024-01-01", "2024-01-02", key=None)
    assert missing.status_code == 401
    assert "API key is required" in error_of(missing)["error_message"]
    wrong = series(messari, "bitcoin", "2024-01-01", "2024-01-02", key="nope")
    assert wrong.status_code == 401 and "invalid API key" in error_of(wrong)["error_message"]
    unknown = series(messari, "xyz", "2024-01-01", "2024-01-02")
    assert unknown.status_code == 404
    assert error_of(unknown)["error_message"] == "Asset with key = 'xyz' not found."
    assert series(messari, "bitcoin", "2000-01-01", "2013-09-08").status_code == 200  # 5000 days
    too_long = series(messari, "bitcoin", "2000-01-01", "2013-09-09")
    assert too_long.status_code == 400 and "5000" in error_of(too_long)["error_message"]
    assert series(messari, "bitcoin", "2024-01-01", "2024-01-02", interval="1h").status_code == 400
    stats = messari.stats()
    assert stats["count_401"] == 2 and stats["series"]["bitcoin/act.addr.cnt"] == 5


def test_messari_rate_limit_is_a_sliding_minute(clock: Clock) -> None:
    fake = FakeMessari(
        {"bitcoin": (date(2010, 7, 18), date(2024, 12, 31))}, clock=clock, requests_per_minute=2
    )
    assert series(fake, "bitcoin", "2024-01-01", "2024-01-02").status_code == 200
    clock.now += 20
    assert series(fake, "bitcoin", "2024-01-01", "2024-01-02").status_code == 200
    clock.now += 15.5
    limited = series(fake, "bitcoin", "2024-01-01", "2024-01-02")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "25"
    assert error_of(limited)["error_code"] == 429
    clock.now += 25  # the first request is now a minute old
    assert series(fake, "bitcoin", "2024-01-01", "2024-01-02").status_code == 200
    assert fake.stats()["count_429"] == 1


def test_both_fakes_serve_on_a_socket(chain: FakeBlockchainInfo, messari: FakeMessari) -> None:
    with chain, messari:
        response = httpx.get(f"{chain.url}{CHART}", params=chart_params(date(2024, 1, 1), 3))
        assert len(response.json()["values"]) == 3
        path = SERIES.format(asset="bitcoin", metric="txn.cnt")
        answer = httpx.get(
            f"{messari.url}{path}",
            params={"start": "2024-01-01", "end": "2024-01-03"},
            headers={KEY_HEADER: "good-key"},
        )
        assert answer.json()["data"]["schema"]["name"] == "Transaction Count"
        assert len(answer.json()["data"]["values"]) == 3
