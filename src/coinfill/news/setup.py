"""What a news run is set up with: its scorer, the NewsAPI key (if any), and its plan."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Engine

from coinfill.backfill import Window
from coinfill.db.news import count_to_score, feed_days
from coinfill.news.collect import NEWSAPI
from coinfill.news.feeds import Feed
from coinfill.news.plan import NewsPlan, feeds_in_reach, newsapi_days
from coinfill.news.scoring import Scorer, make_scorer
from coinfill.secrets import optional_secret
from coinfill.settings import Settings


def run_scorer(settings: Settings) -> Scorer:
    return make_scorer(
        settings.sentiment_scorer,
        model_path=settings.sentiment_model_path,
        model_name=settings.sentiment_model_name,
        languages=settings.sentiment_model_languages,
        batch_size=settings.sentiment_batch_size,
    )


def newsapi_key(settings: Settings) -> str | None:
    return optional_secret(
        block=settings.newsapi_key_block,
        credential=(settings.credentials_block, "newsapi_key"),
        env=settings.newsapi_key,
    )


def plan_news(
    settings: Settings,
    engine: Engine,
    window: Window,
    chosen: list[Feed],
    scorer: Scorer,
    now: datetime,
) -> NewsPlan:
    model = (scorer.name, scorer.version)
    reachable, feed_note = feeds_in_reach(chosen, window.end, now)
    days: list[date] = []
    notes = [feed_note] if feed_note else []
    if newsapi_key(settings):
        first = (window.start or now).date()
        have = feed_days(engine, NEWSAPI, first, now.date())
        days, api_note = newsapi_days(
            window.start, window.end, now, settings.newsapi_history_days, have
        )
        notes += [api_note] if api_note else []
    else:
        notes.append("NewsAPI.org not used: no key (COINFILL_NEWSAPI_KEY)")
    unscored, rescorable = count_to_score(engine, window.start, window.end, model)
    return NewsPlan(reachable, days, unscored, rescorable, model, notes)
