"""A local imitation of FRED's ``GET /fred/series/observations`` for offline tests and benchmarks.

Values are deterministic functions of the date, answers use FRED's real JSON format (including
``"."`` for missing values, vintage rows, paging, its 400 error bodies and 429 rate limiting), and
scripted responses can be queued to inject failures.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple, cast
from urllib.parse import parse_qs, urlsplit

OBSERVATIONS_PATH = "/fred/series/observations"
MAX_LIMIT = 100000
EARLIEST_REALTIME = date(1776, 7, 4)
LATEST_DATE = date(9999, 12, 31)
DEFAULT_OBSERVATION_START = date(1600, 1, 1)
REVISION_SPACING = timedelta(days=30)
REVISION_STEP = 0.1
_KEY_HELP = "Read https://fred.stlouisfed.org/docs/api/api_key.html for more information."
BAD_KEY_MESSAGE = f"Bad Request.  The value for variable api_key is not registered.  {_KEY_HELP}"
MISSING_KEY_MESSAGE = f"Bad Request.  Variable api_key is not set.  {_KEY_HELP}"
NO_SERIES_MESSAGE = "Bad Request.  The series does not exist."
RATE_LIMIT_MESSAGE = "Too Many Requests.  Exceeded Rate Limit"
SUPPORTED_UNITS = ("lin", "pc1")

Response = tuple[int, dict[str, str], bytes | str]


@dataclass
class SeriesSpec:
    """One fake series. Observation dates are aligned forward from ``start`` to the frequency."""

    series_id: str
    frequency: str  # "d" (weekdays), "m" (first of month), "q" (first of Jan/Apr/Jul/Oct)
    start: date
    base: float = 100.0
    holidays: frozenset[date] = frozenset()
    lag_days: int = 1
    revisions: int = 0

    def __post_init__(self) -> None:
        if self.frequency not in ("d", "m", "q"):
            raise ValueError(f"frequency must be 'd', 'm' or 'q', not {self.frequency!r}")
        if self.lag_days < 0 or self.revisions < 0:
            raise ValueError("lag_days and revisions must be >= 0")

    def first_value(self, day: date) -> float:
        """The value first published for ``day`` (ignoring holidays)."""
        return round(self.base + (day.toordinal() % 97) / 10, 2)

    def value_text(self, day: date, revision: int) -> str:
        """FRED's string for ``day`` after ``revision`` revisions ("." on holidays)."""
        if day in self.holidays:
            return "."
        return f"{round(self.first_value(day) + REVISION_STEP * revision, 2):.2f}"

    def release_dates(self, day: date) -> list[date]:
        """realtime_start of the first release and of every revision of ``day``."""
        first = day + timedelta(days=self.lag_days)
        return [first + REVISION_SPACING * k for k in range(self.revisions + 1)]

    def year_ago(self, day: date) -> date:
        if self.frequency == "d":
            return day - timedelta(days=365)
        return date(day.year - 1, day.month, day.day)


class _Row(NamedTuple):
    realtime_start: date
    realtime_end: date
    day: date
    value: str


class _BadRequestError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _observation_dates(spec: SeriesSpec, until: date) -> list[date]:
    """All observation dates of ``spec`` from its start up to ``until`` inclusive."""
    dates: list[date] = []
    if spec.frequency == "d":
        day = spec.start
        while day <= until:
            if day.weekday() < 5:
                dates.append(day)
            day += timedelta(days=1)
        return dates
    step = 1 if spec.frequency == "m" else 3
    day = date(spec.start.year, spec.start.month, 1)
    while (day.month - 1) % step:
        day = _add_months(day, 1)
    if day < spec.start:
        day = _add_months(day, step)
    while day <= until:
        dates.append(day)
        day = _add_months(day, step)
    return dates


def _json_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = _json_body({"error_code": status, "error_message": message})
    return status, {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}, body


def _parse_date(params: dict[str, str], name: str, default: date) -> date:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    message = f"Bad Request.  Variable {name} is not a valid date in YYYY-MM-DD format."
    if len(raw) != 10 or raw[4] != "-" or raw[7] != "-":
        raise _BadRequestError(message)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _BadRequestError(message) from None


def _parse_int(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        number = int(raw)
    except ValueError:
        raise _BadRequestError(f"Bad Request.  Variable {name} is not an integer.") from None
    if not low <= number <= high:
        raise _BadRequestError(f"Bad Request.  Variable {name} is not between {low} and {high}.")
    return number


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeFred) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # silence per-request stderr lines
        return

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        params = {name: values[0] for name, values in query.items()}
        status, headers, body = cast(_Server, self.server).fake.handle(parts.path, params)
        self._send(status, headers, body)

    def do_POST(self) -> None:
        self._send(*_error(405, "Method Not Allowed."))

    def _send(self, status: int, headers: dict[str, str], body: bytes | str) -> None:
        data = body.encode() if isinstance(body, str) else body
        try:
            self.send_response(status)
            if not any(name.lower() == "content-type" for name in headers):
                self.send_header("Content-Type", "application/json; charset=UTF-8")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. read timeout)
            self.close_connection = True


class FakeFred:
    """A FRED observations endpoint on 127.0.0.1 (random port); use as a context manager.

    ``today`` may be reassigned while running to simulate time passing (new releases, revisions).
    """

    def __init__(
        self,
        series: Sequence[SeriesSpec],
        *,
        api_key: str = "test-key",
        today: date = date(2026, 11, 21),
        requests_per_second: float | None = None,
        page_limit: int = MAX_LIMIT,
        jitter_tolerance: float = 0.02,
    ) -> None:
        if page_limit < 1:
            raise ValueError("page_limit must be >= 1")
        if requests_per_second is not None and requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        self.series: dict[str, SeriesSpec] = {spec.series_id: spec for spec in series}
        self.api_key = api_key
        self.today = today
        self.requests_per_second = requests_per_second
        self.page_limit = page_limit
        # Arrival times jitter by milliseconds even when a client sends exactly on schedule;
        # a server measuring per request tolerates that (FRED counts per minute).
        self.jitter_tolerance = jitter_tolerance
        self.requests: list[tuple[float, dict[str, str]]] = []
        self.too_many = 0
        self._lock = threading.Lock()
        self._queue: deque[Response] = deque()
        self._last_accepted: float | None = None
        self._dates: dict[tuple[str, date], tuple[list[date], frozenset[date]]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._url = ""

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``; the client appends the FRED path."""
        if not self._url:
            raise RuntimeError("FakeFred is not started")
        return self._url

    def start(self) -> FakeFred:
        if self._server is not None:
            raise RuntimeError("FakeFred is already started")
        server = _Server(self)
        host, port = server.server_address[:2]
        self._url = f"http://{host!s}:{port}"
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None
        self._url = ""

    def __enter__(self) -> FakeFred:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- test helpers ----------------------------------------------------------------------------

    def queue(self, *responses: Response) -> None:
        """Serve these ``(status, headers, body)`` first, one per request, in order.

        Status 0 means: sleep ``float(headers["sleep"])`` seconds, then answer normally.
        """
        with self._lock:
            self._queue.extend(responses)

    def expected_value(
        self, series_id: str, day: date, *, units: str = "lin", as_of: date | None = None
    ) -> float | None:
        """The value the server returns for ``day`` in the real-time period ``as_of`` (default
        ``today``), or None for ".". KeyError if ``day`` is not returned at all (unknown series,
        not an observation date, or not yet published)."""
        spec = self.series[series_id]
        known = as_of or self.today
        _, date_set = self._dates_of(spec)
        revision = self._revision_known(spec, day, known)
        if day not in date_set or revision < 0:
            raise KeyError(f"{series_id} has no observation {day} as of {known}")
        text = self._value(spec, date_set, day, revision, known, units)
        return None if text == "." else float(text)

    # -- request handling ------------------------------------------------------------------------

    def handle(self, path: str, params: dict[str, str]) -> Response:
        """Answer one request (called from the server's handler threads)."""
        with self._lock:
            self.requests.append((time.monotonic(), dict(params)))
            scripted = self._queue.popleft() if self._queue else None
        if scripted is not None:
            status, headers, _body = scripted
            if status != 0:
                return scripted
            time.sleep(float(headers["sleep"]))
        if not self._admit():
            return _error(429, RATE_LIMIT_MESSAGE, {"Retry-After": "1"})
        if path.rstrip("/") != OBSERVATIONS_PATH:
            return _error(404, "Not Found.")
        try:
            return self._observations(params)
        except _BadRequestError as bad:
            return _error(400, bad.message)

    def _admit(self) -> bool:
        if self.requests_per_second is None:
            return True
        with self._lock:
            now = time.monotonic()
            interval = 1.0 / self.requests_per_second
            if (
                self._last_accepted is not None
                and now - self._last_accepted < interval - self.jitter_tolerance
            ):
                self.too_many += 1
                return False
            self._last_accepted = now
            return True

    def _observations(self, params: dict[str, str]) -> Response:
        api_key = params.get("api_key")
        if not api_key:
            raise _BadRequestError(MISSING_KEY_MESSAGE)
        if api_key != self.api_key:
            raise _BadRequestError(BAD_KEY_MESSAGE)
        series_id = params.get("series_id")
        if not series_id:
            raise _BadRequestError("Bad Request.  Variable series_id is not set.")
        if params.get("file_type") != "json":
            raise _BadRequestError(
                "Bad Request.  Variable file_type is not one of the values: json "
                "(this fake server only answers file_type=json)."
            )
        today = self.today
        realtime_start = _parse_date(params, "realtime_start", today)
        realtime_end = _parse_date(params, "realtime_end", today)
        if realtime_start < EARLIEST_REALTIME:
            raise _BadRequestError(
                "Bad Request.  Variable realtime_start can not be before 1776-07-04."
            )
        if realtime_start > realtime_end:
            raise _BadRequestError(
                "Bad Request.  Variable realtime_start can not be after variable realtime_end."
            )
        obs_start = _parse_date(params, "observation_start", DEFAULT_OBSERVATION_START)
        obs_end = _parse_date(params, "observation_end", LATEST_DATE)
        if obs_start > obs_end:
            raise _BadRequestError(
                "Bad Request.  Variable observation_start can not be after observation_end."
            )
        units = params.get("units") or "lin"
        if units not in SUPPORTED_UNITS:
            raise _BadRequestError(
                "Bad Request.  Variable units is not one of the values: "
                f"{', '.join(SUPPORTED_UNITS)}."
            )
        sort_order = params.get("sort_order") or "asc"
        if sort_order not in ("asc", "desc"):
            raise _BadRequestError(
                "Bad Request.  Variable sort_order is not one of the values: asc, desc."
            )
        limit = _parse_int(params, "limit", MAX_LIMIT, 1, MAX_LIMIT)
        limit = min(limit, self.page_limit)
        offset = _parse_int(params, "offset", 0, 0, 2**31 - 1)
        spec = self.series.get(series_id)
        if spec is None:
            raise _BadRequestError(NO_SERIES_MESSAGE)

        rows = self._rows(spec, obs_start, obs_end, realtime_start, realtime_end, units, today)
        if sort_order == "desc":
            rows.sort(key=lambda row: (-row.day.toordinal(), row.realtime_start))
        page = rows[offset : offset + limit]
        payload: dict[str, Any] = {
            "realtime_start": realtime_start.isoformat(),
            "realtime_end": realtime_end.isoformat(),
            "observation_start": obs_start.isoformat(),
            "observation_end": obs_end.isoformat(),
            "units": units,
            "output_type": 1,
            "file_type": "json",
            "order_by": "observation_date",
            "sort_order": sort_order,
            "count": len(rows),
            "offset": offset,
            "limit": limit,
            "observations": [
                {
                    "realtime_start": row.realtime_start.isoformat(),
                    "realtime_end": row.realtime_end.isoformat(),
                    "date": row.day.isoformat(),
                    "value": row.value,
                }
                for row in page
            ],
        }
        return 200, {"Content-Type": "application/json; charset=UTF-8"}, _json_body(payload)

    def _rows(
        self,
        spec: SeriesSpec,
        obs_start: date,
        obs_end: date,
        realtime_start: date,
        realtime_end: date,
        units: str,
        today: date,
    ) -> list[_Row]:
        """One row per (observation, real-time period) overlapping the requested period."""
        dates, date_set = self._dates_of(spec, today)
        rows: list[_Row] = []
        for day in dates:
            if day < obs_start:
                continue
            if day > obs_end:
                break
            releases = [start for start in spec.release_dates(day) if start <= today]
            if not releases:  # published after today: not returned at all
                continue
            ends = [start - timedelta(days=1) for start in releases[1:]] + [LATEST_DATE]
            for revision, (start, end) in enumerate(zip(releases, ends, strict=True)):
                if start > realtime_end or end < realtime_start:
                    continue
                row_start = max(start, realtime_start)
                value = self._value(spec, date_set, day, revision, row_start, units, today)
                rows.append(_Row(row_start, min(end, realtime_end), day, value))
        return rows

    def _dates_of(
        self, spec: SeriesSpec, today: date | None = None
    ) -> tuple[list[date], frozenset[date]]:
        key = (spec.series_id, today or self.today)
        with self._lock:
            cached = self._dates.get(key)
        if cached is None:
            dates = _observation_dates(spec, key[1])
            cached = (dates, frozenset(dates))
            with self._lock:
                self._dates[key] = cached
        return cached

    def _revision_known(
        self, spec: SeriesSpec, day: date, as_of: date, today: date | None = None
    ) -> int:
        """Index of the latest revision of ``day`` published by ``as_of`` (-1: unpublished)."""
        limit = min(as_of, today or self.today)
        return sum(1 for start in spec.release_dates(day) if start <= limit) - 1

    def _value(
        self,
        spec: SeriesSpec,
        date_set: frozenset[date],
        day: date,
        revision: int,
        as_of: date,
        units: str,
        today: date | None = None,
    ) -> str:
        text = spec.value_text(day, revision)
        if units == "lin" or text == ".":
            return text
        # pc1: against the year-ago observation as known at the row's realtime_start.
        previous = spec.year_ago(day)
        if previous not in date_set:
            return "."
        previous_revision = self._revision_known(spec, previous, as_of, today)
        previous_text = (
            spec.value_text(previous, previous_revision) if previous_revision >= 0 else "."
        )
        if previous_text == "." or float(previous_text) == 0:
            return "."
        return f"{(float(text) / float(previous_text) - 1) * 100:.5f}"
