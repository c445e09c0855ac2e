"""Quick checks that the fake CoinMetrics answers like the community API v4 does."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.fakes.clock import Clock
from tests.fakes.coinmetrics_server import (
    CATALOG_PATH,
    METRICS_PATH,
    AssetSpec,
    FakeCoinMetrics,
    serve_in_subprocess,
)
from tests.fakes.fake_http import fetch_stats

NOW = 1_732_000_000.0
BASE = "https://community-api.coinmetrics.io"
JAN = date(2024, 1, 1)
ASSETS = {
    "btc": AssetSpec(date(2009, 1, 3), date(2024, 12, 31), forbidden=frozenset({"FlowInExNtv"})),
    "eth": AssetSpec(
        date(2015, 7, 30),
        date(2024, 12, 31),
        metrics=("AdrActCnt", "TxCnt"),
        gaps=frozenset({date(2024, 1, 3)}),
        null_days=frozenset({date(2024, 1, 4)}),
    ),
    "doge": AssetSpec(date(2013, 12, 15), date(2024, 12, 31)),
}


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def fake(clock: Clock) -> FakeCoinMetrics:
    return FakeCoinMetrics(ASSETS, clock=clock, rate_limit=None)


@pytest.fixture
def http(fake: FakeCoinMetrics) -> Iterator[httpx.Client]:
    with httpx.Client(transport=fake.transport(), base_url=BASE) as client:
        yield client


def series(http: httpx.Client, **params: Any) -> httpx.Response:
    query = {"frequency": "1d", "ignore_unsupported_errors": "true", **params}
    return http.get(METRICS_PATH, params=query)


def test_catalog_lists_served_daily_metrics_and_pages_by_asset(http: httpx.Client) -> None:
    first = http.get(CATALOG_PATH, params={"assets": "eth,btc,doge", "page_size": 2}).json()
    assert [item["asset"] for item in first["data"]] == ["btc", "doge"]
    btc = first["data"][0]["metrics"]
    assert [m["metric"] for m in btc] == ["AdrActCnt", "TxCnt", "FlowOutExNtv"]  # no forbidden
    daily = btc[0]["frequencies"][1]
    assert daily == {
        "frequency": "1d",
        "min_time": "2009-01-03T00:00:00.000000000Z",
        "max_time": "2024-12-31T00:00:00.000000000Z",
        "community": True,
    }
    assert first["next_page_url"].startswith(f"{BASE}{CATALOG_PATH}?")
    second = http.get(first["next_page_url"]).json()
    assert [item["asset"] for item in second["data"]] == ["eth"]
    assert "next_page_url" not in second


def test_unknown_asset_is_a_400_naming_it(http: httpx.Client) -> None:
    for path in (CATALOG_PATH, METRICS_PATH):
        response = http.get(path, params={"assets": "btc,xyz,abc", "metrics": "TxCnt"})
        assert response.status_code == 400
        assert response.json() == {
            "error": {
                "type": "bad_parameter",
                "message": "Bad parameter 'assets'. Value 'xyz' is not supported.",
            }
        }


def test_rows_strings_gaps_nulls_and_unsupported(http: httpx.Client, fake: FakeCoinMetrics) -> None:
    end = JAN + timedelta(days=4)
    body = series(
        http, assets="eth,btc", metrics="AdrActCnt,FlowOutExNtv", start_time=JAN.isoformat(),
        end_time=end.isoformat(), page_size=100,
    ).json()  # fmt: skip
    rows = body["data"]
    assert "next_page_url" not in body
    assert [(r["asset"], r["time"][:10]) for r in rows] == [
        ("btc", f"2024-01-0{d}") for d in range(1, 6)
    ] + [("eth", "2024-01-01"), ("eth", "2024-01-02"), ("eth", "2024-01-04"), ("eth", "2024-01-05")]
    assert rows[0] == {
        "asset": "btc",
        "time": "2024-01-01T00:00:00.000000000Z",
        "AdrActCnt": rows[0]["AdrActCnt"],
        "FlowOutExNtv": rows[0]["FlowOutExNtv"],
    }
    assert float(rows[0]["FlowOutExNtv"]) == fake.value("btc", "FlowOutExNtv", JAN)
    assert rows[5]["AdrActCnt"] == str(int(fake.value("eth", "AdrActCnt", JAN)))
    assert "FlowOutExNtv" not in rows[5]  # eth lacks it
    assert rows[7]["AdrActCnt"] is None  # a null day
    strict = series(http, assets="eth", metrics="FlowOutExNtv", ignore_unsupported_errors="false")
    assert strict.status_code == 400 and strict.json()["error"]["type"] == "bad_parameter"


def test_forbidden_metric_refuses_the_whole_request(http: httpx.Client) -> None:
    response = series(http, assets="btc,eth", metrics="AdrActCnt,FlowInExNtv")
    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "type": "forbidden",
            "message": "Requested metric 'FlowInExNtv' with frequency '1d' for asset 'btc' is "
            "not available with supplied credentials.",
        }
    }
    allowed = series(
        http, assets="btc", metrics="FlowInExNtv,TxCnt", ignore_forbidden_errors="true"
    )
    assert allowed.status_code == 200 and "FlowInExNtv" not in allowed.json()["data"][0]


def test_stale_catalog_pair_is_listed_but_refused(clock: Clock) -> None:
    fake = FakeCoinMetrics(ASSETS, clock=clock, hide_from_catalog=frozenset({("eth", "TxCnt")}))
    with httpx.Client(transport=fake.transport(), base_url=BASE) as http:
        catalog = http.get(CATALOG_PATH, params={"assets": "eth"}).json()
        assert [m["metric"] for m in catalog["data"][0]["metrics"]] == ["AdrActCnt", "TxCnt"]
        assert series(http, assets="eth", metrics="TxCnt").status_code == 403


@pytest.mark.parametrize("paging_from", ["start", "end"])
def test_paging_keeps_every_parameter_and_an_opaque_token(
    http: httpx.Client, fake: FakeCoinMetrics, paging_from: str
) -> None:
    params = {"assets": "btc,doge", "metrics": "TxCnt", "start_time": "2024-01-01"}
    params |= {"end_time": "2024-01-10", "page_size": "7", "paging_from": paging_from}
    pages = [series(http, **params).json()]
    while "next_page_url" in pages[-1]:
        url = pages[-1]["next_page_url"]
        query = dict(parse_qsl(urlsplit(url).query))
        token = query.pop("next_page_token")
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token) and not token.isdigit()  # opaque
        assert query == {"frequency": "1d", "ignore_unsupported_errors": "true", **params}
        pages.append(http.get(url).json())
    assert [len(p["data"]) for p in pages] == [7, 7, 6]  # from the end: the last 7 rows first
    ordered = pages if paging_from == "start" else pages[::-1]
    rows = [row for page in ordered for row in page["data"]]
    assert [(r["asset"], r["time"][:10]) for r in rows] == [
        (a, (JAN + timedelta(days=k)).isoformat()) for a in ("btc", "doge") for k in range(10)
    ]
    assert fake.stats()["pages"] == {METRICS_PATH: 3} and len(fake.next_urls) == 2


def test_sliding_window_429_with_retry_after(clock: Clock) -> None:
    fake = FakeCoinMetrics(ASSETS, clock=clock, rate_limit=(10, 6.0))
    with httpx.Client(transport=fake.transport(), base_url=BASE) as http:
        statuses = []
        for _ in range(10):
            statuses.append(http.get(CATALOG_PATH, params={"assets": "btc"}).status_code)
            clock.now += 0.5  # 10 requests in 4.5 s
        limited = http.get(CATALOG_PATH)
        assert statuses == [200] * 10 and limited.status_code == 429
        assert limited.headers["Retry-After"] == "1"  # the first leaves the window at NOW + 6
        assert limited.json() == {
            "error": {"type": "too_many_requests", "message": "Requests rate limit exceeded."}
        }
        clock.now = NOW + 6.0
        assert http.get(CATALOG_PATH).status_code == 200
    stats = fake.stats()
    assert stats["rate_limited"] == 1 and stats["requests_by_path"] == {CATALOG_PATH: 12}
    assert stats["statuses"] == {"200": 11, "429": 1}


def test_socket_and_subprocess_servers_page_with_their_own_url() -> None:
    params = {"assets": "btc", "metrics": "TxCnt", "start_time": "2024-01-01"}
    params |= {"end_time": "2024-01-03", "page_size": "2", "paging_from": "start"}
    with FakeCoinMetrics(ASSETS, rate_limit=None) as fake:
        body = httpx.get(f"{fake.url}{METRICS_PATH}", params=params, timeout=5).json()
        assert body["next_page_url"].startswith(f"{fake.url}{METRICS_PATH}?")
    clock = functools.partial(float, NOW)  # picklable
    with serve_in_subprocess(ASSETS, clock=clock, rate_limit=(1, 6.0)) as url:
        first = httpx.get(f"{url}{METRICS_PATH}", params=params, timeout=5)
        assert first.json()["next_page_url"].startswith(f"{url}{METRICS_PATH}?")
        limited = httpx.get(first.json()["next_page_url"], timeout=5)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "6"
        stats = fetch_stats(url)
    assert stats["rate_limited"] == 1 and stats["pages"] == {METRICS_PATH: 1}
