"""The news-sentiment flow end to end: a local publisher/NewsAPI imitation, real databases
(SQLite and MariaDB), the Prefect harness, the offline lexicon scorer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from coinfill.db.engine import make_engine
from coinfill.db.migrate import upgrade
from coinfill.errors import BackfillFailedError, ConfigurationError, InputError
from coinfill.news.lexicon import LexiconScorer
from flows.news_sentiment import news_sentiment
from tests.fakes.news_server import ATOM_TYPE, HTML_TYPE, RSS_TYPE, FakeNews, Item, atom, rss
from tests.helpers import run_artifacts, store_prices
from tests.transformer_model import build_model

FIXTURES = Path(__file__).parent.parent / "fixtures" / "news"
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
LEXICON = LexiconScorer()
FINBERT_LABELS = {0: "positive", 1: "negative", 2: "neutral"}  # ProsusAI/finbert's order


def ago(hours: float) -> datetime:
    return (NOW - timedelta(hours=hours)).replace(microsecond=0)


WIRE = [
    Item("Bitcoin surges to a record high as ETF inflows climb", "https://wire.example/btc-record?utm_source=rss", ago(3), "BTC extended its rally."),
    Item("Ether slides 8% after exchange hack drains $40M", "https://wire.example/eth-hack", ago(5), "Hackers drained hot wallets."),
    Item("Solana validators ship client upgrade", "https://wire.example/sol-upgrade", ago(20)),
    # The first story again, shared with other tracking parameters: stored once.
    Item("Bitcoin surges to a record high as ETF inflows climb", "https://WIRE.example/btc-record?fbclid=xyz#top", ago(3)),
    Item("An undated press release about BTC", "https://wire.example/undated", None),
    Item("Bitcoin se dispara por encima de los 100.000 dólares", "https://wire.example/es/btc", ago(6), "El precio de BTC sube con fuerza."),
]  # fmt: skip
DESK = [
    Item("Bitcoin miners capitulate as hashprice plunges", "https://desk.example/miners", ago(10), "BTC miners sold reserves."),
    Item("XRP rallies after court win", "https://desk.example/xrp", ago(30)),
]  # fmt: skip


@pytest.fixture
def news(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNews]:
    feeds = {
        "wire": (rss("Example Wire", WIRE), RSS_TYPE),
        "desk": (atom("Example Desk", DESK), ATOM_TYPE),
    }
    with FakeNews(feeds) as fake:
        monkeypatch.setenv("COINFILL_NEWS_FEEDS", json.dumps({n: fake.feed_url(n) for n in feeds}))
        monkeypatch.setenv("COINFILL_RATE_LIMITER", "local")
        monkeypatch.setenv("COINFILL_NEWS_FEED_REQUESTS_PER_SECOND", "50")
        monkeypatch.setenv("COINFILL_NEWSAPI_REQUESTS_PER_SECOND", "50")
        monkeypatch.delenv("COINFILL_NEWSAPI_KEY", raising=False)
        monkeypatch.delenv("COINFILL_SENTIMENT_MODEL_PATH", raising=False)
        yield fake


@pytest.fixture
def flow_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("COINFILL_DATABASE_URL", db_url)
    engine = make_engine(db_url)
    upgrade(engine)
    return engine


@pytest.fixture
def sqlite_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """For behaviour no database changes (planning, errors, artifacts): SQLite only, to keep
    the suite's time down; storing, dedupe, rescore and the features run on both."""
    url = f"sqlite:///{tmp_path}/news.db"
    monkeypatch.setenv("COINFILL_DATABASE_URL", url)
    engine = make_engine(url)
    upgrade(engine)
    return engine


def articles(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT url, feed, language, symbols, sentiment_score, sentiment_label, "
            "sentiment_model, sentiment_model_version, sentiment_skipped, updated_at "
            "FROM news_articles ORDER BY url"
        )).all()  # fmt: skip
    return pd.DataFrame([tuple(r) for r in rows], columns=[
        "url", "feed", "language", "symbols", "score", "label", "model", "version", "skipped",
        "updated_at",
    ])  # fmt: skip


def test_collects_dedupes_and_scores_every_scorable_article(
    flow_db: Engine, news: FakeNews
) -> None:
    summary = news_sentiment(days=3)

    stored = articles(flow_db).set_index("url")
    assert list(stored.index) == [
        "https://desk.example/miners", "https://desk.example/xrp", "https://wire.example/btc-record",
        "https://wire.example/es/btc", "https://wire.example/eth-hack",
        "https://wire.example/sol-upgrade",
    ]  # fmt: skip
    assert stored.loc["https://wire.example/btc-record", "symbols"] == "BTC"
    assert stored.loc["https://wire.example/eth-hack", "symbols"] == "ETH"
    assert stored.loc["https://desk.example/xrp", "feed"] == "desk"
    # The lexicon scorer's labels for the English stories, its name and version on each.
    english = stored[stored["language"] == "en"]
    assert set(english["model"]) == {LEXICON.name}
    assert set(english["version"]) == {LEXICON.version}
    assert stored.loc["https://wire.example/btc-record", "label"] == "positive"
    assert stored.loc["https://wire.example/eth-hack", "label"] == "negative"
    assert stored.loc["https://desk.example/miners", "label"] == "negative"
    # Spanish: stored, counted, not scored by an English model, not eligible.
    spanish = stored.loc["https://wire.example/es/btc"]
    assert (spanish["language"], spanish["skipped"]) == ("es", "language es")
    assert pd.isna(spanish["score"])
    wire = next(r for r in summary.results if r.source == "wire")
    assert (wire.entries, wire.new) == (6, 4)
    assert wire.skipped == {"undated": 1, "duplicate in the feed": 1}
    assert summary.scoring is not None
    assert (summary.scoring.scored, summary.scoring.not_scorable) == (5, {"language es": 1})
    assert "sentiment_score | 5 | 0 → 5 | – → 100.0 %" in summary.coverage


def test_second_run_changes_nothing_and_asks_conditionally(flow_db: Engine, news: FakeNews) -> None:
    news_sentiment(days=3)
    before = articles(flow_db)
    requests_before = len(news.requests)

    summary = news_sentiment(days=3)

    pd.testing.assert_frame_equal(articles(flow_db), before)
    statuses = [r.status for r in news.requests[requests_before:]]
    assert statuses == [304, 304]  # the feeds' ETags came back as If-None-Match
    assert summary.scoring is not None and summary.scoring.candidates == 0


def test_a_broken_feed_fails_the_run_naming_it_and_keeps_the_rest(
    sqlite_db: Engine, news: FakeNews, monkeypatch: pytest.MonkeyPatch
) -> None:
    news.feeds["challenge"] = ((FIXTURES / "not_a_feed.html").read_bytes(), HTML_TYPE)
    names = {n: news.feed_url(n) for n in ("wire", "challenge", "gone", "desk")}
    monkeypatch.setenv("COINFILL_NEWS_FEEDS", json.dumps(names))

    with pytest.raises(BackfillFailedError) as failure:
        news_sentiment(days=3)

    message = str(failure.value)
    assert "2 source(s) failed" in message
    assert "feed 'challenge'" in message and "HTML page" in message
    assert "gone" in message and "404 Not Found" in message and "<html" not in message
    assert len(articles(sqlite_db)) == 6  # wire and desk were written and scored
    assert articles(sqlite_db)["score"].notna().sum() == 5


def test_dry_run_plans_and_writes_nothing(sqlite_db: Engine, news: FakeNews) -> None:
    summary = news_sentiment(days=3, dry_run=True)

    assert articles(sqlite_db).empty
    assert news.requests == []
    assert "feeds: wire, desk" in summary.plan
    assert f"model: {LEXICON.name} {LEXICON.version}" in summary.plan


def test_unknown_feed_is_named(sqlite_db: Engine, news: FakeNews) -> None:
    with pytest.raises(InputError, match=r"unknown feed.*nope.*configured: wire, desk"):
        news_sentiment(days=3, feeds=["wire", "nope"])
    assert articles(sqlite_db).empty


def test_rescore_replaces_only_other_versions(flow_db: Engine, news: FakeNews) -> None:
    news_sentiment(days=3)
    with flow_db.begin() as conn:
        conn.execute(text(
            "UPDATE news_articles SET sentiment_model_version = 'old', sentiment_score = 0.0, "
            "sentiment_label = 'neutral', updated_at = '2001-01-01 00:00:00' "
            "WHERE url LIKE 'https://desk.example/%'"
        ))  # fmt: skip
    before = articles(flow_db).set_index("url")

    plain = news_sentiment(days=3)
    assert (
        plain.scoring is not None and plain.scoring.scored == 0
    )  # old scores stay without rescore

    summary = news_sentiment(days=3, rescore=True)

    after = articles(flow_db).set_index("url")
    changed = sorted(
        u for u in after.index if after.loc[u, "updated_at"] != before.loc[u, "updated_at"]
    )
    assert changed == ["https://desk.example/miners", "https://desk.example/xrp"]
    assert set(after["version"].dropna()) == {LEXICON.version}
    assert after.loc["https://desk.example/miners", "label"] == "negative"
    assert summary.scoring is not None
    assert (summary.scoring.scored, summary.scoring.rescored) == (2, 2)


def test_newsapi_days_with_a_key_and_a_refused_key(
    sqlite_db: Engine, news: FakeNews, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COINFILL_NEWSAPI_BASE_URL", news.url)
    monkeypatch.setenv("COINFILL_NEWSAPI_KEY", "test-newsapi-key")
    news.newsapi[ago(2).date()] = [
        Item("Dogecoin soars as payments app adds DOGE", "https://api.example/doge", ago(2)),
    ]
    summary = news_sentiment(days=2, feeds=[])

    stored = articles(sqlite_db).set_index("url")
    assert stored.loc["https://api.example/doge", "feed"] == "newsapi"
    assert stored.loc["https://api.example/doge", "symbols"] == "DOGE"
    assert stored.loc["https://api.example/doge", "label"] == "positive"
    asked = [(NOW - timedelta(days=d)).date().isoformat() for d in (2, 1, 0)]
    assert [r.what for r in summary.results] == asked  # the window's days, one request each

    monkeypatch.setenv("COINFILL_NEWSAPI_KEY", "wrong-key-123")
    with pytest.raises(ConfigurationError, match="COINFILL_NEWSAPI_KEY") as refused:
        news_sentiment(days=2, feeds=[])
    assert "wrong-key-123" not in str(refused.value)


def test_the_transformer_scores_when_a_model_path_is_set(
    sqlite_db: Engine, news: FakeNews, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = build_model(tmp_path / "finbert-tiny", FINBERT_LABELS, favoured=1)
    monkeypatch.setenv("COINFILL_SENTIMENT_MODEL_PATH", str(folder))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    news_sentiment(days=3)

    scored = articles(sqlite_db).dropna(subset=["score"])
    assert len(scored) == 5
    assert set(scored["model"]) == {"finbert-tiny"}
    assert set(scored["label"]) == {"negative"}  # the tiny model's bias: FinBERT's label 1


def test_artifacts_and_coverage_history(sqlite_db: Engine, news: FakeNews) -> None:
    state = news_sentiment(days=3, return_state=True)

    keys = {a.key for a in run_artifacts(state.state_details.flow_run_id)}
    assert {"news-sentiment-plan", "news-sentiment-sources", "news-sentiment-days",
            "news-sentiment-summary", "news-sentiment-coverage"} <= keys  # fmt: skip
    with sqlite_db.connect() as conn:
        phases = conn.execute(text(
            "SELECT phase, eligible, non_null FROM coverage_history "
            "WHERE flow_name = 'news-sentiment' AND column_name = 'sentiment_score' ORDER BY phase"
        )).all()  # fmt: skip
    assert [tuple(p) for p in phases] == [("after", 5, 5), ("before", 0, 0)]


def test_feature_table_sentiment_columns_fill(flow_db: Engine, news: FakeNews) -> None:
    from flows.ml_features import ml_features

    first = (NOW - timedelta(hours=30)).replace(minute=0, second=0)
    hours = [first + timedelta(hours=i) for i in range(30)]
    store_prices(flow_db, pd.DataFrame([
        {"symbol": "BTC", "timestamp": int(t.replace(tzinfo=UTC).timestamp() * 1000),
         "timestamp_iso": t, "current_price": 90_000.0 + i, "high_24h": 91_000.0,
         "low_24h": 89_000.0, "volume_usd_24h": 1e9, "data_source": "test"}
        for i, t in enumerate(hours)
    ]))  # fmt: skip
    news_sentiment(days=3)

    ml_features(days=2, symbols=["BTC"], enforce_coverage=False)

    with flow_db.connect() as conn:
        last = conn.execute(text(
            "SELECT sentiment_count_24h, sentiment_mean_24h, sentiment_positive_share_24h "
            "FROM ml_features_materialized WHERE symbol = 'BTC' ORDER BY timestamp_iso DESC"
        )).first()  # fmt: skip
    assert last is not None
    # In the 24 h before the last bar: the record-high story (+), the miners story (−) and the
    # Spanish one (counted as a mention; not scored, so not in the averages).
    count, mean, positive = last
    assert count == 3
    assert positive == pytest.approx(0.5)
    assert mean is not None and -1.0 < mean < 1.0
