"""CoinMetricsClient against the local CoinMetrics imitation: the catalogue (daily spans, unknown
assets, paging), many assets per request paged through ``next_page_url``, gaps and nulls, 403
of a stale catalogue, 400 unknown assets, 429/5xx/timeouts retried, malformed bodies and values,
and one run over a real socket under the real 10-per-6-s limit."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, timedelta

import httpx
import numpy as np
import pandas as pd
import pytest

from coinfill.sources import coinmetrics
from coinfill.sources.coinmetrics import CoinMetricsClient, CoinMetricsError, Span
from coinfill.sources.faults import Fault, ProviderOutageError
from coinfill.sources.http import RetryPolicy, SourceResponseError, SourceUnavailableError
from coinfill.sources.ratelimit import SlidingWindow, TokenBucket
from tests.fakes.clock import Clock, Sleeper
from tests.fakes.coinmetrics_server import (
    CATALOG_PATH,
    METRICS_PATH,
    TIMEOUT,
    AssetSpec,
    FakeCoinMetrics,
)
from tests.fakes.fake_http import Cutting, closed_port_url

BASE = "https://community-api.coinmetrics.io"
NOW = 1_735_000_000.0
JAN = date(2024, 1, 1)
GAP, NULL = date(2024, 1, 3), date(2024, 1, 4)
LAST = date(2024, 12, 31)
ASSETS = {
    "btc": AssetSpec(date(2009, 1, 3), LAST, gaps=frozenset({GAP}), null_days=frozenset({NULL})),
    "doge": AssetSpec(date(2013, 12, 15), LAST),
    "eth": AssetSpec(date(2015, 7, 30), LAST, forbidden=frozenset({"FlowOutExNtv"})),
    "sol": AssetSpec(date(2020, 4, 10), LAST, metrics=("TxCnt",)),
}
COUNTS = ["AdrActCnt", "TxCnt"]
FLOWS = ["FlowInExNtv", "FlowOutExNtv"]
METRICS_GET = re.escape(f"coinmetrics: GET {BASE}{METRICS_PATH}?")
CATALOG_GET = re.escape(f"coinmetrics: GET {BASE}{CATALOG_PATH}?")
BAD_BODIES = ["<html>Cloudflare</html>", '{"error": "x"}', '{"data": "x"}', "[1]", '{"data": [1]}']
Scripted = tuple[int, dict[str, str], str]


class Recorder(httpx.BaseTransport):
    """Keeps the URL of every request, then lets ``inner`` answer; with a ``clock``, the first
    request reaches the server ``latency`` seconds after it left (connection setup)."""

    def __init__(
        self, inner: httpx.BaseTransport, clock: Clock | None = None, latency: float = 0.0
    ) -> None:
        self.inner, self.clock, self.latency, self.urls = inner, clock, latency, list[str]()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.clock is not None and not self.urls:
            self.clock.now += self.latency
        self.urls.append(str(request.url))
        return self.inner.handle_request(request)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sleep(clock: Clock) -> Sleeper:
    return Sleeper(clock)


@pytest.fixture
def fake(clock: Clock) -> FakeCoinMetrics:
    return FakeCoinMetrics(ASSETS, clock=clock, rate_limit=None)


def make_client(
    transport: httpx.BaseTransport | None,
    sleep: Sleeper,
    page_size: int = 10_000,
    attempts: int = 4,
    base: str = BASE,
) -> CoinMetricsClient:
    limiter = TokenBucket(1e6, burst=1e6)  # the default shared bucket would really wait
    retry = RetryPolicy(attempts=attempts, base_delay=0.5)
    return CoinMetricsClient(
        base, limiter, retry=retry, transport=transport, sleep=sleep, page_size=page_size
    )


@pytest.fixture
def client(fake: FakeCoinMetrics, sleep: Sleeper) -> Iterator[CoinMetricsClient]:
    with make_client(fake.transport(), sleep) as coinmetrics:
        yield coinmetrics


Served = Mapping[str, Sequence[str]]


def expected(
    fake: FakeCoinMetrics, served: Served, metrics: Sequence[str], start: date, end: date
) -> pd.DataFrame:
    """The frame the client should build: ``served`` metrics per asset, the others NaN."""
    rows = []
    for asset in sorted(served):
        spec, day = fake.assets[asset], max(start, fake.assets[asset].first)
        while day < min(end, spec.last + timedelta(days=1)):
            if day not in spec.gaps:
                null = day in spec.null_days
                values = {
                    m: np.nan if null or m not in served[asset] else fake.value(asset, m, day)
                    for m in metrics
                }
                rows.append({"asset": asset, "day": day, **values})
            day += timedelta(days=1)
    return pd.DataFrame(rows, columns=["asset", "day", *metrics])


def statuses(fake: FakeCoinMetrics) -> list[int]:
    return [record.status for record in fake.requests]


def row(day: date, **values: str | None) -> dict[str, str | None]:
    return {"asset": "btc", "time": f"{day.isoformat()}T00:00:00.000000000Z", **values}


# -- catalogue -------------------------------------------------------------------------------------


def test_catalog_gives_daily_spans_of_the_metrics_the_tier_serves(
    client: CoinMetricsClient, fake: FakeCoinMetrics
) -> None:
    catalog = client.catalog(["sol", "eth", "btc"])
    assert catalog.unknown == set() and client.requests == 1
    assert catalog.spans["btc"] == dict.fromkeys(COUNTS + FLOWS, Span(date(2009, 1, 3), LAST))
    assert sorted(catalog.spans["eth"]) == ["AdrActCnt", "FlowInExNtv", "TxCnt"]
    assert catalog.spans["sol"] == {"TxCnt": Span(date(2020, 4, 10), LAST)}  # not the 1b span
    assert catalog.has("btc", "FlowOutExNtv") and not catalog.has("eth", "FlowOutExNtv")
    assert fake.requests[0].params["assets"] == "btc,eth,sol"


def test_unknown_assets_are_recorded_and_the_others_served(
    client: CoinMetricsClient, fake: FakeCoinMetrics
) -> None:
    catalog = client.catalog(["btc", "xyz", "eth", "abc"])
    assert catalog.unknown == {"abc", "xyz"} and sorted(catalog.spans) == ["btc", "eth"]
    rows = client.asset_metrics(["btc", "xyz", "abc"], ["TxCnt"], JAN, JAN + timedelta(days=2))
    assert rows.unknown == {"abc", "xyz"} and rows.frame["asset"].tolist() == ["btc", "btc"]
    assert statuses(fake) == [400, 400, 200] * 2
    assert [r.params["assets"] for r in fake.requests[2::3]] == ["btc,eth", "btc"]


def test_catalog_follows_next_page_url(fake: FakeCoinMetrics, sleep: Sleeper) -> None:
    recorder = Recorder(fake.transport())
    with make_client(recorder, sleep, page_size=1) as client:
        catalog = client.catalog(list(ASSETS))
    assert sorted(catalog.spans) == sorted(ASSETS) and client.requests == 4
    assert recorder.urls[1:] == fake.next_urls


# -- values ----------------------------------------------------------------------------------------


def test_many_assets_per_request_paged_through_next_page_url(
    fake: FakeCoinMetrics, sleep: Sleeper
) -> None:
    recorder = Recorder(fake.transport())
    end = JAN + timedelta(days=10)
    with make_client(recorder, sleep, page_size=7) as client:
        rows = client.asset_metrics(["eth", "doge", "btc"], COUNTS, JAN, end)
    assert client.requests == 5 and rows.pages == 5  # 29 rows (btc has a gap), 7 per page
    first = fake.requests[0].params
    assert first["assets"] == "btc,doge,eth" and first["metrics"] == "AdrActCnt,TxCnt"
    assert (first["start_time"], first["end_time"]) == ("2024-01-01", "2024-01-10")
    assert recorder.urls[1:] == fake.next_urls and len(fake.next_urls) == 4  # used as given
    served = dict.fromkeys(["btc", "doge", "eth"], COUNTS)
    pd.testing.assert_frame_equal(rows.frame, expected(fake, served, COUNTS, JAN, end))
    assert rows.forbidden == set() and rows.unknown == set() and rows.malformed == 0


def test_gaps_have_no_row_nulls_are_nan_and_lacking_metrics_nan(
    client: CoinMetricsClient, fake: FakeCoinMetrics
) -> None:
    end = JAN + timedelta(days=5)
    asked = ["TxCnt", "FlowInExNtv"]
    rows = client.asset_metrics(["btc", "sol"], asked, JAN, end)
    frame = rows.frame.set_index(["asset", "day"])
    assert ("btc", GAP) not in frame.index and frame.loc[("btc", NULL)].isna().all()
    assert frame.loc[("sol", JAN), "TxCnt"] == fake.value("sol", "TxCnt", JAN)
    assert frame.xs("sol")["FlowInExNtv"].isna().all()  # sol lacks it: no data, not refused
    served = {"btc": ["TxCnt", "FlowInExNtv"], "sol": ["TxCnt"]}
    pd.testing.assert_frame_equal(rows.frame, expected(fake, served, asked, JAN, end))
    assert rows.forbidden == set() and rows.malformed == 0 and client.requests == 1


def test_stale_catalog_403_is_recorded_and_the_rest_fetched(clock: Clock, sleep: Sleeper) -> None:
    hidden = frozenset({("btc", "FlowInExNtv"), ("btc", "FlowOutExNtv")})
    fake = FakeCoinMetrics(ASSETS, clock=clock, rate_limit=None, hide_from_catalog=hidden)
    end = JAN + timedelta(days=3)
    with make_client(fake.transport(), sleep) as client:
        assert client.catalog(["btc"]).has("btc", "FlowInExNtv")  # the catalogue still lists it
        rows = client.asset_metrics(["btc", "doge"], ["AdrActCnt", *FLOWS], JAN, end)
        single = client.asset_metrics(["eth"], ["FlowOutExNtv"], JAN, end)
    assert rows.forbidden == set(hidden) and statuses(fake)[1:5] == [403, 403, 200, 200]
    served = {"btc": ["AdrActCnt"], "doge": ["AdrActCnt", *FLOWS]}
    asked = ["AdrActCnt", *FLOWS]
    pd.testing.assert_frame_equal(rows.frame, expected(fake, served, asked, JAN, end))
    assert single.forbidden == {("eth", "FlowOutExNtv")} and single.frame.empty
    assert sleep.calls == []


# -- retries ---------------------------------------------------------------------------------------


def test_429_waits_the_retry_after_and_resumes_the_page(clock: Clock, sleep: Sleeper) -> None:
    fake = FakeCoinMetrics(ASSETS, clock=clock, rate_limit=(2, 6.0))
    recorder = Recorder(fake.transport())
    with make_client(recorder, sleep, page_size=4) as client:
        rows = client.asset_metrics(["doge"], ["TxCnt"], JAN, JAN + timedelta(days=10))
    assert statuses(fake) == [200, 200, 429, 200] and fake.stats()["rate_limited"] == 1
    assert sleep.calls == [6.0]  # Retry-After: until the first request leaves the window
    assert recorder.urls[3] == recorder.urls[2] == fake.next_urls[1]
    assert len(rows.frame) == 10 and rows.pages == 3


@pytest.mark.parametrize("failure", [(503, {}, "Service Unavailable"), (TIMEOUT, {}, "")])
def test_5xx_and_timeouts_are_retried(
    client: CoinMetricsClient, fake: FakeCoinMetrics, sleep: Sleeper, failure: Scripted
) -> None:
    fake.queue(failure)
    rows = client.asset_metrics(["btc"], ["TxCnt"], JAN, JAN + timedelta(days=2))
    assert len(rows.frame) == 2 and client.requests == 2 and len(sleep.calls) == 1


def test_5xx_forever_names_the_url(fake: FakeCoinMetrics, sleep: Sleeper) -> None:
    with make_client(fake.transport(), sleep, page_size=1, attempts=3) as client:
        fake.queue(*[(500, {}, "oops")] * 3)
        with pytest.raises(SourceUnavailableError, match=METRICS_GET + "assets=btc"):
            client.asset_metrics(["btc"], ["TxCnt"], JAN, JAN + timedelta(days=2))
        next_url = f"{BASE}{METRICS_PATH}?assets=btc&next_page_token=b3BhcXVl"
        page = json.dumps({"data": [row(JAN, TxCnt="1")], "next_page_url": next_url})
        fake.queue((200, {}, page), *[(502, {}, "bad gateway")] * 3)  # page 2 fails
        rows = client.asset_metrics(["btc"], ["TxCnt"], JAN, JAN + timedelta(days=2))
    # What page 1 brought is kept; the failure of page 2 is recorded, not raised.
    assert isinstance(rows.error, SourceUnavailableError) and rows.pages == 1
    assert str(rows.error).startswith(f"coinmetrics: GET {next_url} failed 3 times")
    assert rows.error.fault is Fault.TRANSIENT and rows.error.provider == "coinmetrics"
    assert rows.frame["day"].tolist() == [JAN] and rows.frame["TxCnt"].tolist() == [1.0]


# -- bodies ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", BAD_BODIES)
def test_body_that_is_not_rows_is_asked_again_then_a_response_error(
    client: CoinMetricsClient, fake: FakeCoinMetrics, sleep: Sleeper, body: str
) -> None:
    fake.queue((200, {}, body))
    rows = client.asset_metrics(["btc"], ["TxCnt"], JAN, JAN + timedelta(days=2))
    assert len(rows.frame) == 2 and rows.error is None  # asked again: a broken 200 is transient
    assert client.requests == 2 and len(sleep.calls) == 1
    fake.queue(*[(200, {}, body)] * 4)
    with pytest.raises(SourceResponseError, match=METRICS_GET) as caught:
        client.asset_metrics(["btc"], ["TxCnt"], JAN, JAN + timedelta(days=2))
    assert caught.value.fault is Fault.TRANSIENT and "asked 4 times" in str(caught.value)
    fake.queue((200, {}, body))
    assert client.catalog(["btc"]).has("btc", "TxCnt")
    fake.queue(*[(200, {}, body)] * 4)
    with pytest.raises(SourceResponseError, match=CATALOG_GET):
        client.catalog(["btc"])
    assert client.requests == 2 + 4 + 2 + 4


def test_malformed_values_are_nan_and_counted(
    client: CoinMetricsClient, fake: FakeCoinMetrics
) -> None:
    data = [
        row(JAN, AdrActCnt="abc", TxCnt="12"),
        row(date(2024, 1, 2), AdrActCnt="5.5", TxCnt=None),
        {"asset": "btc", "time": "not a time", "AdrActCnt": "7", "TxCnt": "8"},
    ]
    fake.queue((200, {}, json.dumps({"data": data})))
    rows = client.asset_metrics(["btc"], COUNTS, JAN, JAN + timedelta(days=3))
    assert rows.malformed == 2  # "abc" and the bad time; null is no data
    assert rows.frame["day"].tolist() == [JAN, date(2024, 1, 2)]
    assert np.isnan(rows.frame["AdrActCnt"].iloc[0]) and rows.frame["TxCnt"].iloc[0] == 12.0
    assert rows.frame["AdrActCnt"].iloc[1] == 5.5 and np.isnan(rows.frame["TxCnt"].iloc[1])


def test_rows_without_asset_or_time_name_the_url(
    client: CoinMetricsClient, fake: FakeCoinMetrics
) -> None:
    fake.queue(*[(200, {}, json.dumps({"data": [{"AdrActCnt": "1"}]}))] * 4)
    with pytest.raises(SourceResponseError, match=METRICS_GET + ".*rows without asset/time"):
        client.asset_metrics(["btc"], COUNTS, JAN, JAN + timedelta(days=1))
    assert client.requests == 4  # a page of such rows is asked again, like a cut-off one


def test_empty_data_is_an_empty_frame_with_the_metric_columns(
    client: CoinMetricsClient, fake: FakeCoinMetrics
) -> None:
    before = date(2019, 1, 1)  # sol starts on 2020-04-10
    rows = client.asset_metrics(["sol"], ["TxCnt", "AdrActCnt"], before, before.replace(year=2020))
    assert rows.frame.empty and list(rows.frame.columns) == ["asset", "day", "TxCnt", "AdrActCnt"]
    fake.queue((200, {}, '{"data": []}'))
    rows = client.asset_metrics(["btc"], COUNTS, JAN, JAN + timedelta(days=3))
    assert rows.frame.empty and list(rows.frame.columns) == ["asset", "day", *COUNTS]
    assert rows.malformed == 0 and rows.pages == 1


# -- faults: cut-off pages, refusals, an unreachable host -----------------------------------------


def second_page(fake: FakeCoinMetrics) -> Callable[[httpx.Request], bool]:
    """Picks the request of page 2 (the first ``next_page_url`` the fake handed out)."""
    return lambda request: bool(fake.next_urls) and str(request.url) == fake.next_urls[0]


def test_a_cut_off_page_is_asked_again_and_every_row_arrives(
    fake: FakeCoinMetrics, sleep: Sleeper
) -> None:
    end = JAN + timedelta(days=10)
    cutting = Cutting(fake.transport(), when=second_page(fake), times=1)
    with make_client(cutting, sleep, page_size=7) as client:
        rows = client.asset_metrics(["eth", "doge", "btc"], COUNTS, JAN, end)
    assert cutting.cut == 1 and client.requests == 6 and rows.pages == 5
    assert cutting.urls[1] == cutting.urls[2] == fake.next_urls[0]  # page 2 asked again
    served = dict.fromkeys(["btc", "doge", "eth"], COUNTS)
    pd.testing.assert_frame_equal(rows.frame, expected(fake, served, COUNTS, JAN, end))
    assert rows.error is None


def test_page_2_of_3_cut_off_every_time_keeps_the_rows_of_page_1(
    fake: FakeCoinMetrics, sleep: Sleeper
) -> None:
    end = JAN + timedelta(days=7)  # btc: 6 rows (a gap), doge: 7 rows; 13 rows, 3 pages of 5
    cutting = Cutting(fake.transport(), when=second_page(fake), times=None)
    with make_client(cutting, sleep, page_size=5) as client:
        rows = client.asset_metrics(["btc", "doge"], COUNTS, JAN, end)
    assert rows.pages == 1 and client.requests == 1 + 4 and cutting.cut == 4
    assert isinstance(rows.error, SourceResponseError) and rows.error.fault is Fault.TRANSIENT
    assert rows.error.provider == "coinmetrics" and "asked 4 times" in str(rows.error)
    assert fake.next_urls[0] in str(rows.error)
    # Page 1 holds the last 5 rows (the API pages from the end): exactly those are returned.
    whole = expected(fake, dict.fromkeys(["btc", "doge"], COUNTS), COUNTS, JAN, end)
    assert len(whole) == 13
    pd.testing.assert_frame_equal(rows.frame, whole.tail(5).reset_index(drop=True))


def test_page_1_cut_off_every_time_raises(fake: FakeCoinMetrics, sleep: Sleeper) -> None:
    cutting = Cutting(fake.transport(), times=None)
    client = make_client(cutting, sleep, page_size=5)
    with client, pytest.raises(SourceResponseError, match=METRICS_GET) as caught:
        client.asset_metrics(["btc", "doge"], COUNTS, JAN, JAN + timedelta(days=7))
    assert caught.value.fault is Fault.TRANSIENT and client.requests == 4


def test_a_refused_request_is_that_requests_alone(
    client: CoinMetricsClient, fake: FakeCoinMetrics
) -> None:
    refusal = {
        "error": {
            "type": "bad_parameter",
            "message": "Bad parameter 'metrics'. Value 'NoSuchMetric' is not supported.",
        }
    }
    fake.queue((400, {}, json.dumps(refusal)))
    with pytest.raises(CoinMetricsError) as caught:
        client.asset_metrics(["btc"], ["NoSuchMetric"], JAN, JAN + timedelta(days=2))
    assert caught.value.fault is Fault.REFUSED
    assert (caught.value.provider, caught.value.status) == ("coinmetrics", 400)
    assert "Value 'NoSuchMetric' is not supported" in str(caught.value)
    rows = client.asset_metrics(["btc"], ["TxCnt"], JAN, JAN + timedelta(days=2))
    assert len(rows.frame) == 2 and client.requests == 2


def test_a_403_forbidden_that_names_nothing_is_unavailable(
    client: CoinMetricsClient, fake: FakeCoinMetrics
) -> None:
    forbidden = {"error": {"type": "forbidden", "message": "Requested data is not available."}}
    fake.queue((403, {}, json.dumps(forbidden)))
    with pytest.raises(CoinMetricsError) as caught:
        client.asset_metrics(["btc", "doge"], COUNTS, JAN, JAN + timedelta(days=2))
    assert caught.value.fault is Fault.UNAVAILABLE and caught.value.status == 403
    # Not a refused key: the provider goes on.
    rows = client.asset_metrics(["btc"], ["TxCnt"], JAN, JAN + timedelta(days=2))
    assert len(rows.frame) == 2 and client.requests == 2


def test_an_unreachable_host_opens_the_breaker(sleep: Sleeper) -> None:
    with make_client(None, sleep, base=closed_port_url()) as client:
        with pytest.raises(ProviderOutageError) as caught:
            client.asset_metrics(["btc"], ["TxCnt"], JAN, JAN + timedelta(days=2))
        assert caught.value.fault is Fault.OUTAGE and caught.value.provider == "coinmetrics"
        assert "4 failures in a row: ConnectError" in str(caught.value)
        assert client.requests == 4 and len(sleep.calls) == 3
        with pytest.raises(ProviderOutageError):  # the next request fails at once, without asking
            client.catalog(["eth"])
        assert client.requests == 4 and len(sleep.calls) == 3


# -- over a socket ---------------------------------------------------------------------------------


def test_socket_server_under_the_real_limit_sees_no_429() -> None:
    with FakeCoinMetrics(ASSETS, rate_limit=(10, 6.0)) as fake:
        limiter = SlidingWindow(10, 6.0)  # what the client uses by default
        with CoinMetricsClient(fake.url, limiter, page_size=8) as client:
            catalog = client.catalog(["btc", "eth"])
            end = JAN + timedelta(days=15)
            rows = client.asset_metrics(["btc", "eth"], COUNTS, JAN, end)
        stats, url = fake.stats(), fake.url
    assert catalog.has("eth", "TxCnt") and client.requests == 5 and rows.pages == 4
    assert stats["rate_limited"] == 0 and stats["statuses"] == {"200": 5}
    assert all(u.startswith(f"{url}{METRICS_PATH}?") for u in fake.next_urls)
    served = dict.fromkeys(["btc", "eth"], COUNTS)
    pd.testing.assert_frame_equal(rows.frame, expected(fake, served, COUNTS, JAN, end))


def test_the_default_rate_keeps_a_margin_below_the_server_window(
    clock: Clock, sleep: Sleeper
) -> None:
    fake = FakeCoinMetrics(ASSETS, clock=clock, rate_limit=(10, 6.0))
    # The client's default: a sliding window of 10 per 6 s with a margin for late arrivals.
    limiter = SlidingWindow(
        coinmetrics.REQUESTS_PER_WINDOW, coinmetrics.WINDOW_SECONDS, clock=clock, sleep=sleep
    )
    transport = Recorder(fake.transport(), clock, latency=0.005)
    with CoinMetricsClient(BASE, limiter, transport=transport, sleep=sleep, page_size=1) as client:
        rows = client.asset_metrics(["doge"], ["TxCnt"], JAN, JAN + timedelta(days=12))
    assert len(rows.frame) == 12
    assert fake.stats()["rate_limited"] == 0
