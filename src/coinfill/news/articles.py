"""Articles as coinfill stores them, and the counts of what a source gave that was not kept."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html.parser import HTMLParser

from coinfill.news.language import detect
from coinfill.news.matching import AssetMatcher
from coinfill.news.urls import BadUrlError, canonical_url, url_hash

SUMMARY_CHARS = 1_000
TITLE_CHARS = 500
# A publication time this far ahead of our clock is a broken feed, not clock skew.
FUTURE_TOLERANCE = timedelta(minutes=10)

# Why an entry was not kept; each is counted per feed and shown in the run's table.
NO_LINK = "no link"
BAD_LINK = "bad link"
UNDATED = "undated"
FUTURE = "dated in the future"
OUTSIDE = "outside the window"
DUPLICATE = "duplicate in the feed"
REMOVED = "removed by the source"


@dataclass(frozen=True)
class Article:
    url: str
    url_hash: str
    feed: str
    source: str
    title: str
    summary: str
    language: str
    published_at: datetime
    symbols: tuple[str, ...]

    def row(self) -> dict[str, object]:
        return {
            "url_hash": self.url_hash,
            "url": self.url,
            "feed": self.feed,
            "source": self.source[:128],
            "title": self.title,
            "summary": self.summary,
            "language": self.language,
            "published_at": self.published_at,
            "symbols": ",".join(self.symbols)[:512] or None,
        }


def scoring_text(title: str, summary: str) -> str:
    """What a scorer reads: the headline, then the summary (when it says more)."""
    if summary and summary != title:
        return f"{title}. {summary}" if title else summary
    return title


@dataclass
class Batch:
    """What one feed or API request gave: the articles kept and why the others were not."""

    articles: list[Article] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    entries: int = 0
    warning: str | None = None

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


@dataclass(frozen=True)
class Window:
    """Publication times kept: ``[start, end)``, ``None`` = open; ``now`` bounds the future."""

    start: datetime | None
    end: datetime | None
    now: datetime


def make_article(
    batch: Batch,
    window: Window,
    matcher: AssetMatcher,
    *,
    feed: str,
    source: str,
    link: str | None,
    title: str | None,
    summary: str | None,
    published: datetime | None,
    declared_language: str | None,
    seen: set[str],
) -> None:
    """Normalise one entry into ``batch``, or count why it cannot be kept."""
    batch.entries += 1
    if not link or not link.strip():
        batch.skip(NO_LINK)
        return
    try:
        url = canonical_url(link)
    except BadUrlError:
        batch.skip(BAD_LINK)
        return
    if published is None:
        batch.skip(UNDATED)
        return
    if published > window.now + FUTURE_TOLERANCE:
        batch.skip(FUTURE)
        return
    published = min(published, window.now)  # seconds of clock skew: now, not the future
    if (window.start is not None and published < window.start) or (
        window.end is not None and published >= window.end
    ):
        batch.skip(OUTSIDE)
        return
    key = url_hash(url)
    if key in seen:
        batch.skip(DUPLICATE)
        return
    seen.add(key)
    clean_title = plain_text(title)[:TITLE_CHARS]
    clean_summary = plain_text(summary)[:SUMMARY_CHARS]
    batch.articles.append(
        Article(
            url=url,
            url_hash=key,
            feed=feed,
            source=source,
            title=clean_title,
            summary=clean_summary,
            language=detect(f"{clean_title} {clean_summary}", declared_language),
            published_at=published.replace(microsecond=0),
            symbols=tuple(matcher.match(clean_title, clean_summary)),
        )
    )


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in ("p", "br", "div", "li"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


_SPACE = re.compile(r"\s+")


def plain_text(value: str | None) -> str:
    """Feed text without markup, entities decoded, whitespace collapsed."""
    if not value:
        return ""
    if "<" in value:
        parser = _Text()
        parser.feed(value)
        parser.close()
        value = "".join(parser.parts)
    return _SPACE.sub(" ", html.unescape(value)).strip()
