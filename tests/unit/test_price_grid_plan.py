"""The bar grid and the gap-driven price plan: pure logic, checked against brute force."""

from __future__ import annotations

import itertools
import math
import random

import pandas as pd
import pytest

from coinfill.errors import InputError
from coinfill.prices.grid import (
    DAY_MS,
    align_down,
    align_up,
    bars_between,
    gaps,
    interval_ms,
    last_closed,
    merge_close,
)
from coinfill.prices.plan import AssetSource, GridStats, SymbolPlan, plan_all, plan_symbol
from coinfill.sources.binance import KLINES_WEIGHT, PAGE_BARS

H = 3_600_000
WARMUP_BARS = 23  # hourly: the 23 bars before a range's first bar complete its 24 hours


def ms(moment: str) -> int:
    return int(pd.Timestamp(moment, tz="UTC").value // 1_000_000)


NOW = ms("2026-03-10 10:30")  # the 10:00 bar has closed, the 11:00 one is open
BTC = AssetSource("BTC", "BTCUSDT")
XMR = AssetSource("XMR", None, "monero")


def grid_points(ranges: tuple[tuple[int, int], ...] | list[tuple[int, int]], step: int) -> set[int]:
    return {t for a, b in ranges for t in range(align_up(a, step), b, step)}


def hourly(start: str, end: str) -> list[int]:
    return list(range(ms(start), ms(end), H))


# -- grid ------------------------------------------------------------------------------------------


def test_interval_lengths_and_refused_intervals() -> None:
    assert interval_ms("1h") == H and interval_ms("15m") == H // 4 and interval_ms("1d") == DAY_MS
    with pytest.raises(InputError, match=r"'1w' is not offered"):
        interval_ms("1w")


def test_alignment_and_the_newest_closed_bar() -> None:
    assert (align_up(H, H), align_up(H + 1, H), align_up(0, H)) == (H, 2 * H, 0)
    assert (align_down(2 * H - 1, H), align_down(2 * H, H)) == (H, 2 * H)
    assert last_closed(NOW, H) == ms("2026-03-10 10:00")
    assert last_closed(ms("2026-03-10 10:00"), H) == ms("2026-03-10 10:00")  # closed right now
    assert last_closed(NOW, DAY_MS) == ms("2026-03-10")


def test_bars_between_counts_grid_points_of_a_half_open_window() -> None:
    step = 7
    for start in range(0, 40):
        for end in range(0, 50):
            brute = sum(1 for t in range(0, 100, step) if start <= t < end)
            assert bars_between(start, end, step) == brute, (start, end)


def test_gaps_at_both_ends_and_inside() -> None:
    stored = [3 * H, 4 * H]
    assert gaps(stored, 0, 8 * H, H) == [(0, 3 * H), (5 * H, 8 * H)]  # leading and trailing
    assert gaps([0, H, 4 * H, 5 * H], 0, 6 * H, H) == [(2 * H, 4 * H)]  # interior hole
    assert gaps(None, H // 2, 3 * H, H) == [(H, 3 * H)]  # an unaligned start rounds up
    assert gaps([-H, 0, H, 2 * H, 9 * H], 0, 3 * H, H) == []  # times outside are ignored


def test_gaps_end_is_exclusive_and_may_fall_inside_a_bar() -> None:
    full = [0, H, 2 * H, 3 * H, 4 * H, 5 * H]
    assert gaps(full, 0, 6 * H, H) == []
    assert gaps(full[:-1], 0, 6 * H, H) == [(5 * H, 6 * H)]
    assert gaps(full, 0, 5 * H, H) == []  # the 5h bar lies at the exclusive end
    assert gaps(full[:5], 0, 5 * H + H // 2, H) == [(5 * H, 6 * H)]  # 5h is inside the window
    assert gaps(full, 0, 5 * H + H // 2, H) == []


def test_gaps_match_brute_force_on_random_stored_sets() -> None:
    rng = random.Random(7)
    step = 10
    for _ in range(300):
        start, end = rng.randrange(0, 200), rng.randrange(0, 400)
        stored = sorted(rng.sample(range(0, 400, step), rng.randrange(0, 40)))
        holes = gaps(stored, start, end, step)
        wanted = {t for t in range(0, 400, step) if start <= t < end} - set(stored)
        assert grid_points(holes, step) == wanted
        assert all(a < b for a, b in holes)
        assert all(b1 < a2 for (_, b1), (a2, _) in itertools.pairwise(holes))


def test_merge_close_joins_only_ranges_closer_than_the_limit() -> None:
    ranges = [(20, 22), (0, 2), (5, 7)]
    assert merge_close(ranges, 3) == [(0, 2), (5, 7), (20, 22)]  # 5 - 2 = 3 is not closer
    assert merge_close(ranges, 4) == [(0, 7), (20, 22)]
    assert merge_close(ranges, 14) == [(0, 22)]
    assert merge_close([(0, 10), (2, 5)], 1) == [(0, 10)]  # a contained range keeps the end
    assert merge_close([], 5) == []


# -- plan_symbol -----------------------------------------------------------------------------------


def plan(
    asset: AssetSource = BTC,
    stored: GridStats | None = None,
    start: int | None = None,
    end: int | None = None,
    interval: str = "1h",
    now: int = NOW,
) -> SymbolPlan:
    return plan_symbol(
        asset, stored or GridStats(), start, end, interval_ms(interval), interval, now
    )


def test_empty_window_fetches_everything_with_a_day_of_warm_up() -> None:
    start, end = ms("2026-03-01"), ms("2026-03-05")
    p = plan(start=start, end=end)
    assert (p.source, p.source_id, p.span) == ("binance", "BTCUSDT", (start, end))
    assert (p.expected, p.present, p.missing) == (96, 0, 96)
    assert p.ranges == ((start, end),)
    # open times: the 24 hours before the first close, up to the last bar's open
    assert p.fetch_ranges == ((start - DAY_MS, end - H),)
    assert p.requests == 1


@pytest.mark.parametrize(
    ("bars", "requests"),
    [(PAGE_BARS - WARMUP_BARS, 1), (PAGE_BARS - WARMUP_BARS + 1, 2), (1416, 2), (3000, 4)],
)
def test_requests_are_pages_of_the_bars_including_warm_up(bars: int, requests: int) -> None:
    start = ms("2025-01-01")
    p = plan(start=start, end=start + bars * H)
    assert p.expected == bars
    assert p.requests == requests == math.ceil((bars + WARMUP_BARS) / PAGE_BARS)


def test_partly_stored_window_fetches_only_its_far_apart_edges() -> None:
    start, end = ms("2025-01-01"), ms("2025-04-01")  # 90 days
    first, last = ms("2025-01-02"), ms("2025-03-30 23:00")
    stored = GridStats(count=(last - first) // H + 1, first=first, last=last)
    p = plan(stored=stored, start=start, end=end)
    assert (p.expected, p.present, p.missing) == (2160, 2112, 48)
    assert p.ranges == ((start, first), (last + H, end))
    assert p.fetch_ranges == ((start - DAY_MS, first - H), (last + H - DAY_MS, end - H))
    assert p.requests == 2  # each edge: 24 bars + 23 of warm-up, one page


def test_holes_close_together_share_a_range_and_far_ones_do_not() -> None:
    start, end = ms("2025-01-01"), ms("2025-04-01")
    holes = {*hourly("2025-01-05 00:00", "2025-01-05 05:00"), ms("2025-01-05 10:00")}
    holes |= set(hourly("2025-03-20 00:00", "2025-03-20 03:00"))
    times = tuple(t for t in range(start, end, H) if t not in holes)
    p = plan(stored=GridStats(len(times), times[0], times[-1], times), start=start, end=end)
    assert (p.expected, p.present, p.missing) == (2160, 2160 - 9, 9)
    assert p.ranges == (
        (ms("2025-01-05 00:00"), ms("2025-01-05 11:00")),  # 4 stored bars fetched again
        (ms("2025-03-20 00:00"), ms("2025-03-20 03:00")),
    )
    assert holes <= grid_points(p.ranges, H)
    assert p.requests == 2


def test_coin_listed_inside_the_window_is_not_missing_bars_before_its_listing() -> None:
    listed = AssetSource("NEW", "NEWUSDT", history_start_ms=ms("2026-03-03 05:00"))
    p = plan(listed, start=ms("2026-03-01"), end=ms("2026-03-05"))
    assert p.span == (ms("2026-03-03 05:00"), ms("2026-03-05"))
    assert p.expected == 19 + 24
    assert p.ranges == ((ms("2026-03-03 05:00"), ms("2026-03-05")),)
    unaligned = AssetSource("NEW", "NEWUSDT", history_start_ms=ms("2026-03-03 05:30"))
    assert plan(unaligned, start=ms("2026-03-01"), end=ms("2026-03-05")).expected == 18 + 24


def test_coingecko_is_held_to_its_free_year_and_says_so() -> None:
    p = plan(XMR, start=NOW - 400 * DAY_MS)
    floor = ms("2025-03-11 11:00")  # 364 days back, aligned up: inside the free tier
    assert p.span == (floor, ms("2026-03-10 11:00"))
    assert p.expected == 364 * 24
    assert p.note is not None and "365 days" in p.note
    assert p.fetch_ranges == ((floor - DAY_MS, ms("2026-03-10 10:00")),)
    assert p.requests == math.ceil((364 * 24 + WARMUP_BARS) / (89 * 24))  # 89-day hourly spans
    inside = plan(XMR, start=NOW - 30 * DAY_MS)
    assert inside.note is None and inside.expected == bars_between(NOW - 30 * DAY_MS, NOW, H)
    assert plan(XMR).note is None  # an open start is not a complaint


def test_coingecko_daily_bars_need_no_warm_up() -> None:
    p = plan(XMR, start=NOW - 400 * DAY_MS, interval="1d")
    assert p.span == (ms("2025-03-12"), ms("2026-03-11"))
    assert p.expected == 364
    assert p.fetch_ranges == ((ms("2025-03-11"), ms("2026-03-10")),)
    assert p.requests == 1


def test_coingecko_joins_holes_less_than_a_day_apart() -> None:
    start, end = ms("2026-03-01"), ms("2026-03-08")
    holes = {ms("2026-03-02 00:00"), ms("2026-03-02 10:00"), ms("2026-03-04 00:00")}
    times = tuple(t for t in range(start, end, H) if t not in holes)
    p = plan(XMR, GridStats(len(times), times[0], times[-1], times), start, end)
    assert p.ranges == (
        (ms("2026-03-02 00:00"), ms("2026-03-02 11:00")),
        (ms("2026-03-04 00:00"), ms("2026-03-04 01:00")),
    )


def test_interval_coingecko_lacks_is_an_error_naming_symbol_and_interval() -> None:
    p = plan(XMR, start=ms("2026-03-01"), interval="15m")
    assert p.error is not None and "XMR" in p.error and "15m" in p.error
    assert (p.ranges, p.requests, p.expected) == ((), 0, 0)


def test_asset_without_source_gets_a_note_and_no_requests() -> None:
    p = plan(AssetSource("FOO"), start=ms("2026-03-01"))
    assert p.source is None and p.error is None
    assert p.note is not None and "no price source" in p.note
    assert (p.ranges, p.requests, p.expected) == ((), 0, 0)


def test_window_after_the_newest_closed_bar_has_nothing_due() -> None:
    for start in (ms("2026-03-10 11:00"), ms("2026-03-11")):
        p = plan(start=start, end=start + DAY_MS)
        assert p.note == "nothing due yet"
        assert (p.ranges, p.requests, p.expected) == ((), 0, 0)


def test_window_reaching_into_the_future_stops_at_the_newest_closed_bar() -> None:
    p = plan(start=ms("2026-03-10"), end=ms("2026-03-11"))
    assert p.span == (ms("2026-03-10"), ms("2026-03-10 11:00"))
    assert p.expected == 11  # 00:00 … 10:00; the 11:00 bar is still open
    on_close = plan(start=ms("2026-03-10"), end=ms("2026-03-11"), now=ms("2026-03-10 10:00"))
    assert on_close.expected == 11  # the 10:00 bar closes at 10:00 exactly


def test_open_start_begins_at_the_known_history_start() -> None:
    asset = AssetSource("NEW", "NEWUSDT", history_start_ms=ms("2026-03-08"))
    p = plan(asset)
    assert p.span == (ms("2026-03-08"), ms("2026-03-10 11:00"))
    assert p.expected == 48 + 11
    assert p.ranges == (p.span,)


# -- plan_all and its report -----------------------------------------------------------------------


def test_plan_all_sums_requests_and_reports_cost() -> None:
    start, end = ms("2025-01-01"), ms("2025-03-01")  # 1416 hourly bars: 2 Binance pages
    complete = tuple(range(start, end, H))
    assets = [BTC, AssetSource("ETH", "ETHUSDT"), XMR, AssetSource("FOO")]
    stored = {"ETH": GridStats(len(complete), complete[0], complete[-1])}
    whole = plan_all(
        assets, stored, start, end, "1h", H, NOW, weight_per_minute=60, coingecko_per_second=0.5
    )
    by = {p.symbol: p for p in whole.symbols}
    assert by["ETH"].ranges == () and by["BTC"].requests == 2
    assert whole.requests("binance") == 2 and whole.requests("coingecko") == 0  # XMR: too old
    assert [p.symbol for p in whole.to_fetch] == ["BTC"]
    assert whole.seconds_at_limit == pytest.approx(2 * KLINES_WEIGHT * 60 / 60)
    text = whole.markdown("2025-01-01 … 2025-03-01")
    assert "2 Binance (weight 4)" in text and "0 CoinGecko" in text
    assert "≈ 4 s at the rate limits" in text and "1,416 bars missing" in text
    assert "| FOO |" in text and "no price source" in text
    assert "| ETH |" not in text  # complete symbols stay out of the table


def test_markdown_lists_at_most_forty_symbols() -> None:
    assets = [AssetSource(f"C{i:02d}", f"C{i:02d}USDT") for i in range(45)]
    start = ms("2026-03-01")
    whole = plan_all(
        assets, {}, start, None, "1h", H, NOW, weight_per_minute=6000, coingecko_per_second=0.5
    )
    text = whole.markdown("since 2026-03-01")
    assert "| C39 |" in text and "| C40 |" not in text
    assert "… and 5 more symbols" in text


def test_coingecko_window_before_the_free_year_names_the_limit() -> None:
    p = plan(XMR, start=ms("2025-01-01"), end=ms("2025-03-01"))
    assert (p.ranges, p.requests) == ((), 0)
    assert p.note is not None and "365 days" in p.note
