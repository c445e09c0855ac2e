"""FeedClient and NewsApiClient over ``httpx.MockTransport``: retries on the shared HTTP path
(sleeps recorded, never slept), conditional GETs, NewsAPI paging, withdrawn items, and its
error codes turned into short messages that never carry the key."""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest

from coinfill.errors import ConfigurationError
from coinfill.sources import newsapi
from coinfill.sources.faults import CredentialsRefusedError, Fault, ProviderOutageError
from coinfill.sources.feeds import FeedClient
from coinfill.sources.http import (
    SourceRequestError,
    SourceResponseError,
    SourceUnavailableError,
)
from coinfill.sources.newsapi import NewsApiClient, NewsApiError
from tests.fakes.clock import Clock, Sleeper
from tests.fakes.fake_http import CUT, closed_port_url, first_half
from tests.fakes.news_server import RSS_TYPE, FakeNews, Item, rss

FIXTURES = Path(__file__).parents[1] / "fixtures" / "news"
FEED_URL = "https://www.coindesk.com/arc/outboundfeeds/rss/"
BASE = "https://newsapi.test"
KEY = "9f2c4b7e1a3d4c5e8f0a1b2c3d4e5f60"
DAY = date(2026, 11, 19)
Step = httpx.Response | Callable[[httpx.Request], httpx.Response]


class NoLimit:
    def acquire(self, cost: float = 1.0) -> None:
        pass

    def describe(self) -> str:
        return "no limit"


class Script:
    """Answers with ``steps`` in order; the last one again once they run out."""

    def __init__(self, *steps: Step) -> None:
        self.steps: deque[Step] = deque(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.popleft() if len(self.steps) > 1 else self.steps[0]
        return step(request) if callable(step) else step


def fixture(name: str, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, content=(FIXTURES / name).read_bytes())


def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


@pytest.fixture
def sleeper() -> Sleeper:
    return Sleeper(Clock())


def feed_client(script: Script, sleeper: Sleeper) -> FeedClient:
    return FeedClient(NoLimit(), transport=httpx.MockTransport(script), sleep=sleeper)


def news_client(
    script: Script | None, sleeper: Sleeper, max_pages: int = 1, base: str = BASE
) -> NewsApiClient:
    transport = httpx.MockTransport(script) if script is not None else None
    return NewsApiClient(
        KEY, base, NoLimit(), max_pages=max_pages, transport=transport, sleep=sleeper,
    )  # fmt: skip


def cut(name: str) -> httpx.Response:
    """The first half of a recorded answer, as a dropped download leaves it."""
    return httpx.Response(200, content=first_half((FIXTURES / name).read_bytes()))


RSS = {"content-type": "application/rss+xml; charset=UTF-8"}


# -- FeedClient --------------------------------------------------------------------------------


def test_feed_ok_with_validators_of_the_answer(sleeper: Sleeper) -> None:
    headers = RSS | {"ETag": 'W/"abc"', "Last-Modified": "Fri, 20 Nov 2026 14:40:00 GMT"}
    script = Script(fixture("coindesk_rss.xml", headers=headers))
    with feed_client(script, sleeper) as client:
        response = client.fetch(FEED_URL)
    assert response.body == (FIXTURES / "coindesk_rss.xml").read_bytes()
    assert (response.etag, response.last_modified) == ('W/"abc"', "Fri, 20 Nov 2026 14:40:00 GMT")
    assert response.content_type == RSS["content-type"]
    assert response.not_modified is False
    (request,) = script.requests
    assert str(request.url) == FEED_URL
    assert "if-none-match" not in request.headers and "if-modified-since" not in request.headers
    assert request.headers["accept"].startswith("application/rss+xml")
    assert sleeper.calls == []


def test_feed_429_honours_retry_after(sleeper: Sleeper) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "7"}), fixture("coindesk_rss.xml"))
    with feed_client(script, sleeper) as client:
        response = client.fetch(FEED_URL)
    assert response.body.startswith(b"<?xml")
    assert sleeper.calls == [7.0]
    assert len(script.requests) == 2


def test_feed_retry_after_too_long_stops_without_sleeping(sleeper: Sleeper) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "3600"}))
    with feed_client(script, sleeper) as client, pytest.raises(SourceUnavailableError):
        client.fetch(FEED_URL)
    assert sleeper.calls == []
    assert len(script.requests) == 1


def test_feed_5xx_retried_then_success(sleeper: Sleeper) -> None:
    script = Script(httpx.Response(503), httpx.Response(502), fixture("coindesk_rss.xml"))
    with feed_client(script, sleeper) as client:
        response = client.fetch(FEED_URL)
    assert not response.not_modified and response.body.startswith(b"<?xml")
    assert len(script.requests) == 3
    assert len(sleeper.calls) == 2
    assert 0.5 <= sleeper.calls[0] <= 1.0 and 1.0 <= sleeper.calls[1] <= 2.0  # capped backoff


def test_feed_timeouts_retried_then_unavailable(sleeper: Sleeper) -> None:
    script = Script(timeout)
    with feed_client(script, sleeper) as client, pytest.raises(SourceUnavailableError) as caught:
        client.fetch(FEED_URL)
    assert len(script.requests) == 3
    assert len(sleeper.calls) == 2
    assert f"GET {FEED_URL} failed 3 times; last: ReadTimeout" in str(caught.value)


def test_feed_404_message_is_short(sleeper: Sleeper) -> None:
    page = (FIXTURES / "not_a_feed.html").read_bytes()
    script = Script(httpx.Response(404, headers={"content-type": "text/html"}, content=page))
    with feed_client(script, sleeper) as client, pytest.raises(SourceRequestError) as caught:
        client.fetch(FEED_URL)
    assert str(caught.value) == f"news feed: GET {FEED_URL} answered 404 Not Found"
    assert caught.value.status == 404
    assert len(script.requests) == 1 and sleeper.calls == []


def test_feed_conditional_get_and_304(sleeper: Sleeper) -> None:
    validators = {"url": FEED_URL, "etag": '"v1"', "last_modified": "Thu, 19 Nov 2026 10:00:00 GMT"}
    script = Script(httpx.Response(304, headers={"ETag": '"v1"'}))
    with feed_client(script, sleeper) as client:
        response = client.fetch(FEED_URL, validators)
    (request,) = script.requests
    assert request.headers["if-none-match"] == '"v1"'
    assert request.headers["if-modified-since"] == "Thu, 19 Nov 2026 10:00:00 GMT"
    assert response.not_modified is True
    assert response.body == b""
    assert response.etag == '"v1"'


def test_feed_blank_validators_send_no_condition(sleeper: Sleeper) -> None:
    script = Script(fixture("empty_rss.xml"))
    with feed_client(script, sleeper) as client:
        client.fetch(FEED_URL, {"url": FEED_URL, "etag": "", "last_modified": ""})
    assert not any(k.startswith("if-") for k in script.requests[0].headers)


# -- NewsApiClient -----------------------------------------------------------------------------


def test_newsapi_request_key_in_header_not_url(sleeper: Sleeper) -> None:
    script = Script(fixture("newsapi_page1.json"))
    with news_client(script, sleeper) as client:
        found = client.day(DAY)
    (request,) = script.requests  # 5 < pageSize: the last page
    assert request.headers["x-api-key"] == KEY
    assert KEY not in str(request.url)
    assert request.url.path == "/v2/everything"
    assert dict(request.url.params) == {
        "q": "bitcoin OR ethereum OR crypto", "from": "2026-11-19T00:00:00",
        "to": "2026-11-19T23:59:59", "language": "en", "sortBy": "publishedAt",
        "pageSize": "100", "page": "1",
    }  # fmt: skip
    assert (found.total, found.pages, found.truncated, len(found.items)) == (7, 1, None, 5)
    yahoo = found.items[2]
    assert (
        yahoo.url
        == "https://finance.yahoo.com/news/xrp-jumps-6-ripple-wins-140300123.html?guccounter=1"
    )
    assert yahoo.source == "Yahoo Entertainment"
    assert found.items[3].published == datetime(2026, 11, 19, 9, 47, 21, 387120)  # 7 digits
    assert found.items[0].published == datetime(2026, 11, 20, 15, 21, 8)


def test_newsapi_paging(monkeypatch: pytest.MonkeyPatch, sleeper: Sleeper) -> None:
    monkeypatch.setattr(newsapi, "PAGE_SIZE", 5)
    script = Script(fixture("newsapi_page1.json"), fixture("newsapi_page2.json"))
    with news_client(script, sleeper, max_pages=3) as client:
        found = client.day(DAY)
    assert [r.url.params["page"] for r in script.requests] == ["1", "2"]
    assert {r.url.params["pageSize"] for r in script.requests} == {"5"}
    assert (found.total, found.pages, found.truncated) == (7, 2, None)
    assert [i.url.split("/")[2] for i in found.items] == [
        "www.ccn.com", "www.businessinsider.com", "finance.yahoo.com", "biztoc.com",
        "www.wired.com", "www.theverge.com", "decrypt.co",
    ]  # fmt: skip
    assert not any(i.removed for i in found.items)


def test_newsapi_page_limit_says_truncated(
    monkeypatch: pytest.MonkeyPatch, sleeper: Sleeper
) -> None:
    monkeypatch.setattr(newsapi, "PAGE_SIZE", 5)
    script = Script(fixture("newsapi_page1.json"))
    with news_client(script, sleeper, max_pages=1) as client:
        found = client.day(DAY)
    assert len(script.requests) == 1
    assert found.truncated == "7 results, read 1 page(s)"


def test_newsapi_removed_items_are_flagged(sleeper: Sleeper) -> None:
    with news_client(Script(fixture("newsapi_removed.json")), sleeper) as client:
        found = client.day(DAY)
    assert [i.removed for i in found.items] == [False, True, False]
    removed = found.items[1]
    assert (removed.url, removed.source, removed.title) == (
        "https://removed.com",
        "[Removed]",
        "[Removed]",
    )
    assert found.items[2].source == "Forbes"


def test_newsapi_bad_key_is_refused_credentials_without_the_key(
    sleeper: Sleeper, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    script = Script(
        httpx.Response(429, headers={"Retry-After": "2"}), fixture("newsapi_error_apikey.json", 401)
    )
    with news_client(script, sleeper) as client:
        with pytest.raises(CredentialsRefusedError) as caught:
            client.day(DAY)
        # The provider is stopped: the next day fails at once, without a request.
        with pytest.raises(CredentialsRefusedError) as again:
            client.day(date(2026, 11, 20))
    assert len(script.requests) == 2 and again.value is caught.value
    assert isinstance(caught.value, ConfigurationError) and caught.value.fault is Fault.CREDENTIALS
    assert caught.value.setting == "COINFILL_NEWSAPI_KEY"
    assert (caught.value.provider, caught.value.status) == ("newsapi", 401)
    message = str(caught.value)
    assert "COINFILL_NEWSAPI_KEY" in message and "Secret block" in message
    assert "apiKeyInvalid" in message and "Your API key is invalid" in message
    chain = [caught.value, caught.value.__cause__, caught.value.__context__]
    assert all(KEY not in str(e) and KEY not in repr(e) for e in chain if e is not None)
    assert sleeper.calls == [2.0]
    assert caplog.records  # the retry and httpx's request lines were logged …
    assert KEY not in caplog.text  # … without the key
    assert all(KEY not in r.getMessage() for r in caplog.records)


def test_newsapi_error_echoing_the_key_is_redacted(sleeper: Sleeper) -> None:
    body = {"status": "error", "code": "parameterInvalid", "message": f"bad request for {KEY}"}
    script = Script(httpx.Response(400, json=body))
    with news_client(script, sleeper) as client, pytest.raises(SourceRequestError) as caught:
        client.day(DAY)
    assert KEY not in str(caught.value)


def test_newsapi_max_results_truncates_instead_of_failing(
    monkeypatch: pytest.MonkeyPatch, sleeper: Sleeper
) -> None:
    monkeypatch.setattr(newsapi, "PAGE_SIZE", 5)
    script = Script(fixture("newsapi_page1.json"), fixture("newsapi_error_maxresults.json", 426))
    with news_client(script, sleeper, max_pages=3) as client:
        found = client.day(DAY)
    assert len(found.items) == 5 and found.pages == 1 and len(script.requests) == 2
    assert found.truncated is not None
    assert found.truncated.startswith("page 2: You have requested too many results.")


def test_newsapi_too_old_names_day_and_message(sleeper: Sleeper) -> None:
    script = Script(fixture("newsapi_error_toold.json", 426))
    with news_client(script, sleeper) as client, pytest.raises(SourceRequestError) as caught:
        client.day(date(2026, 9, 1))
    message = str(caught.value)
    assert message.startswith("newsapi: 2026-09-01: parameterInvalid: You are trying to request")
    assert "as far back as 2026-10-19" in message
    assert caught.value.status == 426 and caught.value.provider == "newsapi"
    assert caught.value.fault is Fault.UNAVAILABLE  # beyond the plan's history, not a failure
    assert len(script.requests) == 1 and sleeper.calls == []


def test_newsapi_refused_day_is_that_days_alone(sleeper: Sleeper) -> None:
    body = {"status": "error", "code": "parameterInvalid", "message": "The 'to' param is bad."}
    script = Script(httpx.Response(400, json=body), fixture("newsapi_removed.json"))
    with news_client(script, sleeper) as client:
        with pytest.raises(NewsApiError) as caught:
            client.day(DAY)
        assert caught.value.fault is Fault.REFUSED and caught.value.code == "parameterInvalid"
        assert (caught.value.provider, caught.value.status) == ("newsapi", 400)
        assert len(client.day(date(2026, 11, 20)).items) == 3  # the provider goes on
    assert len(script.requests) == 2


def test_newsapi_rate_limited_honours_retry_after(sleeper: Sleeper) -> None:
    limited = fixture("newsapi_error_ratelimited.json", 429, {"Retry-After": "30"})
    script = Script(limited, fixture("newsapi_removed.json"))
    with news_client(script, sleeper) as client:
        found = client.day(DAY)
    assert sleeper.calls == [30.0]
    assert len(found.items) == 3


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"status": "ok", "articles": [', "not JSON"),
        (b"<html>gateway</html>", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"status": "error", "code": "unexpectedError"}).encode(), "no 'articles' list"),
        (json.dumps({"status": "ok", "totalResults": 1}).encode(), "no 'articles' list"),
        (json.dumps({"status": "ok", "articles": [1]}).encode(), "not an object"),
    ],
)
def test_newsapi_malformed_answers(sleeper: Sleeper, body: bytes, expected: str) -> None:
    # Once: asked again, and the day arrives.
    script = Script(httpx.Response(200, content=body), fixture("newsapi_removed.json"))
    with news_client(script, sleeper) as client:
        assert len(client.day(DAY).items) == 3
    assert len(script.requests) == 2 and len(sleeper.calls) == 1
    # Every time: the retries run out.
    script = Script(httpx.Response(200, content=body))
    with news_client(script, sleeper) as client, pytest.raises(SourceResponseError) as caught:
        client.day(DAY)
    assert expected in str(caught.value) and "asked 3 times" in str(caught.value)
    assert caught.value.fault is Fault.TRANSIENT and caught.value.provider == "newsapi"
    assert KEY not in str(caught.value)
    assert len(script.requests) == 3


def test_newsapi_cut_off_page_is_asked_again_and_arrives_whole(sleeper: Sleeper) -> None:
    script = Script(cut("newsapi_page1.json"), fixture("newsapi_page1.json"))
    with news_client(script, sleeper) as client:
        found = client.day(DAY)
    assert len(script.requests) == 2 and len(found.items) == 5 and found.error is None
    assert (found.total, found.pages) == (7, 1)


def test_newsapi_page_cut_off_every_time_is_a_transient_response_error(sleeper: Sleeper) -> None:
    script = Script(cut("newsapi_page1.json"))
    with news_client(script, sleeper) as client, pytest.raises(SourceResponseError) as caught:
        client.day(DAY)
    assert caught.value.fault is Fault.TRANSIENT and "not JSON" in str(caught.value)
    assert len(script.requests) == 3


def test_newsapi_later_page_failing_keeps_the_earlier_items(
    monkeypatch: pytest.MonkeyPatch, sleeper: Sleeper
) -> None:
    monkeypatch.setattr(newsapi, "PAGE_SIZE", 5)
    script = Script(fixture("newsapi_page1.json"), cut("newsapi_page2.json"))
    with news_client(script, sleeper, max_pages=3) as client:
        found = client.day(DAY)
    assert [r.url.params["page"] for r in script.requests] == ["1", "2", "2", "2"]
    assert len(found.items) == 5 and (found.total, found.pages) == (7, 1)
    assert isinstance(found.error, SourceResponseError) and found.error.fault is Fault.TRANSIENT
    assert "page=2" in str(found.error) and "asked 3 times" in str(found.error)
    assert found.items[0].url.split("/")[2] == "www.ccn.com"


def test_newsapi_unreachable_opens_the_breaker(sleeper: Sleeper) -> None:
    with news_client(None, sleeper, base=closed_port_url()) as client:
        with pytest.raises(SourceUnavailableError, match="ConnectError"):
            client.day(DAY)  # 3 attempts: the day fails
        assert client.http.requests == 3
        with pytest.raises(ProviderOutageError) as caught:  # the 4th failure in a row opens it
            client.day(date(2026, 11, 20))
        assert client.http.requests == 4 and caught.value.fault is Fault.OUTAGE
        with pytest.raises(ProviderOutageError):  # then no request at all
            client.day(date(2026, 11, 21))
        assert client.http.requests == 4
    assert KEY not in str(caught.value)


# -- FeedClient faults -------------------------------------------------------------------------


def test_feed_404_is_that_feeds_alone(sleeper: Sleeper) -> None:
    script = Script(httpx.Response(404, content=b"<html>gone</html>"), fixture("coindesk_rss.xml"))
    with feed_client(script, sleeper) as client:
        with pytest.raises(SourceRequestError) as caught:
            client.fetch("https://gone.example/feed")
        assert caught.value.fault is Fault.REFUSED
        assert (caught.value.provider, caught.value.status) == ("news feed", 404)
        assert client.fetch(FEED_URL).body.startswith(b"<?xml")  # the next feed goes on
    assert len(script.requests) == 2


def test_feed_403_does_not_stop_the_other_feeds(sleeper: Sleeper) -> None:
    script = Script(httpx.Response(403), fixture("coindesk_rss.xml"))
    with feed_client(script, sleeper) as client:
        with pytest.raises(SourceRequestError) as caught:
            client.fetch("https://blocked.example/rss")
        assert caught.value.fault is Fault.REFUSED  # a publisher's refusal, not our key
        assert client.fetch(FEED_URL).body.startswith(b"<?xml")
        assert client.http.stopped is None


def test_a_down_publisher_does_not_stop_the_other_feeds(sleeper: Sleeper) -> None:
    body = (FIXTURES / "coindesk_rss.xml").read_bytes()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "down.example":
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, headers=RSS, content=body)

    script = Script(answer)
    down = "https://down.example/rss"
    with feed_client(script, sleeper) as client:
        with pytest.raises(SourceUnavailableError):
            client.fetch(down)  # 3 attempts
        assert client.fetch(FEED_URL).body == body  # a success elsewhere resets nothing there
        with pytest.raises(ProviderOutageError) as caught:  # down.example's 4th failure in a row
            client.fetch(down)
        assert "news feed unreachable at down.example" in str(caught.value)
        asked = len(script.requests)
        with pytest.raises(ProviderOutageError):
            client.fetch(down)  # no request to the down host …
        assert len(script.requests) == asked
        assert client.fetch(FEED_URL).body == body  # … and the other feeds go on
    hosts = [r.url.host for r in script.requests]
    assert hosts.count("down.example") == 4 and hosts.count("www.coindesk.com") == 2


def test_feed_cut_off_in_transfer_is_asked_again(sleeper: Sleeper) -> None:
    feed = rss("Example", [Item("Bitcoin rises", "https://example.com/a", datetime(2026, 11, 19))])
    with FakeNews({"example": (feed, RSS_TYPE)}) as fake:
        client = FeedClient(NoLimit(), sleep=sleeper, timeout=5)
        with client:
            fake.queue((CUT, {"Content-Type": RSS_TYPE}, feed))
            assert client.fetch(fake.feed_url("example")).body == feed  # whole, second time
            assert client.http.requests == 2 and len(sleeper.calls) == 1
            fake.queue(*[(CUT, {"Content-Type": RSS_TYPE}, feed)] * 3)
            with pytest.raises(SourceUnavailableError) as caught:
                client.fetch(fake.feed_url("example"))
        assert caught.value.fault is Fault.TRANSIENT and "RemoteProtocolError" in str(caught.value)
        assert len(fake.requests) == 5
