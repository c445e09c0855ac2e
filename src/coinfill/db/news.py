"""What ``news_articles`` holds and the writes of the news flow: new articles (each once),
scores by id, the feeds' conditional-GET state, and the per-day counts coverage reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Insert, and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite

from coinfill.db.macro import as_date
from coinfill.db.reads import read_frame
from coinfill.db.schema import news_articles, news_feed_state
from coinfill.news.articles import Article

N = news_articles
BATCH = 500


@dataclass(frozen=True)
class ScoreRow:
    id: int
    score: float | None
    label: str | None
    confidence: float | None
    skipped: str | None


def insert_articles(engine: Engine, articles: Sequence[Article], now: datetime) -> int:
    """Store the articles not stored yet (by canonical-URL hash); return how many were new.

    Stored articles are never rewritten: their score belongs to the text that was scored.
    """
    fresh = {a.url_hash: a for a in articles}
    candidates = list(fresh)
    with engine.begin() as conn:
        for i in range(0, len(candidates), BATCH):
            keys = candidates[i : i + BATCH]
            stored = conn.execute(select(N.c.url_hash).where(N.c.url_hash.in_(keys))).scalars()
            for key in set(stored):
                del fresh[key]
        rows = [{**a.row(), "created_at": now, "updated_at": now} for a in fresh.values()]
        for i in range(0, len(rows), BATCH):
            # A concurrent run may have stored one meanwhile: ignore, never fail or overwrite.
            conn.execute(_insert_ignore(engine), rows[i : i + BATCH])
    return len(fresh)


def _insert_ignore(engine: Engine) -> Insert:
    name = engine.dialect.name
    if name == "postgresql":
        return postgresql.insert(N).on_conflict_do_nothing(index_elements=["url_hash"])
    if name == "sqlite":
        return sqlite.insert(N).on_conflict_do_nothing(index_elements=["url_hash"])
    if name in ("mysql", "mariadb"):
        return mysql.insert(N).prefix_with("IGNORE")
    return insert(N)


def to_score(
    engine: Engine,
    start: datetime | None,
    end: datetime | None,
    model: tuple[str, str],
    *,
    rescore: bool,
) -> pd.DataFrame:
    """Articles in ``[start, end)`` the model should look at: never scored, or left unscored by
    another model or version; with ``rescore`` also those another model or version scored."""
    other = _other_model(model)
    todo = other if rescore else and_(N.c.sentiment_score.is_(None), other)
    query = select(
        N.c.id, N.c.title, N.c.summary, N.c.language, N.c.sentiment_score
    ).where(_window(start, end), todo).order_by(N.c.id)  # fmt: skip
    return read_frame(engine, query)


def count_to_score(
    engine: Engine, start: datetime | None, end: datetime | None, model: tuple[str, str]
) -> tuple[int, int]:
    """How many articles :func:`to_score` would give: (unscored, scored by another model)."""
    query = select(
        func.sum(_flag(N.c.sentiment_score.is_(None))),
        func.sum(_flag(N.c.sentiment_score.is_not(None))),
    ).where(_window(start, end), _other_model(model))
    with engine.connect() as conn:
        unscored, rescorable = conn.execute(query).one()
    return int(unscored or 0), int(rescorable or 0)


def _other_model(model: tuple[str, str]) -> Any:
    return or_(
        N.c.sentiment_model.is_(None),
        N.c.sentiment_model != model[0],
        N.c.sentiment_model_version.is_(None),
        N.c.sentiment_model_version != model[1],
    )


def write_scores(
    engine: Engine, rows: Sequence[ScoreRow], model: tuple[str, str], now: datetime
) -> None:
    statement = (
        update(N)
        .where(N.c.id == bindparam("row_id"))
        .values(
            sentiment_score=bindparam("score"),
            sentiment_label=bindparam("label"),
            sentiment_confidence=bindparam("confidence"),
            sentiment_model=model[0],
            sentiment_model_version=model[1],
            sentiment_skipped=bindparam("skipped"),
            scored_at=now,
            updated_at=now,
        )
    )
    values = [
        {"row_id": r.id, "score": r.score, "label": r.label, "confidence": r.confidence,
         "skipped": r.skipped}
        for r in rows
    ]  # fmt: skip
    with engine.begin() as conn:
        for i in range(0, len(values), BATCH):
            conn.execute(statement, values[i : i + BATCH])


def feed_validators(engine: Engine) -> dict[str, dict[str, str]]:
    """Per feed: the ETag / Last-Modified of its last good fetch, with the URL it was for."""
    s = news_feed_state
    query = select(s.c.feed, s.c.url, s.c.etag, s.c.last_modified)
    with engine.connect() as conn:
        return {
            str(feed): {"url": str(url), "etag": etag or "", "last_modified": modified or ""}
            for feed, url, etag, modified in conn.execute(query)
        }


def save_feed_state(
    engine: Engine, feed: str, url: str, state: Mapping[str, Any], now: datetime
) -> None:
    """``state``: status, message and (after a good fetch) etag / last_modified."""
    s = news_feed_state
    values = {k: state.get(k) for k in ("status", "message")}
    if state.get("status") in ("ok", "not modified"):
        values |= {"etag": state.get("etag"), "last_modified": state.get("last_modified")}
    with engine.begin() as conn:
        changed = conn.execute(
            update(s).where(s.c.feed == feed)
            .values(url=url, fetched_at=now, updated_at=now, **values)
        ).rowcount  # fmt: skip
        if not changed:
            conn.execute(
                insert(s).values(
                    feed=feed, url=url, fetched_at=now, created_at=now, updated_at=now, **values
                )
            )


def feed_days(engine: Engine, feed: str, first: date, stop: date) -> set[date]:
    """Days in ``[first, stop)`` holding at least one article from ``feed``."""
    day = func.date(N.c.published_at)
    query = select(day).where(N.c.feed == feed, _window(_at(first), _at(stop))).group_by(day)
    with engine.connect() as conn:
        return {as_date(d) for (d,) in conn.execute(query)}


def daily_counts(
    engine: Engine, start: datetime | None, end: datetime | None
) -> list[dict[str, Any]]:
    """Per day: articles collected, not scorable (and why not counted), scored, percent."""
    day = func.date(N.c.published_at)
    skipped = func.sum(_flag(N.c.sentiment_skipped.is_not(None)))
    scored = func.sum(_flag(N.c.sentiment_score.is_not(None)))
    query = (
        select(day.label("day"), func.count().label("collected"), skipped, scored)
        .where(_window(start, end), N.c.published_at.is_not(None))
        .group_by(day)
        .order_by(day)
    )
    out = []
    with engine.connect() as conn:
        for d, collected, n_skipped, n_scored in conn.execute(query):
            eligible = int(collected) - int(n_skipped or 0)
            out.append({
                "day": as_date(d).isoformat(), "collected": int(collected),
                "not scorable": int(n_skipped or 0), "scored": int(n_scored or 0),
                "percent": round(100.0 * int(n_scored or 0) / eligible, 1) if eligible else None,
            })  # fmt: skip
    return out


def model_counts(
    engine: Engine, start: datetime | None, end: datetime | None
) -> list[dict[str, Any]]:
    query = (
        select(N.c.sentiment_model, N.c.sentiment_model_version, N.c.sentiment_label,
               func.count())
        .where(_window(start, end), N.c.sentiment_score.is_not(None))
        .group_by(N.c.sentiment_model, N.c.sentiment_model_version, N.c.sentiment_label)
        .order_by(N.c.sentiment_model, N.c.sentiment_model_version, N.c.sentiment_label)
    )  # fmt: skip
    with engine.connect() as conn:
        return [
            {"model": m, "version": v, "label": label, "articles": int(n)}
            for m, v, label, n in conn.execute(query)
        ]


def _window(start: datetime | None, end: datetime | None) -> Any:
    conditions = []
    if start is not None:
        conditions.append(N.c.published_at >= start)
    if end is not None:
        conditions.append(N.c.published_at < end)
    return and_(N.c.published_at.is_not(None), *conditions)


def _flag(condition: Any) -> Any:
    return case((condition, 1), else_=0)


def _at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())
