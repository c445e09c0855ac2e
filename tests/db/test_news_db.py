"""news_articles and news_feed_state on the real databases (SQLite and MariaDB): each article
stored once, exactly the right rows picked for scoring, scores written by id, feed state, the
per-day counts, and score_window with the offline lexicon scorer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from coinfill.db.news import (
    ScoreRow,
    daily_counts,
    feed_days,
    feed_validators,
    insert_articles,
    model_counts,
    save_feed_state,
    to_score,
    write_scores,
)
from coinfill.db.schema import news_articles, news_feed_state
from coinfill.news.articles import Article, Window
from coinfill.news.collect import collect_feed, score_window
from coinfill.news.feeds import Feed
from coinfill.news.lexicon import LexiconScorer
from coinfill.news.matching import AssetMatcher
from coinfill.news.scoring import Score
from coinfill.news.urls import canonical_url, url_hash
from coinfill.sources.feeds import FeedClient

T0 = datetime(2026, 11, 21, 0, 0)
T1, T2 = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
DAY1, DAY2 = datetime(2026, 11, 19, 10), datetime(2026, 11, 20, 10)
MODEL = ("vader-crypto", "1")
OTHER = ("finbert", "7")
DECRYPT = "https://decrypt.co/feed"
SCORE = ("sentiment_score", "sentiment_label", "sentiment_confidence", "sentiment_model",
         "sentiment_model_version", "sentiment_skipped")  # fmt: skip


class NoLimit:
    """A feed client's rate limiter that never waits."""

    def acquire(self, cost: float = 1.0) -> None:
        pass

    def describe(self) -> str:
        return "no limit"


def article(slug: str, title: str = "", summary: str = "", *, language: str = "en",
            published: datetime = DAY1, feed: str = "coindesk",
            symbols: tuple[str, ...] = ()) -> Article:  # fmt: skip
    url = canonical_url(f"https://www.example.com/news/{slug}?utm_source=rss")
    return Article(url, url_hash(url), feed, "Example News", title or f"Bitcoin story {slug}",
                   summary, language, published, symbols)  # fmt: skip


def rows(engine: Engine) -> dict[str, dict[str, Any]]:
    """Stored articles by the slug of their URL."""
    with engine.connect() as conn:
        found = conn.execute(select(news_articles)).mappings().all()
    return {r["url"].rsplit("/", 1)[1]: dict(r) for r in found}


def ids(engine: Engine) -> dict[str, int]:
    return {slug: row["id"] for slug, row in rows(engine).items()}


def store(engine: Engine, *articles: Article) -> dict[str, int]:
    insert_articles(engine, articles, T0)
    return ids(engine)


def pick(row: dict[str, Any], *columns: str) -> tuple[Any, ...]:
    return tuple(row[c] for c in columns)


def slugs(engine: Engine, frame_ids: Sequence[int]) -> set[str]:
    by_id = {v: k for k, v in ids(engine).items()}
    return {by_id[int(i)] for i in frame_ids}


# -- insert_articles ---------------------------------------------------------------------------


def test_insert_articles_stores_each_url_once(engine: Engine) -> None:
    a = article("a", "Bitcoin tops $98K", "Inflows.", symbols=("BTC", "ETH"))
    assert insert_articles(engine, [a, article("b"), a], T0) == 2
    renamed = article("a", "A later headline for the same URL")
    assert insert_articles(engine, [renamed, article("b"), article("c")], T1) == 1
    assert insert_articles(engine, [article("c")], T2) == 0
    stored = rows(engine)
    assert sorted(stored) == ["a", "b", "c"]
    first = stored["a"]
    assert first["title"] == "Bitcoin tops $98K"  # never rewritten
    assert pick(first, "created_at", "updated_at", "url_hash") == (T0, T0, a.url_hash)
    assert first["url"] == "https://www.example.com/news/a"
    assert pick(first, "symbols", "summary", "language") == ("BTC,ETH", "Inflows.", "en")
    assert pick(first, "published_at", "feed", "source") == (DAY1, "coindesk", "Example News")
    assert stored["b"]["symbols"] is None
    assert stored["c"]["created_at"] == T1
    emoji = article("emoji", "🚀 比特币突破10万美元 — Bitcoin’s “moon”", language="zh")
    assert insert_articles(engine, [emoji], T1) == 1
    assert rows(engine)["emoji"]["title"] == "🚀 比特币突破10万美元 — Bitcoin’s “moon”"
    assert to_score(engine, None, None, MODEL, rescore=False)["title"].tolist()[-1] == emoji.title
    assert first["sentiment_score"] is None and first["sentiment_model"] is None


def test_insert_counts_new_articles_across_batches(engine: Engine) -> None:
    """More articles than one existence-check batch (500): the count is exact on a re-run."""
    many = [article(f"n{i}") for i in range(1_234)]
    assert insert_articles(engine, many[:700], T0) == 700
    assert insert_articles(engine, many, T1) == 534
    assert insert_articles(engine, many, T2) == 0
    assert len(rows(engine)) == 1_234


# -- to_score / write_scores -------------------------------------------------------------------


def scored(row_id: int, value: float = 0.5) -> ScoreRow:
    return ScoreRow(row_id, value, "positive", 0.8, None)


def skipped(row_id: int) -> ScoreRow:
    return ScoreRow(row_id, None, None, None, "language es")


def test_to_score_picks_exactly_the_right_rows(engine: Engine) -> None:
    names = ["never", "skipped_other", "skipped_old", "scored_other", "scored_old",
             "scored_now", "skipped_now"]  # fmt: skip
    got = store(
        engine, *(article(n) for n in names), article("early", published=DAY1 - timedelta(days=3))
    )
    write_scores(engine, [skipped(got["skipped_other"]), scored(got["scored_other"])], OTHER, T1)
    old = (MODEL[0], "0")
    write_scores(engine, [skipped(got["skipped_old"]), scored(got["scored_old"])], old, T1)
    write_scores(engine, [scored(got["scored_now"]), skipped(got["skipped_now"])], MODEL, T1)
    start, end = DAY1 - timedelta(days=1), DAY2
    plain = to_score(engine, start, end, MODEL, rescore=False)
    assert slugs(engine, plain["id"]) == {"never", "skipped_other", "skipped_old"}
    assert list(plain["id"]) == sorted(plain["id"])
    again = to_score(engine, start, end, MODEL, rescore=True)
    assert slugs(engine, again["id"]) == set(names[:5])
    assert list(again.columns) == ["id", "title", "summary", "language", "sentiment_score"]
    everything = to_score(engine, None, None, MODEL, rescore=False)
    assert slugs(engine, everything["id"]) == {"never", "skipped_other", "skipped_old", "early"}


def test_write_scores_only_on_given_ids(engine: Engine) -> None:
    got = store(engine, article("x"), article("y"), article("z"))
    negative = ScoreRow(got["x"], -0.42, "negative", 0.7, None)
    write_scores(engine, [negative, skipped(got["y"])], MODEL, T1)
    x, y, z = (rows(engine)[slug] for slug in "xyz")
    assert pick(x, *SCORE) == (-0.42, "negative", 0.7, *MODEL, None)
    assert pick(x, "scored_at", "updated_at", "created_at") == (T1, T1, T0)
    assert pick(y, *SCORE) == (None, None, None, *MODEL, "language es")
    assert pick(z, "sentiment_model", "scored_at", "updated_at") == (None, None, T0)


# -- feed state --------------------------------------------------------------------------------


def test_save_feed_state_insert_then_update(engine: Engine) -> None:
    url = "https://www.coindesk.com/arc/outboundfeeds/rss/"
    modified = "Fri, 20 Nov 2026 10:00:00 GMT"
    ok = {"status": "ok", "message": None, "etag": '"e1"', "last_modified": modified}
    save_feed_state(engine, "coindesk", url, ok, T0)
    save_feed_state(engine, "decrypt", DECRYPT, {"status": "failed", "message": "boom"}, T0)
    assert feed_validators(engine) == {
        "coindesk": {"url": url, "etag": '"e1"', "last_modified": modified},
        "decrypt": {"url": DECRYPT, "etag": "", "last_modified": ""},
    }
    save_feed_state(engine, "coindesk", url, {"status": "failed", "message": "503"}, T1)
    with engine.connect() as conn:
        states = conn.execute(select(news_feed_state)).mappings().all()
    state = dict(next(s for s in states if s["feed"] == "coindesk"))
    assert len(states) == 2
    assert pick(state, "status", "message", "etag", "last_modified") == (
        "failed",
        "503",
        '"e1"',
        modified,
    )
    assert pick(state, "fetched_at", "updated_at", "created_at") == (T1, T1, T0)
    moved = {"status": "not modified", "etag": '"e2"'}
    save_feed_state(engine, "coindesk", url + "?v=2", moved, T2)
    assert feed_validators(engine)["coindesk"] == {
        "url": url + "?v=2",
        "etag": '"e2"',
        "last_modified": "",
    }


def test_304_without_validators_keeps_the_stored_ones(engine: Engine) -> None:
    modified = "Fri, 20 Nov 2026 10:00:00 GMT"
    body = b'<rss version="2.0"><channel><title>T</title></channel></rss>'
    answers = [httpx.Response(200, headers={"Last-Modified": modified}, content=body),
               httpx.Response(304)]  # fmt: skip
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answers.pop(0)

    feed, window, matcher = Feed("inline", DECRYPT), Window(DAY1, None, T0), AssetMatcher({})
    with FeedClient(NoLimit(), transport=httpx.MockTransport(answer)) as client:
        collect_feed(client, engine, feed, window, matcher, set(), None)
        validators = feed_validators(engine)["inline"]
        assert validators["last_modified"] == modified
        result = collect_feed(client, engine, feed, window, matcher, set(), validators)
    assert sent[1].headers["if-modified-since"] == modified
    assert result.warning == "not modified since the last fetch (304)"
    assert feed_validators(engine)["inline"]["last_modified"] == modified


def test_feed_days_and_daily_counts(engine: Engine) -> None:
    got = store(engine, article("d1a"), article("d1b"), article("d1c"), article("d1d"),
                article("d2a", published=DAY2, feed="newsapi"),
                article("d3a", published=datetime(2026, 11, 21, 9), feed="coindesk"))  # fmt: skip
    done = [scored(got["d1a"]), scored(got["d1b"], -0.3), skipped(got["d1c"]), skipped(got["d2a"])]
    write_scores(engine, done, MODEL, T1)
    assert feed_days(engine, "coindesk", date(2026, 11, 18), date(2026, 11, 21)) == {
        date(2026, 11, 19)
    }
    assert feed_days(engine, "coindesk", date(2026, 11, 19), date(2026, 11, 22)) == {
        date(2026, 11, 19),
        date(2026, 11, 21),
    }
    assert feed_days(engine, "newsapi", date(2026, 11, 1), date(2026, 11, 30)) == {
        date(2026, 11, 20)
    }
    assert daily_counts(engine, datetime(2026, 11, 19), datetime(2026, 11, 21)) == [
        {"day": "2026-11-19", "collected": 4, "not scorable": 1, "scored": 2, "percent": 66.7},
        {"day": "2026-11-20", "collected": 1, "not scorable": 1, "scored": 0, "percent": None},
    ]
    assert model_counts(engine, None, None) == [
        {"model": MODEL[0], "version": MODEL[1], "label": "positive", "articles": 2}
    ]


# -- score_window ------------------------------------------------------------------------------

POSITIVE = "Bitcoin surges to a record high as ETF inflows soar"
NEGATIVE = "Ether plunges after hackers drain a bridge, wiping out millions"
SPANISH = "Bitcoin se dispara por encima de los 100.000 dólares"


class NewVersion:
    """The lexicon scorer under another version string: what a lexicon edit looks like."""

    def __init__(self, base: LexiconScorer) -> None:
        self.base, self.name, self.version, self.languages = base, base.name, "new", base.languages

    def score(self, texts: Sequence[str]) -> list[Score]:
        return self.base.score(texts)


@pytest.fixture(scope="module")
def lexicon() -> LexiconScorer:
    return LexiconScorer()


def test_score_window_scores_once(engine: Engine, lexicon: LexiconScorer) -> None:
    store(engine, article("pos", POSITIVE), article("neg", NEGATIVE),
          article("es", SPANISH, language="es"), article("blank", " ", " "))  # fmt: skip
    first = score_window(engine, lexicon, None, None, T1, rescore=False)
    assert (first.candidates, first.scored, first.rescored, first.kept_old) == (4, 2, 0, 0)
    assert first.not_scorable == {"language es": 1, "no text": 1}
    stored = rows(engine)
    expected = lexicon.score([POSITIVE, NEGATIVE])
    for slug, score in zip(("pos", "neg"), expected, strict=True):
        row = stored[slug]
        assert pick(row, *SCORE) == (
            score.score,
            score.label,
            score.confidence,
            lexicon.name,
            lexicon.version,
            None,
        )
        assert row["scored_at"] == T1
    assert (expected[0].label, expected[1].label) == ("positive", "negative")
    assert pick(stored["es"], "sentiment_skipped", "sentiment_score") == ("language es", None)
    assert stored["blank"]["sentiment_skipped"] == "no text"
    for rescore in (False, True):
        again = score_window(engine, lexicon, None, None, T2, rescore=rescore)
        assert (again.candidates, again.scored, again.not_scorable) == (0, 0, {})
    assert {r["updated_at"] for r in rows(engine).values()} == {T1}


def test_rescore_new_version_only_touches_the_other_version(
    engine: Engine, lexicon: LexiconScorer
) -> None:
    store(engine, article("pos", POSITIVE), article("neg", NEGATIVE),
          article("es", SPANISH, language="es"), article("done", POSITIVE))  # fmt: skip
    new = NewVersion(lexicon)
    score_window(engine, lexicon, None, None, T1, rescore=False)
    write_scores(engine, [scored(ids(engine)["done"], 0.99)], (new.name, new.version), T1)
    result = score_window(engine, new, None, None, T2, rescore=True)
    assert (result.candidates, result.scored, result.rescored) == (3, 2, 2)
    assert result.not_scorable == {"language es": 1}
    stored = rows(engine)
    for slug in ("pos", "neg", "es"):
        assert stored[slug]["sentiment_model_version"] == "new"
        assert (stored[slug]["scored_at"], stored[slug]["updated_at"]) == (T2, T2)
    done = stored["done"]
    assert (done["updated_at"], done["scored_at"], done["sentiment_score"]) == (T1, T1, 0.99)


def test_unreadable_article_keeps_another_models_score(
    engine: Engine, lexicon: LexiconScorer
) -> None:
    got = store(engine, article("es", SPANISH, language="es"))
    write_scores(engine, [ScoreRow(got["es"], 0.7, "positive", 0.9, None)], OTHER, T1)
    assert score_window(engine, lexicon, None, None, T2, rescore=False).candidates == 0
    result = score_window(engine, lexicon, None, None, T2, rescore=True)
    assert (result.candidates, result.scored, result.kept_old, result.not_scorable) == (1, 0, 1, {})
    row = rows(engine)["es"]
    assert pick(row, *SCORE) == (0.7, "positive", 0.9, *OTHER, None)
    assert row["updated_at"] == T1
