"""News feeds over HTTP: one GET per feed URL, with the shared retry and rate-limit path.

Feeds live on many hosts, so the client has no base URL; every request is an absolute URL.
A conditional GET (``If-None-Match`` / ``If-Modified-Since``) is sent when the last run left an
ETag or Last-Modified for the feed: a 304 is "nothing new" and costs the publisher nothing.
A ``file://`` URL reads a recorded or archived feed from disk (the offline demo, a mirror).

A refusal (404, 403, 410) fails that feed only, never the provider; transport failures open
the circuit breaker of that publisher's host only (:class:`HttpSource` keeps one per host), so a
publisher that is down does not stop the other feeds. A body cut off in transfer (shorter than
its ``Content-Length``, a chunked body ending early) is a transport failure and asked again; a
body that holds no feed is judged by :func:`coinfill.news.feeds.parse_feed`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx

from coinfill.sources.faults import Fault
from coinfill.sources.http import HttpSource, RetryPolicy, SourceError, SourceRequestError
from coinfill.sources.ratelimit import RateLimiter, local_bucket

PROVIDER = "news feed"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"
)


@dataclass(frozen=True)
class FeedResponse:
    body: bytes
    content_type: str | None
    etag: str | None
    last_modified: str | None
    not_modified: bool = False


class FeedClient:
    def __init__(
        self,
        limiter: RateLimiter | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = HttpSource(
            PROVIDER,
            "",
            limiter or local_bucket("news-feeds", 2.0),
            timeout=timeout,
            retry=retry or RetryPolicy(attempts=3, max_delay=30.0, max_retry_after=120.0),
            transport=transport,
            sleep=sleep,
            headers={"Accept": ACCEPT},
        )

    def __enter__(self) -> FeedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def fetch(self, url: str, validators: Mapping[str, str] | None = None) -> FeedResponse:
        if is_file_url(url):
            return _read_file(url)
        headers = {}
        if validators and validators.get("etag"):
            headers["If-None-Match"] = validators["etag"]
        if validators and validators.get("last_modified"):
            headers["If-Modified-Since"] = validators["last_modified"]
        return self.http.fetch(
            url, {}, _response, headers=headers, explain=lambda exc: _explain(exc, url)
        )


def _response(response: httpx.Response) -> FeedResponse:
    return FeedResponse(
        body=b"" if response.status_code == 304 else response.content,
        content_type=response.headers.get("content-type"),
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
        not_modified=response.status_code == 304,
    )


def _explain(exc: SourceRequestError, url: str) -> SourceError:
    """A feed's error page is HTML: the status says enough, the page only adds noise. A
    refusal is that feed's alone (kind ``refused``, never ``credentials``): the others go on."""
    status = exc.status or 400
    return SourceRequestError(
        f"news feed: GET {url} answered {status} {httpx.codes.get_reason_phrase(status)}",
        status,
        exc.body,
        provider=PROVIDER,
        fault=Fault.REFUSED,
    )


def is_file_url(url: str) -> bool:
    return url.lower().startswith("file://")


def _read_file(url: str) -> FeedResponse:
    path = Path(url2pathname(urlsplit(url).path))
    try:
        return FeedResponse(path.read_bytes(), None, None, None)
    except OSError as exc:
        raise SourceError(
            f"news feed: cannot read {path}: {exc.strerror or exc}", provider=PROVIDER
        ) from None
