"""FredClient against the local FRED imitation: values, paging, vintages, units, FRED's own
error messages, retries of transient failures, malformed bodies and the request rate."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from coinfill.sources.faults import CredentialsRefusedError, Fault
from coinfill.sources.fred import FredClient, FredError, Observation
from coinfill.sources.http import RetryPolicy, SourceResponseError, SourceUnavailableError
from coinfill.sources.ratelimit import TokenBucket
from tests.fakes.fred_server import (
    BAD_KEY_MESSAGE,
    NO_SERIES_MESSAGE,
    RATE_LIMIT_MESSAGE,
    FakeFred,
    SeriesSpec,
)

TODAY = date(2026, 11, 21)
HOLIDAY = date(2024, 1, 15)  # Martin Luther King Jr. Day: FRED answers "."
DAILY = SeriesSpec("DGS10", "d", date(2024, 1, 1), base=3.0, holidays=frozenset({HOLIDAY}))
REVISED = SeriesSpec("UNRATE", "m", date(2024, 1, 1), base=4.0, revisions=2)
MONTHLY = SeriesSpec("CPIAUCSL", "m", date(2020, 1, 1), base=300.0, lag_days=30)
SERIES = [DAILY, REVISED, MONTHLY]
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
JAN = (date(2024, 1, 1), date(2024, 2, 1))


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def fake() -> Iterator[FakeFred]:
    with FakeFred(SERIES, today=TODAY) as server:
        yield server


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


def client_for(
    fake: FakeFred, sleep: RecordingSleep, *, key: str = "test-key", timeout: float = 5.0
) -> FredClient:
    return FredClient(key, fake.url, TokenBucket(1000), sleep=sleep, retry=FAST, timeout=timeout)


def weekdays(start: date, end: date) -> list[date]:
    days = (start + timedelta(days=n) for n in range((end - start).days))
    return [day for day in days if day.weekday() < 5]


def assert_full_january(fake: FakeFred, found: list[Observation]) -> None:
    assert [o.day for o in found] == weekdays(*JAN)
    for obs in found:
        assert obs.value == fake.expected_value("DGS10", obs.day)


# -- normal answers ----------------------------------------------------------------------------


def test_daily_page_values_holiday_and_realtime(fake: FakeFred, sleep: RecordingSleep) -> None:
    with client_for(fake, sleep) as client:
        found = client.observations("DGS10", *JAN)
    assert len(found) == 23  # the weekdays of January 2024
    assert_full_january(fake, found)
    by_day = {o.day: o for o in found}
    assert by_day[HOLIDAY].value is None
    assert all(o.value is not None for o in found if o.day != HOLIDAY)
    assert by_day[date(2024, 1, 2)].value == DAILY.first_value(date(2024, 1, 2))
    assert {(o.realtime_start, o.realtime_end) for o in found} == {(TODAY, TODAY)}
    assert len(fake.requests) == 1
    params = fake.requests[0][1]
    assert params["series_id"] == "DGS10" and params["file_type"] == "json"
    assert params["units"] == "lin" and "realtime_start" not in params
    assert sleep.calls == []


def test_end_date_is_excluded(fake: FakeFred, sleep: RecordingSleep) -> None:
    with client_for(fake, sleep) as client:
        found = client.observations("DGS10", date(2024, 1, 2), date(2024, 1, 31))
    days = [o.day for o in found]
    assert days[0] == date(2024, 1, 2)
    assert days[-1] == date(2024, 1, 30)
    assert date(2024, 1, 31) not in days
    params = fake.requests[0][1]
    assert params["observation_start"] == "2024-01-02"
    assert params["observation_end"] == "2024-01-30"


def test_open_window_returns_the_whole_series(fake: FakeFred, sleep: RecordingSleep) -> None:
    with client_for(fake, sleep) as client:
        found = client.observations("CPIAUCSL")
    # Monthly from 2020-01, each published 30 days after its date, up to TODAY.
    assert found[0].day == date(2020, 1, 1)
    assert found[-1].day == date(2026, 10, 1)
    assert len(found) == 82
    assert "observation_start" not in fake.requests[0][1]


def test_paging_returns_every_observation(sleep: RecordingSleep) -> None:
    with FakeFred(SERIES, today=TODAY, page_limit=3) as fake, client_for(fake, sleep) as client:
        found = client.observations("DGS10", *JAN)
        assert_full_january(fake, found)
        assert len(fake.requests) == math.ceil(23 / 3) == 8
        assert [int(p["offset"]) for _, p in fake.requests] == list(range(0, 23, 3))


def test_paging_stops_on_an_exact_multiple(sleep: RecordingSleep) -> None:
    with FakeFred(SERIES, today=TODAY, page_limit=3) as fake, client_for(fake, sleep) as client:
        found = client.observations("DGS10", date(2024, 1, 1), date(2024, 1, 30))
        assert len(found) == 21
        assert len(fake.requests) == 7  # no extra request for an empty eighth page


def test_client_page_limit_is_sent(fake: FakeFred, sleep: RecordingSleep) -> None:
    client = FredClient(
        "test-key", fake.url, TokenBucket(1000), sleep=sleep, retry=FAST, page_limit=10
    )
    with client:
        found = client.observations("DGS10", *JAN)
    assert_full_january(fake, found)
    assert len(fake.requests) == 3
    assert {p["limit"] for _, p in fake.requests} == {"10"}


def test_vintages_give_every_release(fake: FakeFred, sleep: RecordingSleep) -> None:
    with client_for(fake, sleep) as client:
        found = client.observations("UNRATE", date(2024, 1, 1), date(2024, 7, 1), vintages=True)
    params = fake.requests[0][1]
    assert params["realtime_start"] == "1776-07-04"
    assert params["realtime_end"] == "9999-12-31"
    days = sorted({o.day for o in found})
    assert days == [date(2024, m, 1) for m in range(1, 7)]
    for day in days:
        rows = [o for o in found if o.day == day]
        assert len(rows) == 3  # first release and two revisions
        starts = [o.realtime_start for o in rows]
        assert starts == sorted(starts) and len(set(starts)) == 3
        assert starts[0] == day + timedelta(days=1)
        for row in rows:
            assert row.value == fake.expected_value("UNRATE", day, as_of=row.realtime_start)
        assert [row.realtime_end for row in rows[:-1]] == [
            start - timedelta(days=1) for start in starts[1:]
        ]
        assert rows[-1].realtime_end == date(9999, 12, 31)
        first, last = rows[0].value, rows[-1].value
        assert first is not None and last is not None and last > first


def test_units_pass_through(fake: FakeFred, sleep: RecordingSleep) -> None:
    with client_for(fake, sleep) as client:
        lin = client.observations("CPIAUCSL", date(2023, 1, 1), date(2024, 1, 1))
        pc1 = client.observations("CPIAUCSL", date(2023, 1, 1), date(2024, 1, 1), units="pc1")
    assert fake.requests[1][1]["units"] == "pc1"
    assert [o.day for o in pc1] == [o.day for o in lin] == [date(2023, m, 1) for m in range(1, 13)]
    for obs in pc1:
        assert obs.value == fake.expected_value("CPIAUCSL", obs.day, units="pc1")
    assert [o.value for o in pc1] != [o.value for o in lin]


def test_empty_observations_are_not_an_error(fake: FakeFred, sleep: RecordingSleep) -> None:
    with client_for(fake, sleep) as client:
        found = client.observations("DGS10", date(2023, 1, 1), date(2023, 6, 1))
    assert found == []
    assert len(fake.requests) == 1


def test_empty_page_ends_paging_even_if_count_says_more(
    fake: FakeFred, sleep: RecordingSleep
) -> None:
    lying = json.loads(page([]))
    lying["count"] = 50
    fake.queue((200, {}, json.dumps(lying)))
    with client_for(fake, sleep) as client:
        assert client.observations("DGS10", *JAN) == []
    assert len(fake.requests) == 1


# -- FRED's refusals ---------------------------------------------------------------------------


def test_unknown_series_is_reported_not_retried(fake: FakeFred, sleep: RecordingSleep) -> None:
    with client_for(fake, sleep) as client, pytest.raises(FredError) as caught:
        client.observations("NOSUCHSERIES", *JAN)
    message = str(caught.value)
    assert "NOSUCHSERIES" in message
    assert "does not exist" in message
    assert caught.value.status == 400
    assert json.loads(caught.value.body)["error_message"] == NO_SERIES_MESSAGE
    assert len(fake.requests) == 1
    assert sleep.calls == []


def test_bad_key_is_reported_without_the_key(sleep: RecordingSleep) -> None:
    with FakeFred(SERIES, api_key="my-secret-key-123", today=TODAY) as fake:
        client = client_for(fake, sleep, key="wrong-key-456")
        with client, pytest.raises(CredentialsRefusedError) as caught:
            client.observations("DGS10", *JAN)
        assert len(fake.requests) == 1
        assert fake.requests[0][1]["api_key"] == "wrong-key-456"
        # The provider is stopped: the next series is not even asked.
        with client, pytest.raises(CredentialsRefusedError):
            client.observations("VIXCLS", *JAN)
        assert len(fake.requests) == 1
    message = str(caught.value)
    assert caught.value.fault is Fault.CREDENTIALS and caught.value.status == 400
    assert caught.value.setting == "COINFILL_FRED_API_KEY"
    assert "COINFILL_FRED_API_KEY" in message
    assert "api_key" in message and "not registered" in message
    assert "wrong-key-456" not in message
    assert "my-secret-key-123" not in message
    assert BAD_KEY_MESSAGE.split("  ")[1] in message


def test_unknown_series_is_refused_for_that_series_only(
    fake: FakeFred, sleep: RecordingSleep
) -> None:
    with client_for(fake, sleep) as client:
        with pytest.raises(FredError) as caught:
            client.observations("NOSUCHSERIES", *JAN)
        assert caught.value.fault is Fault.REFUSED
        assert "NOSUCHSERIES" in str(caught.value) and "COINFILL_MACRO_SERIES" in str(caught.value)
        assert client.observations("DGS10", *JAN)  # the provider goes on


def test_error_body_echoing_the_key_is_redacted(fake: FakeFred, sleep: RecordingSleep) -> None:
    fake.queue((400, {}, json.dumps({"error_code": 400, "error_message": "bad api_key=test-key"})))
    with client_for(fake, sleep) as client, pytest.raises(CredentialsRefusedError) as caught:
        client.observations("DGS10", *JAN)
    assert "test-key" not in str(caught.value)
    assert "api_key=***" in str(caught.value)


# -- transient failures ------------------------------------------------------------------------


def test_429_with_retry_after_then_success(fake: FakeFred, sleep: RecordingSleep) -> None:
    body = json.dumps({"error_code": 429, "error_message": RATE_LIMIT_MESSAGE})
    fake.queue((429, {"Retry-After": "2"}, body))
    with client_for(fake, sleep) as client:
        found = client.observations("DGS10", *JAN)
        assert client.requests == 2
    assert_full_january(fake, found)
    assert len(fake.requests) == 2
    assert len(sleep.calls) == 1 and sleep.calls[0] >= 2.0


def test_500_then_success(fake: FakeFred, sleep: RecordingSleep) -> None:
    fake.queue((500, {}, json.dumps({"error_code": 500, "error_message": "Internal error."})))
    with client_for(fake, sleep) as client:
        found = client.observations("DGS10", *JAN)
    assert_full_january(fake, found)
    assert len(fake.requests) == 2
    assert len(sleep.calls) == 1 and sleep.calls[0] <= FAST.max_delay


def test_read_timeout_then_success(fake: FakeFred, sleep: RecordingSleep) -> None:
    fake.queue((0, {"sleep": "1.0"}, ""))
    started = time.monotonic()
    with client_for(fake, sleep, timeout=0.3) as client:
        found = client.observations("DGS10", *JAN)
    assert time.monotonic() - started < 1.0  # gave up on the slow answer, did not wait for it
    assert_full_january(fake, found)
    assert len(fake.requests) == 2
    assert len(sleep.calls) == 1


def test_failure_on_a_later_page_is_retried(sleep: RecordingSleep) -> None:
    with FakeFred(SERIES, today=TODAY, page_limit=10) as fake, client_for(fake, sleep) as client:
        first_page = client.observations("DGS10", date(2024, 1, 1), date(2024, 1, 8))
        assert len(first_page) == 5
        fake.requests.clear()
        fake.queue((0, {"sleep": "0"}, ""), (503, {}, "{}"))  # page 1 fine, page 2 fails once
        found = client.observations("DGS10", *JAN)
        assert_full_january(fake, found)
        assert [int(p["offset"]) for _, p in fake.requests] == [0, 10, 10, 20]


def test_persistent_5xx_is_unavailable(fake: FakeFred, sleep: RecordingSleep) -> None:
    fake.queue(*[(503, {}, "Service Unavailable")] * FAST.attempts)
    with client_for(fake, sleep) as client, pytest.raises(SourceUnavailableError) as caught:
        client.observations("DGS10", *JAN)
    assert "FRED" in str(caught.value) and "4 times" in str(caught.value)
    assert "api_key=***" in str(caught.value) and "test-key" not in str(caught.value)
    assert len(fake.requests) == FAST.attempts


# -- malformed answers -------------------------------------------------------------------------


def row(day: str = "2024-01-02", value: str = "3.95") -> dict[str, str]:
    return {
        "realtime_start": "2026-11-21",
        "realtime_end": "2026-11-21",
        "date": day,
        "value": value,
    }


def page(observations: list[object]) -> str:
    return json.dumps(
        {
            "realtime_start": "2026-11-21",
            "realtime_end": "2026-11-21",
            "observation_start": "2024-01-01",
            "observation_end": "2024-01-31",
            "units": "lin",
            "output_type": 1,
            "file_type": "json",
            "order_by": "observation_date",
            "sort_order": "asc",
            "count": len(observations),
            "offset": 0,
            "limit": 100000,
            "observations": observations,
        }
    )


MISSING_DATE = {"realtime_start": "2026-11-21", "realtime_end": "2026-11-21", "value": "3.95"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("<html>Service temporarily down</html>", "not JSON", id="not-json"),
        pytest.param(json.dumps({"count": 0, "offset": 0}), "observations", id="no-list"),
        pytest.param(json.dumps({"observations": None}), "observations", id="null-list"),
        pytest.param(json.dumps([row()]), "observations", id="json-array"),
        pytest.param(page([row(), row("2024-01-03", "abc")]), "abc", id="bad-value"),
        pytest.param(page([MISSING_DATE]), "malformed observation", id="missing-date"),
        pytest.param(page([row("2024-13-01")]), "2024-13-01", id="bad-date"),
        pytest.param(page(["2024-01-02"]), "malformed observation", id="row-not-object"),
    ],
)
def test_malformed_body_names_the_series(
    fake: FakeFred, sleep: RecordingSleep, body: str, expected: str
) -> None:
    broken = (200, {"Content-Type": "application/json; charset=UTF-8"}, body)
    # Once: a malformed 200 is transient, asked again, and the series arrives whole.
    fake.queue(broken)
    with client_for(fake, sleep) as client:
        found = client.observations("DGS10", *JAN)
    assert len(fake.requests) == 2
    assert_full_january(fake, found)
    # Every time: the retries run out and the error names the series and what was wrong.
    fake.queue(*[broken] * FAST.attempts)
    with client_for(fake, sleep) as client, pytest.raises(SourceResponseError) as caught:
        client.observations("DGS10", *JAN)
    message = str(caught.value)
    assert caught.value.fault is Fault.TRANSIENT
    assert "DGS10" in message
    assert expected in message
    assert f"asked {FAST.attempts} times" in message
    assert "test-key" not in message


# -- the request rate --------------------------------------------------------------------------


def test_rate_limit_holds_against_a_strict_server(sleep: RecordingSleep) -> None:
    with FakeFred(SERIES, today=TODAY, requests_per_second=5) as fake:
        client = FredClient("test-key", fake.url, TokenBucket(5), sleep=sleep, retry=FAST)
        started = time.monotonic()
        with client:
            for _ in range(6):
                assert len(client.observations("DGS10", date(2024, 1, 1), date(2024, 1, 8))) == 5
        elapsed = time.monotonic() - started
        assert fake.too_many == 0
        assert len(fake.requests) == 6
    assert elapsed >= 1.0 - 0.05
    assert sleep.calls == []


def test_strict_server_does_refuse_an_unlimited_client(sleep: RecordingSleep) -> None:
    """The control for the test above: without the bucket the fake does answer 429."""
    with FakeFred(SERIES, today=TODAY, requests_per_second=5) as fake:
        client = FredClient("test-key", fake.url, TokenBucket(1000), sleep=sleep, retry=FAST)
        with client, pytest.raises(SourceUnavailableError, match="HTTP 429"):
            for _ in range(6):
                client.observations("DGS10", date(2024, 1, 1), date(2024, 1, 8))
        assert fake.too_many > 0
