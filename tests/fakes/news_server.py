"""A local imitation of news publishers' feeds and NewsAPI.org for offline flow tests.

- ``GET /feeds/<name>`` serves the body registered for ``name`` with its content type and an
  ``ETag``; a request whose ``If-None-Match`` equals it gets ``304 Not Modified``, as real
  feed servers (WordPress, Arc XP) do. An unknown name answers 404 with an HTML page.
- ``GET /v2/everything`` answers NewsAPI's format from the articles registered per UTC day,
  for the day of ``from``; a wrong ``X-Api-Key`` answers 401 ``apiKeyInvalid``.

:func:`rss` and :func:`atom` write feeds in the real formats (RSS 2.0 with ``dc``/``content``
namespaces and RFC 822 dates; Atom 1.0 with RFC 3339 dates) with times relative to the test's
clock, so the flow's trailing windows see them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

from tests.fakes.fake_http import FakeServer, Response, json_response

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Item:
    title: str
    link: str
    published: datetime | None  # naive UTC; None writes no date at all
    summary: str = ""


def rss(title: str, items: Sequence[Item], language: str = "en-US") -> bytes:
    entries = []
    for item in items:
        date_line = (
            f"<pubDate>{format_datetime(item.published.replace(tzinfo=UTC))}</pubDate>"
            if item.published
            else ""
        )
        entries.append(
            f"<item><title><![CDATA[{item.title}]]></title><link>{escape(item.link)}</link>"
            f'<guid isPermaLink="false">{hashlib.md5(item.link.encode()).hexdigest()}</guid>'
            f"<dc:creator><![CDATA[Staff]]></dc:creator>{date_line}"
            f"<description><![CDATA[<p>{item.summary}</p>]]></description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>{escape(title)}</title><link>https://example.com/</link>"
        f"<description>{escape(title)}</description><language>{language}</language>"
        + "".join(entries)
        + "</channel></rss>"
    ).encode()


def atom(title: str, items: Sequence[Item]) -> bytes:
    entries = []
    for item in items:
        stamp = (item.published or datetime(2000, 1, 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        entries.append(
            f"<entry><title>{escape(item.title)}</title>"
            f'<link rel="alternate" href="{escape(item.link)}"/><id>tag:example.com,2026:'
            f"{hashlib.md5(item.link.encode()).hexdigest()}</id><published>{stamp}</published>"
            f"<updated>{stamp}</updated>"
            f'<summary type="html">{escape(item.summary)}</summary>'
            "<author><name>Staff</name></author></entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>urn:example:feed</id>"
        f"<updated>{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}</updated>" + "".join(entries) + "</feed>"
    ).encode()


class FakeNews(FakeServer):
    def __init__(
        self,
        feeds: Mapping[str, tuple[bytes, str]] | None = None,
        newsapi: Mapping[date, Sequence[Item]] | None = None,
        api_key: str = "test-newsapi-key",
    ) -> None:
        super().__init__()
        self.feeds = dict(feeds or {})
        self.newsapi = dict(newsapi or {})
        self.api_key = api_key

    def feed_url(self, name: str) -> str:
        return f"{self.url}/feeds/{name}"

    def answer(self, path: str, params: dict[str, str], headers: Mapping[str, str]) -> Response:
        if path.startswith("/feeds/"):
            return self._feed(path.removeprefix("/feeds/"), headers)
        if path == "/v2/everything":
            return self._everything(params, headers)
        return 404, {"Content-Type": HTML_TYPE}, "<html><body><h1>Not Found</h1></body></html>"

    def _feed(self, name: str, headers: Mapping[str, str]) -> Response:
        if name not in self.feeds:
            return 404, {"Content-Type": HTML_TYPE}, "<html><body><h1>Not Found</h1></body></html>"
        body, content_type = self.feeds[name]
        etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'
        if headers.get("if-none-match") == etag:
            return 304, {"ETag": etag}, b""
        return 200, {"Content-Type": content_type, "ETag": etag}, body

    def _everything(self, params: dict[str, str], headers: Mapping[str, str]) -> Response:
        if headers.get("x-api-key") != self.api_key:
            return json_response(401, {
                "status": "error", "code": "apiKeyInvalid",
                "message": "Your API key is invalid or incorrect. Check your key, or go to "
                "https://newsapi.org to create a free API key.",
            })  # fmt: skip
        day = date.fromisoformat(params["from"][:10])
        items = self.newsapi.get(day, [])
        articles = [
            {"source": {"id": None, "name": "Example Wire"}, "author": None, "title": i.title,
             "description": i.summary, "url": i.link, "urlToImage": None,
             "publishedAt": i.published.strftime("%Y-%m-%dT%H:%M:%SZ") if i.published else None,
             "content": None}
            for i in items
        ]  # fmt: skip
        return json_response(200, {"status": "ok", "totalResults": len(articles),
                                   "articles": articles})  # fmt: skip
