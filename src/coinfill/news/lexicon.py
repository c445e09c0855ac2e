"""The offline scorer: VADER's bundled lexicon, extended with crypto and market-news terms.

VADER's compound score is the score; its usual thresholds (±0.05) give the label. Confidence
grows with distance from the neutral band: 0.5 at a threshold, 1.0 at ±1 for a polar label,
1.0 at 0 for neutral. The version joins VADER's with a hash of our two data files, so editing
the lexicon is a new model version that ``rescore`` can backfill.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from importlib import metadata, resources

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from coinfill.news.scoring import NEGATIVE, NEUTRAL, POSITIVE, Score

THRESHOLD = 0.05
LEXICON_FILE = "crypto_lexicon.tsv"
PHRASES_FILE = "crypto_phrases.tsv"


def _rows(name: str) -> list[tuple[str, str]]:
    text = resources.files("coinfill.news").joinpath(name).read_text(encoding="utf-8")
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise ValueError(f"{name}:{number}: expected 'term<TAB>value', got {line!r}")
        rows.append((parts[0], parts[1].strip()))
    return rows


def data_digest() -> str:
    digest = hashlib.sha256()
    for name in (LEXICON_FILE, PHRASES_FILE):
        digest.update(resources.files("coinfill.news").joinpath(name).read_bytes())
    return digest.hexdigest()[:10]


class LexiconScorer:
    name = "vader-crypto"
    languages: frozenset[str] | None = frozenset({"en"})

    def __init__(self, *, extended: bool = True) -> None:
        """``extended=False`` is plain VADER (the accuracy test compares the two)."""
        self.analyzer = SentimentIntensityAnalyzer()
        self.phrases: list[tuple[re.Pattern[str], str]] = []
        vader = metadata.version("vaderSentiment")
        if not extended:
            self.name, self.version = "vader", vader
            return
        for term, value in _rows(LEXICON_FILE):
            if float(value) == 0.0:
                self.analyzer.lexicon.pop(term, None)  # a sense news does not use
            else:
                self.analyzer.lexicon[term] = float(value)
        self.phrases = [(re.compile(p, re.IGNORECASE), token) for p, token in _rows(PHRASES_FILE)]
        self.version = f"{vader}+{data_digest()}"

    def score(self, texts: Sequence[str]) -> list[Score]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> Score:
        for pattern, token in self.phrases:
            text = pattern.sub(token, text)
        compound = float(self.analyzer.polarity_scores(text)["compound"])
        if compound >= THRESHOLD:
            label, confidence = POSITIVE, 0.5 + 0.5 * (compound - THRESHOLD) / (1 - THRESHOLD)
        elif compound <= -THRESHOLD:
            label, confidence = NEGATIVE, 0.5 + 0.5 * (-compound - THRESHOLD) / (1 - THRESHOLD)
        else:
            label, confidence = NEUTRAL, 1.0 - 0.5 * abs(compound) / THRESHOLD
        return Score(round(compound, 4), label, round(confidence, 4))
