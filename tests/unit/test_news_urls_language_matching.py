"""The news collector's pure parts: canonical article URLs and their hash, the language of a
text, and which registered assets a headline names (coinfill.news.urls/language/matching)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from coinfill.news.language import detect, primary
from coinfill.news.matching import AssetMatcher
from coinfill.news.urls import BadUrlError, canonical_url, url_hash

ASSETS_CSV = Path(__file__).parents[2] / "src" / "coinfill" / "data" / "default_assets.csv"


@pytest.fixture(scope="module")
def matcher() -> AssetMatcher:
    with ASSETS_CSV.open(encoding="utf-8") as handle:
        return AssetMatcher({row["symbol"]: row["name"] for row in csv.DictReader(handle)})


# -- canonical_url / url_hash ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (
            "https://www.coindesk.com/markets/2026/11/20/story/"
            "?utm_medium=referral&utm_source=rss&utm_campaign=headlines",
            "https://www.coindesk.com/markets/2026/11/20/story",
        ),
        (
            "https://cointelegraph.com/news/xrp-price?utm_source=twitter&fbclid=abc123",
            "https://cointelegraph.com/news/xrp-price",
        ),
        ("https://example.com/a?gclid=XYZ&id=7", "https://example.com/a?id=7"),
        ("https://www.TheBlock.co/post/378990/aptos?ref=homepage#comments",
         "https://www.theblock.co/post/378990/aptos"),
        # other parameters are kept, sorted by name; tracking names match case-insensitively
        ("https://example.com/a?z=1&b=2&UTM_Source=x&a=3", "https://example.com/a?a=3&b=2&z=1"),
        ("https://finance.yahoo.com/news/x.html?guccounter=1&p=2",
         "https://finance.yahoo.com/news/x.html?p=2"),
        ("https://example.com/a?page=2&ref_src=twsrc", "https://example.com/a?page=2"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("HTTPS://EXAMPLE.COM/Path/Case", "https://example.com/Path/Case"),  # path keeps case
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com/a", "https://example.com/a"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("https://example.com", "https://example.com/"),
    ],
)  # fmt: skip
def test_canonical_url(raw: str, canonical: str) -> None:
    assert canonical_url(raw) == canonical


def test_canonical_url_is_idempotent() -> None:
    once = canonical_url("http://WWW.Example.com:80/a/b/?utm_source=x&b=2&a=1#frag")
    assert once == "https://www.example.com/a/b?a=1&b=2"
    assert canonical_url(once) == once


@pytest.mark.parametrize(
    "bad",
    ["ftp://example.com/file", "mailto:news@example.com", "/relative/path", "example.com/a",
     "javascript:alert(1)", "", "https://", "tag:theblock.co,2026:post/379214"],
)  # fmt: skip
def test_non_http_urls_raise(bad: str) -> None:
    with pytest.raises(BadUrlError):
        canonical_url(bad)


def test_bad_url_error_is_a_value_error_naming_the_url() -> None:
    with pytest.raises(ValueError, match=r"ftp://example\.com/x"):
        canonical_url("ftp://example.com/x")


def test_url_hash_is_sha256_hex_and_ignores_www() -> None:
    bare = url_hash(canonical_url("https://coindesk.com/markets/story"))
    www = url_hash(canonical_url("http://www.coindesk.com/markets/story/?utm_source=rss"))
    assert bare == www
    assert len(bare) == 64 and set(bare) <= set("0123456789abcdef")
    assert bare != url_hash(canonical_url("https://coindesk.com/markets/other"))
    assert bare != url_hash(canonical_url("https://coindesk.com/markets/story?id=1"))
    # only a leading "www." is dropped, not other subdomains
    assert url_hash("https://news.example.com/a") != url_hash("https://example.com/a")


def test_same_story_with_different_tracking_hashes_equal() -> None:
    rss = "https://cointelegraph.com/news/xrp?utm_source=rss_feed&utm_medium=rss"
    social = "https://cointelegraph.com/news/xrp?utm_source=twitter&fbclid=abc123#top"
    assert url_hash(canonical_url(rss)) == url_hash(canonical_url(social))


# -- language.detect ----------------------------------------------------------------------------

ENGLISH = "Bitcoin surges as ETF inflows hit a record for the third week"
SPANISH = "Bitcoin se dispara por encima de los 100.000 dólares por primera vez"
FRENCH = "Le bitcoin dépasse les 100 000 dollars pour la première fois dans l'année"
GERMAN = "Der Bitcoin steigt auf ein neues Rekordhoch und die Anleger sind nicht überrascht"
CHINESE = "比特币突破10万美元，BTC 24小时涨幅超4%"
JAPANESE = "ビットコインが10万ドルを突破、ETFに資金流入"
RUSSIAN = "Биткоин превысил 100 000 долларов впервые с сентября"
EN_HEADLINE_IN_ES_FEED = "Tether launches USDT savings product for Latin American users"


@pytest.mark.parametrize(
    ("text", "declared", "expected"),
    [
        (ENGLISH, None, "en"), (ENGLISH, "es", "en"), (ENGLISH, "en-US", "en"),
        (SPANISH, None, "es"), (SPANISH, "es", "es"), (SPANISH, "en", "es"),
        (FRENCH, None, "fr"), (FRENCH, "fr-FR", "fr"),
        (GERMAN, None, "de"), (GERMAN, "en", "de"),
        (CHINESE, None, "zh"), (CHINESE, "zh-cn", "zh"), (CHINESE, "en", "zh"),
        (JAPANESE, None, "ja"), (JAPANESE, "en", "ja"),
        (RUSSIAN, None, "ru"), (RUSSIAN, "ru-RU", "ru"),
        (EN_HEADLINE_IN_ES_FEED, "es", "en"),
    ],
)  # fmt: skip
def test_detect(text: str, declared: str | None, expected: str) -> None:
    assert detect(text, declared) == expected


@pytest.mark.parametrize(
    ("text", "declared", "expected"),
    [
        ("Bitcoin Surges 10%", None, "en"),  # no function words: English by default
        ("Bitcoin Surges 10%", "es", "es"),  # … or the declared language
        ("Bitcoin", "pt_BR", "pt"),
        ("", None, "und"),
        ("", "es", "es"),
        ("1234 % 5.6", "fr", "fr"),
        ("比特币", "zh-CN", "zh"),
    ],
)
def test_detect_without_evidence_keeps_declared(
    text: str, declared: str | None, expected: str
) -> None:
    assert detect(text, declared) == expected


def test_primary_language_tag() -> None:
    assert primary("en-US") == "en"
    assert primary("zh_CN") == "zh"
    assert primary(" ES ") == "es"
    assert primary("") is None
    assert primary(None) is None


# -- AssetMatcher --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "symbols"),
    [
        ("bitcoin's rally stalls", ["BTC"]),
        ("Bitcoin’s rally stalls", ["BTC"]),
        ("BITCOIN HITS RECORD", ["BTC"]),
        ("Solana's SOL outperforms", ["SOL"]),
        ("Ethereum and Cardano slip", ["ADA", "ETH"]),
        ("BTC rises", ["BTC"]),
        ("btc rises", []),  # a ticker counts in capitals only
        ("Sol and Eth rise", []),
        ("$sol and $ETH lead", ["ETH", "SOL"]),  # cashtags in any case
        ("$BTC.", ["BTC"]),
        ("price$BTC", []),  # not a cashtag inside a word
        ("BTC/ETH ratio", ["BTC", "ETH"]),
        ("ETHA inflows", []),  # a fund ticker, not ETH
        ("NOT ONE of them", []),  # tickers that are English words
        ("$NOT and $ONE rally", ["NOT", "ONE"]),  # … count as cashtags
        ("the flow of funds", []),
        ("Gas Fee Cut to 0.05 Gwei", []),
        ("BNB Chain Validators Approve Gas Fee Cut", ["BNB"]),
        ("near the end of the year", []),
        ("NEAR Protocol upgrade", ["NEAR"]),
        ("near protocol upgrade", ["NEAR"]),
        ("Optimism rallies", []),
        ("ATH for stocks", []),
        ("Notcoin listing", ["NOT"]),
        ("Bitcoin Cash rallies", ["BCH"]),  # longest name wins
        ("Wrapped Bitcoin supply", ["WBTC"]),
        ("Ethereum Classic fork", ["ETC"]),
        ("Lido Staked Ether inflows", ["STETH"]),
        ("Bitcoin Cash and bitcoin", ["BCH", "BTC"]),
        ("ETH净流出", ["ETH"]),  # CJK letters are not word characters here
        ("分析师：BTC净流入、ETH净流出", ["BTC", "ETH"]),
        ("比特币突破10万美元", ["BTC"]),
        ("以太坊基金会", ["ETH"]),
        ("Ether rises", ["ETH"]),
        ("ether rises", ["ETH"]),
        ("Ripple's XRP jumps", ["XRP"]),
        ("Circle's USDC supply", ["USDC"]),
        ("Tokenized Treasuries on XRP Ledger", ["XRP"]),
        ("Crypto Markets Today: DOGE, ADA Lead as Bitcoin Holds $95K", ["ADA", "BTC", "DOGE"]),
    ],
)
def test_match(matcher: AssetMatcher, text: str, symbols: list[str]) -> None:
    assert matcher.match(text) == symbols


def test_match_over_several_texts_and_none(matcher: AssetMatcher) -> None:
    assert matcher.match("Dogecoin jumps", None, "", "Avalanche's AVAX lags") == ["AVAX", "DOGE"]
    assert matcher.match(None) == []


def test_matcher_from_a_small_registry() -> None:
    small = AssetMatcher({"BTC": "Bitcoin", "ONE": "Harmony", "OP": "Optimism", "S": "Sonic"})
    assert small.match("Bitcoin and Harmony, OP and S") == ["BTC"]
    assert small.match("$op $s $one") == ["ONE", "OP", "S"]
    assert small.match("$DOGE") == []  # not registered


def test_name_in_capitals_matches_title_case(matcher: AssetMatcher) -> None:
    assert matcher.match("Tether Mints $1B USDT on Tron") == ["TRX", "USDT"]


@pytest.mark.parametrize(
    ("text", "declared", "expected"),
    [
        ("Análisis de precio de Bitcoin", "es", "es"),
        ("Preço de bitcoin hoje: análise técnica de BTC", "pt", "pt"),
        ("Bitcoin : prévisions de prix de BTC", "fr", "fr"),
        ("Binance De-Lists Five Tokens", "en", "en"),
    ],
)
def test_de_is_not_only_dutch(text: str, declared: str, expected: str) -> None:
    assert detect(text, declared) == expected


@pytest.mark.parametrize(
    ("text", "symbols"),
    [
        ("Coinbase Wrapped BTC supply tops $5B", ["CBBTC"]),
        ("Jito Staked SOL yields climb", ["JITOSOL"]),
        ("Rocket Pool ETH depegs", ["RETH"]),
    ],
)
def test_longest_name_wins_over_a_ticker_inside_it(
    matcher: AssetMatcher, text: str, symbols: list[str]
) -> None:
    assert matcher.match(text) == symbols
