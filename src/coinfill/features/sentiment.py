"""Sentiment aggregates over each row's trailing 24 hours, from articles published by then."""

from __future__ import annotations

import numpy as np
import pandas as pd

from coinfill.features.catalog import SENTIMENT_WINDOW
from coinfill.features.pointintime import trailing_counts
from coinfill.features.price_features import SYMBOL_STRIDE, seconds_of

# Not stored: mentions by articles the model can read; the averages are eligible where > 0.
SCORABLE_MENTIONS = "_sentiment_scorable_24h"


def news_in_window(times: pd.Series, news_seconds: np.ndarray) -> np.ndarray:
    """Per row: was any article (about anything) published in (t − 24 h, t]? Then news was
    being collected, and a symbol nobody wrote about has a count of 0 rather than NULL."""
    return trailing_counts(seconds_of(times), news_seconds, SENTIMENT_WINDOW) > 0


def sentiment_columns(rows: pd.DataFrame, mentions: pd.DataFrame) -> pd.DataFrame:
    """Count, mean score, positive share and mean confidence of the articles mentioning the
    row's symbol in (t − 24 h, t]; the three averages are over scored articles only."""
    universe = sorted(set(rows["symbol"]) | set(mentions["symbol"]))
    row_keys = _keys(rows["symbol"], seconds_of(rows["timestamp_iso"]), universe)
    mention_keys = _keys(mentions["symbol"], mentions["seconds"].to_numpy(), universe)
    order = np.argsort(row_keys, kind="stable")
    sorted_keys = row_keys[order]
    scored = ~np.isnan(mentions["score"].to_numpy(dtype=float))
    confident = ~np.isnan(mentions["confidence"].to_numpy(dtype=float))

    def trailing(weights: np.ndarray | None = None) -> np.ndarray:
        out = np.empty(len(row_keys))
        out[order] = trailing_counts(sorted_keys, mention_keys, SENTIMENT_WINDOW, weights)
        return out

    count = trailing()
    scorable = trailing(mentions["scorable"].to_numpy(dtype=float))
    n_scored = trailing(scored.astype(float))
    n_confident = trailing(confident.astype(float))
    score = np.nan_to_num(mentions["score"].to_numpy(dtype=float))
    confidence = np.nan_to_num(mentions["confidence"].to_numpy(dtype=float))
    positive = (mentions["positive"].to_numpy(dtype=bool) & scored).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "sentiment_mean_24h": np.where(n_scored > 0, trailing(score) / n_scored, np.nan),
            "sentiment_count_24h": count,
            "sentiment_positive_share_24h": np.where(
                n_scored > 0, trailing(positive) / n_scored, np.nan
            ),
            "sentiment_confidence_mean_24h": np.where(
                n_confident > 0, trailing(confidence) / n_confident, np.nan
            ),
            SCORABLE_MENTIONS: scorable,
        }
    return pd.DataFrame(out, index=rows.index)


def _keys(symbols: pd.Series, seconds: np.ndarray, universe: list[str]) -> np.ndarray:
    codes = pd.Categorical(symbols.to_numpy(dtype=object), categories=universe).codes
    return np.asarray(codes, dtype=np.int64) * SYMBOL_STRIDE + np.asarray(seconds, dtype=np.int64)
