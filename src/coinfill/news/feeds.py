"""RSS 0.9x/1.0/2.0 and Atom feeds, parsed by ``feedparser`` into :class:`Article` batches.

feedparser copes with what real feeds do — CDATA, HTML descriptions, RFC 822 and RFC 3339
dates in any offset (it returns UTC), undeclared namespaces, a wrong charset. Its ``bozo``
flag says the XML was broken (or only that the server's content type or charset was odd, which
is ignored): entries it still recovered are kept and the feed is reported
with a warning; a body with no feed in it at all (an HTML challenge page, a truncated
download before the first entry) is an error naming the feed.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from coinfill.errors import CoinfillError
from coinfill.news.articles import Batch, Window, make_article
from coinfill.news.matching import AssetMatcher


class FeedError(CoinfillError):
    """A feed's body held no feed; the message names the feed and what came instead."""


@dataclass(frozen=True)
class Feed:
    name: str
    url: str


def parse_feed(
    feed: Feed,
    body: bytes,
    window: Window,
    matcher: AssetMatcher,
    seen: set[str],
    *,
    content_type: str | None = None,
) -> Batch:
    headers = {"content-type": content_type} if content_type else None
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False)
    channel: Mapping[str, Any] = parsed.get("feed", {})
    entries = parsed.get("entries", [])
    if not entries and not _is_feed(parsed):
        raise FeedError(f"feed '{feed.name}' ({feed.url}): {_what_came(parsed, body)}")
    batch = Batch()
    if _broken(parsed):
        reason = str(parsed.get("bozo_exception", "malformed"))[:200]
        batch.warning = f"malformed feed, kept the {len(entries)} entries recovered: {reason}"
    source = str(channel.get("title") or feed.name).strip()
    declared = channel.get("language")
    for entry in entries:
        make_article(
            batch,
            window,
            matcher,
            feed=feed.name,
            source=source,
            link=_link(entry),
            title=entry.get("title"),
            summary=entry.get("summary") or _content(entry),
            published=_published(entry),
            declared_language=_entry_language(entry) or declared,
            seen=seen,
        )
    return batch


def _is_feed(parsed: Mapping[str, Any]) -> bool:
    """A channel with no items is a feed; a page that happened to parse is not."""
    version = parsed.get("version") or ""
    return bool(version) and not _broken(parsed)


def _broken(parsed: Mapping[str, Any]) -> bool:
    """feedparser's ``bozo`` also flags a sound feed served as ``text/xml`` without a charset or
    as ``application/octet-stream`` (its "things nobody cares about"): only broken XML counts."""
    if not parsed.get("bozo"):
        return False
    return not isinstance(parsed.get("bozo_exception"), feedparser.ThingsNobodyCaresAboutButMe)


def _what_came(parsed: Mapping[str, Any], body: bytes) -> str:
    head = body[:400].decode("utf-8", "replace").lower()
    if "<html" in head or "<!doctype html" in head:
        return "the body is an HTML page, not RSS or Atom (a login or bot-challenge page?)"
    if not body.strip():
        return "the body is empty"
    problem = parsed.get("bozo_exception")
    return f"no RSS or Atom entries could be read ({problem or 'not a feed'})"


def _link(entry: Mapping[str, Any]) -> str | None:
    # FeedBurner keeps the publisher's own URL aside; Atom may list several links.
    original = entry.get("feedburner_origlink")
    if original:
        return str(original)
    if entry.get("link"):
        return str(entry["link"])
    for link in entry.get("links", []):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return str(link["href"])
    guid = str(entry.get("id") or "")
    return guid if guid.startswith(("http://", "https://")) else None


def _content(entry: Mapping[str, Any]) -> str | None:
    contents = entry.get("content") or []
    return str(contents[0].get("value")) if contents else None


def _published(entry: Mapping[str, Any]) -> datetime | None:
    """First publication (``published``), else the last update; feedparser gives UTC."""
    present = entry.keys()  # not .get: feedparser maps a missing "updated" to "published"
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry[key] if key in present else None
        if isinstance(value, time.struct_time):
            return datetime.fromtimestamp(calendar.timegm(value), UTC).replace(tzinfo=None)
    return None


def _entry_language(entry: Mapping[str, Any]) -> str | None:
    for key in ("title_detail", "summary_detail"):
        detail = entry.get(key) or {}
        if detail.get("language"):
            return str(detail["language"])
    return None
