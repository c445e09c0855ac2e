"""What a news run will do, decided before any request: feeds, NewsAPI days, articles to score.

Live feeds only serve their latest items (a few days at most), so a window that ended before
``FEED_HORIZON`` skips them (a recorded ``file://`` feed is read whatever the window). NewsAPI
serves ``history_days`` back, and a day already holding NewsAPI articles is not asked again
once it is over (the last ``REFRESH_DAYS`` are: they were still filling when last read).
Scoring needs no request: it is planned from the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from coinfill.backfill import day_span
from coinfill.errors import InputError
from coinfill.news.feeds import Feed
from coinfill.sources.feeds import is_file_url

FEED_HORIZON = timedelta(days=7)
REFRESH_DAYS = 2


@dataclass
class NewsPlan:
    feeds: list[Feed]
    newsapi_days: list[date]
    to_score: int
    to_rescore: int
    model: tuple[str, str]
    notes: list[str] = field(default_factory=list)

    def markdown(self, window: str, rescore: bool) -> str:
        newsapi = (
            f"{len(self.newsapi_days)} day(s), {self.newsapi_days[0]} … {self.newsapi_days[-1]}"
            if self.newsapi_days
            else "none"
        )
        lines = [
            f"**news-sentiment plan, window {window}**",
            "",
            f"- feeds: {', '.join(f.name for f in self.feeds) or 'none'}",
            f"- NewsAPI days: {newsapi}",
            f"- model: {self.model[0]} {self.model[1]}",
            f"- stored articles to score: {self.to_score} (and what this run collects)"
            + (
                f"; to re-score (another model/version scored them): {self.to_rescore}"
                if rescore
                else ""
            ),
        ]
        return "\n".join(lines + [f"- {note}" for note in self.notes])


def choose_feeds(configured: Mapping[str, str], asked: Sequence[str] | None) -> list[Feed]:
    if asked is None:
        return [Feed(name, url) for name, url in configured.items()]
    unknown = [name for name in asked if name not in configured]
    if unknown:
        raise InputError(
            f"unknown feed(s) {', '.join(unknown)}; configured: {', '.join(configured) or 'none'}"
            " (COINFILL_NEWS_FEEDS)"
        )
    return [Feed(name, configured[name]) for name in dict.fromkeys(asked)]


def feeds_in_reach(
    feeds: list[Feed], end: datetime | None, now: datetime
) -> tuple[list[Feed], str | None]:
    """Live feeds serve their latest items only; a recorded one (``file://``) has its past."""
    if end is None or end >= now - FEED_HORIZON:
        return feeds, None
    kept = [f for f in feeds if is_file_url(f.url)]
    skipped = [f.name for f in feeds if not is_file_url(f.url)]
    note = (
        f"live feeds skipped ({', '.join(skipped)}): they serve their latest items only, and "
        f"the window ended before {(now - FEED_HORIZON).date()}"
        if skipped
        else None
    )
    return kept, note


def newsapi_days(
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    history_days: int,
    have: Set[date],
) -> tuple[list[date], str | None]:
    """Days to ask NewsAPI for, and a note when the window reaches past the plan's history."""
    today = now.date()
    oldest = today - timedelta(days=history_days - 1)
    first_day, end_day = day_span(start, end)
    first = max(first_day or oldest, oldest)
    stop = min(end_day or today + timedelta(days=1), today + timedelta(days=1))
    days = []
    day = first
    while day < stop:
        if day not in have or day > today - timedelta(days=REFRESH_DAYS):
            days.append(day)
        day += timedelta(days=1)
    note = None
    if start is None or start.date() < oldest:
        note = (
            f"NewsAPI serves {history_days} days back (COINFILL_NEWSAPI_HISTORY_DAYS): days "
            f"before {oldest} are not asked"
        )
    return days, note
