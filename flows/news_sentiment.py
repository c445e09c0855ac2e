"""Flow ``news-sentiment``: news articles and their sentiment into ``news_articles``.

    prefect deployment run 'news-sentiment/backfill' --param days=30
    coinfill run sentiment --days 30                # the same flow, in-process
    coinfill run sentiment --days 365 --rescore     # re-score what another model version scored

Reads the configured RSS/Atom feeds (and NewsAPI.org days when a key is set), stores each
article once by canonical URL with the assets it mentions, then scores every article in the
window the current model has not looked at: the transformer model from a local path when one is
configured, else the offline lexicon scorer. Coverage = scored ÷ scorable articles, before and
after; articles the model cannot read (another language, no text) are counted, not eligible.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Engine

from coinfill.backfill import Window, plan_window
from coinfill.db.assets import add_missing_defaults, count_assets, list_assets
from coinfill.db.news import (
    daily_counts,
    feed_validators,
    model_counts,
)
from coinfill.errors import ConfigurationError
from coinfill.news.articles import Window as Accept
from coinfill.news.collect import (
    NEWSAPI,
    NewsRunSummary,
    ScoreResult,
    SourceResult,
    collect_feed,
    collect_newsapi_day,
    score_window,
)
from coinfill.news.matching import AssetMatcher
from coinfill.news.plan import NewsPlan, choose_feeds
from coinfill.news.setup import newsapi_key, plan_news, run_scorer
from coinfill.settings import Settings, load_settings
from coinfill.sources.feeds import FeedClient
from coinfill.sources.newsapi import NewsApiClient
from coinfill.sources.ratelimit import make_limiter
from coinfill.tables import markdown_table
from coinfill.validation.report import SuiteReport, render
from expectations.contracts import validate_overrides
from flows.chunks import run_step
from flows.coverage import conclude, measure_coverage
from flows.lifecycle import interruptible
from flows.naming import run_namer
from flows.opening import open_database
from flows.refresh import refresh_features_after

FLOW_NAME = "news-sentiment"
SUITE = "sentiment"


@task(name="news-source", task_run_name="{label}", cache_policy=NO_CACHE)
def run_source(label: str, step: Callable[[], SourceResult]) -> SourceResult:
    return step()


@task(name="score-articles", task_run_name="score-{model}", cache_policy=NO_CACHE)
def run_scoring(model: str, step: Callable[[], ScoreResult]) -> ScoreResult:
    return step()


@flow(name=FLOW_NAME, flow_run_name=run_namer("news"), validate_parameters=True)
@interruptible
def news_sentiment(
    days: int | None = None,
    start: date | None = None,
    end: date | None = None,
    dry_run: bool = False,
    rescore: bool = False,
    feeds: list[str] | None = None,
    enforce_coverage: bool = True,
    coverage_targets: dict[str, float] | None = None,
    refresh_features: bool = False,
) -> NewsRunSummary:
    """Collect and score news for ``[start, end)`` or the last ``days`` (0 = all history).

    Without any of them it runs the scheduled window (``COINFILL_NEWS_SCHEDULED_DAYS``).
    ``rescore`` re-scores articles another model or version scored (the backfill a model
    upgrade needs); ``feeds`` picks configured feeds by name; ``dry_run`` plans only.
    """
    logger = get_run_logger()
    settings = load_settings()
    targets = {**settings.coverage_targets, **(coverage_targets or {})}
    validate_overrides(targets)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    window = plan_window(days, start, end, now=now, default_days=settings.news_scheduled_days)
    chosen = choose_feeds(settings.news_feeds, feeds)
    scorer = run_scorer(settings)
    engine = open_database(settings)
    summary = NewsRunSummary(window.label, dry_run, "")
    if count_assets(engine) == 0 and not dry_run:
        added = add_missing_defaults(engine)
        summary.notes.append(f"the registry was empty: loaded the {added} bundled assets")
    plan = plan_news(settings, engine, window, chosen, scorer, now)
    summary.plan = plan.markdown(window.label, rescore)
    create_markdown_artifact(summary.plan, key="news-sentiment-plan")
    logger.info("plan:\n%s", summary.plan)

    def coverage(phase: str) -> SuiteReport:
        return measure_coverage(engine, SUITE, phase, window.start, window.end, None, now, targets)

    before = coverage("before")
    if not dry_run:
        summary.results = _collect(settings, engine, plan, window, now)
        step = partial(score_window, engine, scorer, window.start, window.end, now, rescore=rescore)
        summary.scoring = run_scoring(scorer.name, step)
    after = before if dry_run else coverage("after")
    summary.coverage = render(after, before)
    _publish(engine, summary, window)
    failed = summary.failed
    message = (
        f"{len(failed)} source(s) failed (the others were written): "
        + "; ".join(f"{r.source} {r.what}: {r.error}" for r in failed)
        if failed
        else None
    )
    refresh_features_after(refresh_features, dry_run, now)
    conclude(
        engine, FLOW_NAME, before, after,
        dry_run=dry_run, enforce_coverage=enforce_coverage, failed=message,
    )  # fmt: skip
    return summary


def _collect(
    settings: Settings, engine: Engine, plan: NewsPlan, window: Window, now: datetime
) -> list[SourceResult]:
    assets = list_assets(engine, include_inactive=True)
    matcher = AssetMatcher(dict(zip(assets["symbol"], assets["name"], strict=True)))
    accept = Accept(window.start, window.end, now)
    seen: set[str] = set()
    results: list[SourceResult] = []
    validators = feed_validators(engine)
    limiter = make_limiter(
        "news-feeds", settings.news_feed_requests_per_second, settings.rate_limiter
    )
    with FeedClient(limiter, timeout=settings.news_timeout_seconds) as client:
        for feed in plan.feeds:
            step = partial(collect_feed, client, engine, feed, accept, matcher, seen,
                           validators.get(feed.name))  # fmt: skip
            results.append(_step(f"feed-{feed.name}", feed.name, step))
    key = newsapi_key(settings)
    if key and plan.newsapi_days:
        limiter = make_limiter(
            "newsapi", settings.newsapi_requests_per_second, settings.rate_limiter
        )
        with NewsApiClient(
            key, settings.newsapi_base_url, limiter, query=settings.newsapi_query,
            max_pages=settings.newsapi_max_pages, timeout=settings.news_timeout_seconds,
        ) as api:  # fmt: skip
            for day in plan.newsapi_days:
                step = partial(collect_newsapi_day, api, engine, day, accept, matcher, seen)
                results.append(_step(f"newsapi-{day}", NEWSAPI, step))
    return results


def _step(label: str, source: str, step: Callable[[], SourceResult]) -> SourceResult:
    def failed(message: str, error: BaseException | None) -> SourceResult:
        if isinstance(error, ConfigurationError):
            raise error  # a refused NewsAPI key refuses every day alike (the feeds ran first)
        return SourceResult(source, label, error=message)

    return run_step(run_source, label, step, failed)


def _publish(engine: Engine, summary: NewsRunSummary, window: Window) -> None:
    if summary.results:
        create_table_artifact(
            [r.as_row() for r in summary.results],
            key="news-sentiment-sources",
            description=f"per feed and NewsAPI day, window {summary.window}",
        )
    per_day = daily_counts(engine, window.start, window.end)
    if per_day:
        create_table_artifact(
            per_day, key="news-sentiment-days", description="articles collected and scored per day"
        )
        summary.notes.append(
            "articles per day:\n\n" + "\n".join(markdown_table(per_day[-14:]))
            + ("\n\n(last 14 days shown; the table artifact has all)" if len(per_day) > 14 else "")
        )  # fmt: skip
    models = model_counts(engine, window.start, window.end)
    if models:
        summary.notes.append("scores per model and label:\n\n" + "\n".join(markdown_table(models)))
    create_markdown_artifact(summary.markdown(), key="news-sentiment-summary")
