"""The news flow's steps: read a feed or a NewsAPI day into ``news_articles``, score a window.

Each step returns a result row for the run's table — what came in, what was new, what was
skipped and why — and raises nothing for a source that failed: the error is in the row, the
other sources go on, and the flow ends Failed naming it (DESIGN §5).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd
from sqlalchemy import Engine

from coinfill.db.news import (
    ScoreRow,
    insert_articles,
    save_feed_state,
    to_score,
    write_scores,
)
from coinfill.errors import ConfigurationError
from coinfill.news.articles import REMOVED, Batch, Window, make_article, scoring_text
from coinfill.news.feeds import Feed, FeedError, parse_feed
from coinfill.news.matching import AssetMatcher
from coinfill.news.scoring import Scorer, skip_reason
from coinfill.sources.feeds import FeedClient
from coinfill.sources.http import SourceError
from coinfill.sources.newsapi import NewsApiClient
from coinfill.tables import markdown_table

NEWSAPI = "newsapi"


@dataclass
class SourceResult:
    source: str
    what: str
    entries: int = 0
    new: int = 0
    stored_before: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    warning: str | None = None
    error: str | None = None

    def as_row(self) -> dict[str, object]:
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
        return {
            "source": self.source, "what": self.what, "entries": self.entries,
            "new": self.new, "already stored": self.stored_before, "skipped": skipped or "",
            "seconds": round(self.seconds, 2),
            "note": self.error or self.warning or "",
        }  # fmt: skip


@dataclass
class ScoreResult:
    model: str
    version: str
    candidates: int = 0
    scored: int = 0
    rescored: int = 0
    not_scorable: dict[str, int] = field(default_factory=dict)
    kept_old: int = 0  # scored by another model, which this one cannot read: score kept
    seconds: float = 0.0

    def as_row(self) -> dict[str, object]:
        return {
            "model": self.model, "version": self.version, "looked at": self.candidates,
            "scored": self.scored, "of which re-scored": self.rescored,
            "not scorable": ", ".join(f"{n} {w}" for w, n in sorted(self.not_scorable.items())),
            "old score kept": self.kept_old, "seconds": round(self.seconds, 2),
        }  # fmt: skip


@dataclass
class NewsRunSummary:
    window: str
    dry_run: bool
    plan: str
    results: list[SourceResult] = field(default_factory=list)
    scoring: ScoreResult | None = None
    notes: list[str] = field(default_factory=list)
    coverage: str = ""

    @property
    def failed(self) -> list[SourceResult]:
        return [r for r in self.results if r.error]

    def markdown(self) -> str:
        dry = " (dry run: nothing written)" if self.dry_run else ""
        lines = [f"### news-sentiment {self.window}{dry}", "", self.plan, ""]
        if self.results:
            lines += [*markdown_table([r.as_row() for r in self.results]), ""]
        if self.scoring:
            lines += [*markdown_table([self.scoring.as_row()]), ""]
        lines += [f"- {note}" for note in self.notes]
        if self.coverage:
            lines += ["", self.coverage]
        return "\n".join(lines)


def collect_feed(
    client: FeedClient,
    engine: Engine,
    feed: Feed,
    window: Window,
    matcher: AssetMatcher,
    seen: set[str],
    validators: Mapping[str, str] | None,
) -> SourceResult:
    result = SourceResult(feed.name, feed.url)
    began = time.monotonic()
    usable = validators if validators and validators.get("url") == feed.url else None
    state: dict[str, object] = {}
    try:
        response = client.fetch(feed.url, usable)
        state = {"etag": response.etag, "last_modified": response.last_modified}
        if response.not_modified:
            # A 304 need not repeat its validators: keep the ones that earned it.
            state = {
                "etag": response.etag or (usable or {}).get("etag") or None,
                "last_modified": response.last_modified
                or (usable or {}).get("last_modified")
                or None,
            }
            state |= {"status": "not modified", "message": None}
            result.warning = "not modified since the last fetch (304)"
        else:
            batch = parse_feed(
                feed, response.body, window, matcher, seen, content_type=response.content_type
            )
            _store(engine, batch, result, window.now)
            status = "malformed" if batch.warning else "ok"
            state |= {"status": status, "message": batch.warning}
            if batch.warning:
                # A broken body's validators would make the next GET a 304 for the same break.
                state |= {"etag": None, "last_modified": None}
    except (SourceError, FeedError) as exc:
        result.error = str(exc)
        state = {"status": "failed", "message": str(exc)[:2000]}
    result.seconds = time.monotonic() - began
    save_feed_state(engine, feed.name, feed.url, state, window.now)
    return result


def collect_newsapi_day(
    client: NewsApiClient,
    engine: Engine,
    day: date,
    window: Window,
    matcher: AssetMatcher,
    seen: set[str],
) -> SourceResult:
    result = SourceResult(NEWSAPI, day.isoformat())
    began = time.monotonic()
    try:
        found = client.day(day)
    except ConfigurationError:
        raise  # a refused key refuses every day alike: the flow stops and says so
    except SourceError as exc:
        result.error = str(exc)
    else:
        batch = Batch()
        for item in found.items:
            if item.removed:
                batch.entries += 1
                batch.skip(REMOVED)
                continue
            make_article(
                batch, window, matcher, feed=NEWSAPI, source=item.source, link=item.url,
                title=item.title, summary=item.description, published=item.published,
                declared_language=client.language, seen=seen,
            )  # fmt: skip
        batch.warning = f"not every result was read: {found.truncated}" if found.truncated else None
        if found.error is not None:  # a later page failed: the pages read before it are stored
            result.error = f"partial: {found.pages} page(s) read, then {found.error}"
        _store(engine, batch, result, window.now)
    result.seconds = time.monotonic() - began
    return result


def _store(engine: Engine, batch: Batch, result: SourceResult, now: datetime) -> None:
    result.entries = batch.entries
    result.skipped = dict(batch.skipped)
    result.warning = batch.warning
    result.new = insert_articles(engine, batch.articles, now)
    result.stored_before = len(batch.articles) - result.new


def score_window(
    engine: Engine,
    scorer: Scorer,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    *,
    rescore: bool,
    batch_size: int = 256,
) -> ScoreResult:
    """Score what the model has not looked at in the window (``rescore``: also what another
    model or version scored). An article the model cannot read is marked, not scored; an old
    score is never replaced by nothing."""
    model = (scorer.name, scorer.version)
    result = ScoreResult(*model)
    began = time.monotonic()
    todo = to_score(engine, start, end, model, rescore=rescore)
    result.candidates = len(todo)
    for i in range(0, len(todo), batch_size):
        part = todo.iloc[i : i + batch_size]
        rows: list[ScoreRow] = []
        readable: list[tuple[int, str, bool]] = []
        columns = ("id", "title", "summary", "language", "sentiment_score")
        for row_id, title, summary, language, old in zip(*(part[c] for c in columns), strict=True):
            text = _text(title, summary)
            had_score = bool(pd.notna(old))
            reason = skip_reason(scorer, language if isinstance(language, str) else None, text)
            if reason is None:
                readable.append((int(row_id), text, had_score))
            elif had_score:
                result.kept_old += 1
            else:
                result.not_scorable[reason] = result.not_scorable.get(reason, 0) + 1
                rows.append(ScoreRow(int(row_id), None, None, None, reason))
        scores = scorer.score([text for _, text, _ in readable])
        for (row_id, _, had_score), score in zip(readable, scores, strict=True):
            rows.append(ScoreRow(row_id, score.score, score.label, score.confidence, None))
            result.scored += 1
            result.rescored += had_score
        write_scores(engine, rows, model, now)
    result.seconds = time.monotonic() - began
    return result


def _text(title: object, summary: object) -> str:
    return scoring_text(
        title if isinstance(title, str) else "", summary if isinstance(summary, str) else ""
    )
