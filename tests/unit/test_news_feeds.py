"""parse_feed on every recorded feed in tests/fixtures/news (RSS 2.0, RSS 1.0/RDF, Atom, a
truncated feed, an HTML challenge page): what is kept, why the rest is not, and how each kept
article is normalised (canonical URL, UTC time, language, assets, plain text)."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pytest

from coinfill.news.articles import (
    BAD_LINK,
    DUPLICATE,
    FUTURE,
    NO_LINK,
    OUTSIDE,
    UNDATED,
    Article,
    Batch,
    Window,
)
from coinfill.news.feeds import Feed, FeedError, parse_feed
from coinfill.news.matching import AssetMatcher

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "news"
START, END = datetime(2026, 11, 18), datetime(2026, 11, 21)
WINDOW = Window(start=START, end=END, now=END)


@pytest.fixture(scope="module")
def matcher() -> AssetMatcher:
    path = ROOT / "src" / "coinfill" / "data" / "default_assets.csv"
    with path.open(encoding="utf-8") as handle:
        return AssetMatcher({row["symbol"]: row["name"] for row in csv.DictReader(handle)})


def parse(
    name: str,
    matcher: AssetMatcher,
    seen: set[str] | None = None,
    window: Window = WINDOW,
    body: bytes | None = None,
) -> Batch:
    feed = Feed(name.split(".")[0], f"https://feeds.example/{name}")
    data = (FIXTURES / name).read_bytes() if body is None else body
    return parse_feed(feed, data, window, matcher, set() if seen is None else seen)


def by_url(batch: Batch) -> dict[str, Article]:
    return {a.url: a for a in batch.articles}


# -- counts per feed ---------------------------------------------------------------------------

COUNTS = [
    # file, entries, kept, skipped
    ("coindesk_rss.xml", 8, 8, {}),
    ("cointelegraph_rss.xml", 6, 5, {DUPLICATE: 1}),
    ("decrypt_wordpress.xml", 5, 4, {UNDATED: 1}),
    ("theblock_atom.xml", 5, 5, {}),
    ("rdf_rss10.xml", 3, 3, {}),  # dc:date comes as updated_parsed only
    ("spanish_rss.xml", 5, 5, {}),
    ("chinese_rss.xml", 3, 3, {}),
    ("malformed_truncated.xml", 3, 3, {}),
    ("empty_rss.xml", 0, 0, {}),
    ("future_and_bad_dates.xml", 4, 1, {FUTURE: 1, UNDATED: 1, OUTSIDE: 1}),
]


def test_every_fixture_is_covered() -> None:
    files = {p.name for p in FIXTURES.iterdir() if p.suffix in (".xml", ".html")}
    assert files == {row[0] for row in COUNTS} | {"not_a_feed.html"}


@pytest.mark.parametrize(("name", "entries", "kept", "skipped"), COUNTS)
def test_counts(
    matcher: AssetMatcher, name: str, entries: int, kept: int, skipped: dict[str, int]
) -> None:
    batch = parse(name, matcher)
    assert batch.entries == entries
    assert len(batch.articles) == kept
    assert batch.skipped == skipped
    assert batch.entries == kept + sum(skipped.values())
    if name != "malformed_truncated.xml":
        assert batch.warning is None


# -- the articles: canonical URL, UTC time, language, assets -------------------------------------

ITEMS = [
    # file, canonical URL, published (UTC), language, symbols
    ("coindesk_rss.xml",
     "https://www.coindesk.com/markets/2026/11/20/bitcoin-tops-98k-as-spot-etf-inflows-hit-three-week-high",
     datetime(2026, 11, 20, 14, 32, 7), "en", ("BTC",)),
    ("coindesk_rss.xml",
     "https://www.coindesk.com/policy/2026/11/20/feds-waller-says-december-rate-cut-is-not-a-done-deal",
     datetime(2026, 11, 20, 9, 47, 12), "en", ()),
    ("coindesk_rss.xml",
     "https://www.coindesk.com/tech/2026/11/18/bnb-chain-validators-approve-gas-fee-cut-to-005-gwei",
     datetime(2026, 11, 18, 8, 30), "en", ("BNB",)),
    ("cointelegraph_rss.xml",
     "https://cointelegraph.com/news/xrp-price-eyes-3-dollars-futures-open-interest-9b",
     datetime(2026, 11, 19, 8, 44, 12), "en", ("XRP",)),
    ("cointelegraph_rss.xml", "https://cointelegraph.com/news/polkadot-dot-rallies-12-jam-testnet-live",
     datetime(2026, 11, 19, 15, 7, 19), "en", ("DOT",)),
    ("decrypt_wordpress.xml", "https://decrypt.co/351301/arbitrum-dao-votes-stake-7500-eth-treasury",
     datetime(2026, 11, 18, 20, 12), "en", ("ARB", "ETH")),
    ("decrypt_wordpress.xml",
     "https://decrypt.co/351122/hackers-drain-11-million-cross-chain-bridge-swap-ether",
     datetime(2026, 11, 18, 3, 41, 27), "en", ("ETH", "USDC")),
    ("theblock_atom.xml",  # 21:47:10-05:00 on Nov 19
     "https://www.theblock.co/post/379102/ethereum-foundation-sells-1500-eth-twap-order",
     datetime(2026, 11, 20, 2, 47, 10), "en", ("DAI", "ETH")),
    ("theblock_atom.xml",  # only <updated>
     "https://www.theblock.co/post/378995/avalanche-visa-stablecoin-settlement-pilot",
     datetime(2026, 11, 19, 17), "en", ("AVAX",)),
    ("theblock_atom.xml",  # mixed-case host, ?ref=homepage#comments
     "https://www.theblock.co/post/378990/aptos-sui-record-stablecoin-inflows",
     datetime(2026, 11, 19, 13, 20), "en", ("APT", "SUI", "USDC")),
    ("rdf_rss10.xml",
     "https://news.slashdot.org/story/26/11/18/1525204/monero-community-weighs-fcmp-hard-fork-date",
     datetime(2026, 11, 18, 15, 25), "en", ("XMR",)),
    ("spanish_rss.xml",
     "https://www.criptonoticias.com/mercados/bitcoin-se-dispara-encima-100000-dolares",
     datetime(2026, 11, 20, 17, 45), "es", ("BTC",)),
    ("spanish_rss.xml",  # -0300
     "https://www.criptonoticias.com/adopcion/argentina-uso-stablecoins-crece-40-solana-gana-terreno",
     datetime(2026, 11, 18, 16, 20), "es", ("SOL",)),
    ("spanish_rss.xml",  # English title, Spanish summary: the text scored is mostly Spanish
     "https://www.criptonoticias.com/comunidad/tether-launches-usdt-savings-product-latin-america",
     datetime(2026, 11, 19, 14), "es", ("USDT",)),
    ("chinese_rss.xml", "https://www.jinse.cn/news/blockchain/3711509.html",
     datetime(2026, 11, 19, 2, 30), "zh", ("ETH",)),  # 10:30 +0800
    ("chinese_rss.xml", "https://www.jinse.cn/news/blockchain/3710377.html",
     datetime(2026, 11, 18, 8, 5), "zh", ("BTC", "ETH")),
    ("malformed_truncated.xml",
     "https://cryptoslate.com/ripples-xrp-jumps-japanese-bank-consortium-xrpl-pilot",
     datetime(2026, 11, 19, 23, 5, 51), "en", ("XRP",)),
    ("future_and_bad_dates.xml", "https://bitcoinist.com/litecoin-hash-rate-all-time-high-ltc-120",
     datetime(2026, 11, 19, 11, 11, 11), "en", ("LTC",)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "url", "published", "language", "symbols"), ITEMS)
def test_items(
    matcher: AssetMatcher,
    name: str,
    url: str,
    published: datetime,
    language: str,
    symbols: tuple[str, ...],
) -> None:
    article = by_url(parse(name, matcher))[url]
    assert article.published_at == published
    assert article.published_at.tzinfo is None
    assert article.language == language
    assert article.symbols == symbols
    assert article.feed == name.split(".")[0]


def test_tracking_removed_and_duplicate_keeps_the_first(matcher: AssetMatcher) -> None:
    coindesk = parse("coindesk_rss.xml", matcher).articles
    assert all("?" not in a.url and "//www.coindesk.com/" in a.url for a in coindesk)
    assert len({a.url_hash for a in coindesk}) == 8
    assert {a.source for a in coindesk} == {
        "CoinDesk: Bitcoin, Ethereum, Crypto News and Price Data"
    }
    xrp = [a for a in parse("cointelegraph_rss.xml", matcher).articles if "xrp-price" in a.url]
    assert [a.title for a in xrp] == ["XRP price eyes $3 as futures open interest climbs to $9B"]


# -- text: markup stripped, entities decoded ----------------------------------------------------


def find(batch: Batch, fragment: str) -> Article:
    (found,) = [a for a in batch.articles if fragment in a.url]
    return found


def test_html_stripped_and_entities_decoded(matcher: AssetMatcher) -> None:
    block = parse("theblock_atom.xml", matcher)
    assert find(block, "/378701/").title == (
        "Chainlink’s CCIP goes live with Swift for tokenized fund transfers; LINK rises 4%"
    )
    assert "foundation’s treasury" in find(block, "/379102/").summary
    decrypt = parse("decrypt_wordpress.xml", matcher)
    shib = find(decrypt, "/351640/")
    assert shib.summary.endswith("The meme coin’s price hardly noticed. […]")
    cointelegraph = parse("cointelegraph_rss.xml", matcher)
    for article in [*cointelegraph.articles, *decrypt.articles, *block.articles]:
        for text in (article.title, article.summary):
            assert "<" not in text and "&#" not in text and "&amp;" not in text
            assert text == text.strip() and "  " not in text
    first = cointelegraph.articles[0]
    assert first.title == "Bitcoin miners sell 18,000 BTC in November as hashprice slumps"
    assert first.summary.startswith("Public Bitcoin miners have offloaded more than 18,000 BTC")


# -- broken and empty bodies -------------------------------------------------------------------


def test_truncated_feed_keeps_recovered_entries_with_a_warning(matcher: AssetMatcher) -> None:
    batch = parse("malformed_truncated.xml", matcher)
    assert [a.symbols for a in batch.articles] == [("BTC",), ("HYPE",), ("XRP",)]
    assert batch.warning is not None
    assert batch.warning.startswith("malformed feed, kept the 3 entries recovered: ")
    assert "unclosed CDATA section" in batch.warning
    assert batch.articles[2].summary == ""  # the third entry lost its description


def test_html_page_raises_naming_the_feed(matcher: AssetMatcher) -> None:
    with pytest.raises(FeedError) as caught:
        parse("not_a_feed.html", matcher)
    message = str(caught.value)
    assert "feed 'not_a_feed' (https://feeds.example/not_a_feed.html)" in message
    assert "HTML page" in message
    assert "Just a moment" not in message  # the page itself is not repeated


@pytest.mark.parametrize(
    ("body", "expected"),
    [(b"", "the body is empty"), (b"  \n\t ", "the body is empty"),
     (b"<?xml version='1.0'?><config><a>1</a></config>", "no RSS or Atom entries")],
)  # fmt: skip
def test_empty_or_no_feed_raises_naming_the_feed(
    matcher: AssetMatcher, body: bytes, expected: str
) -> None:
    with pytest.raises(FeedError, match=rf"^feed 'coindesk_rss' \(https://\S+\): {expected}"):
        parse("coindesk_rss.xml", matcher, body=body)


def test_empty_rss_is_no_error(matcher: AssetMatcher) -> None:
    batch = parse("empty_rss.xml", matcher)
    assert (batch.articles, batch.skipped, batch.entries, batch.warning) == ([], {}, 0, None)


def test_declared_xml_content_type_is_no_warning(matcher: AssetMatcher) -> None:
    body = (FIXTURES / "spanish_rss.xml").read_bytes()
    feed = Feed("es", "https://feeds.example/es")
    for content_type in ("application/rss+xml; charset=UTF-8", "text/xml; charset=utf-8"):
        batch = parse_feed(feed, body, WINDOW, matcher, set(), content_type=content_type)
        assert (len(batch.articles), batch.warning) == (5, None)


@pytest.mark.parametrize("name", ["empty_rss.xml", "coindesk_rss.xml"])
@pytest.mark.parametrize("content_type", ["text/xml", "application/octet-stream"])
def test_well_formed_feed_with_loose_content_type(
    matcher: AssetMatcher, name: str, content_type: str
) -> None:
    feed = Feed("f", "https://feeds.example/f")
    body = (FIXTURES / name).read_bytes()
    batch = parse_feed(feed, body, WINDOW, matcher, set(), content_type=content_type)
    assert batch.warning is None


# -- links, window edges, duplicates across feeds -----------------------------------------------


def rss(*items: tuple[str | None, str]) -> bytes:
    """An RSS 2.0 body: one item per (link, pubDate)."""
    body = "".join(
        f"<item><title>Bitcoin item {n}</title>"
        + (f"<link>{link}</link>" if link is not None else "")
        + f"<pubDate>{date}</pubDate></item>"
        for n, (link, date) in enumerate(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Inline</title>{body}</channel></rss>'.encode()


def test_no_link_and_bad_links_are_counted(matcher: AssetMatcher) -> None:
    day = "Thu, 19 Nov 2026 10:00:00 +0000"
    body = rss((None, day), ("ftp://example.com/x", day), ("/news/relative", day),
               ("https://example.com/good?utm_source=rss", day))  # fmt: skip
    batch = parse("inline.xml", matcher, body=body)
    assert batch.skipped == {NO_LINK: 1, BAD_LINK: 2}
    assert [a.url for a in batch.articles] == ["https://example.com/good"]


def test_window_edges_and_clock_skew(matcher: AssetMatcher) -> None:
    body = rss(
        ("https://example.com/at-start", "Wed, 18 Nov 2026 00:00:00 +0000"),
        ("https://example.com/before", "Tue, 17 Nov 2026 23:59:59 +0000"),
        ("https://example.com/skew", "Sat, 21 Nov 2026 00:09:00 +0000"),
        ("https://example.com/future", "Sat, 21 Nov 2026 00:11:00 +0000"),
    )
    closed = parse("inline.xml", matcher, body=body)
    assert [a.url for a in closed.articles] == ["https://example.com/at-start"]
    assert closed.skipped == {OUTSIDE: 2, FUTURE: 1}  # end is exclusive
    open_ended = parse("inline.xml", matcher, body=body, window=Window(START, None, END))
    assert {a.url: a.published_at for a in open_ended.articles} == {
        "https://example.com/at-start": START,
        "https://example.com/skew": END,  # a few minutes ahead: now, never the future
    }
    assert open_ended.skipped == {OUTSIDE: 1, FUTURE: 1}


def test_duplicate_across_feeds_with_shared_seen(matcher: AssetMatcher) -> None:
    seen: set[str] = set()
    first = parse("cointelegraph_rss.xml", matcher, seen)
    assert len(seen) == 5
    again = "http://www.cointelegraph.com/news/polkadot-dot-rallies-12-jam-testnet-live/?fbclid=zz"
    body = rss(
        (again, "Thu, 19 Nov 2026 15:07:19 GMT"),
        ("https://example.com/new", "Thu, 19 Nov 2026 15:00:00 GMT"),
    )
    second = parse("other.xml", matcher, seen, body=body)
    assert second.skipped == {DUPLICATE: 1}
    assert [a.url for a in second.articles] == ["https://example.com/new"]
    assert len(seen) == 6
    assert len(first.articles) == 5
    replay = parse("cointelegraph_rss.xml", matcher, seen)
    assert (replay.articles, replay.skipped) == ([], {DUPLICATE: 6})
