"""One interface for every sentiment model, and the choice of model from settings.

A scorer turns texts into :class:`Score` — ``score`` in [-1, 1] (negative … positive),
``label`` (``positive``/``neutral``/``negative``), ``confidence`` in [0, 1] — and names itself
(``name``, ``version``) so stored scores say which model made them and a model upgrade can
re-score exactly the articles the old version scored (``rescore``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from coinfill.errors import ConfigurationError

POSITIVE = "positive"
NEUTRAL = "neutral"
NEGATIVE = "negative"
LABELS = (POSITIVE, NEUTRAL, NEGATIVE)
NO_TEXT = "no text"


@dataclass(frozen=True)
class Score:
    score: float
    label: str
    confidence: float

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"label {self.label!r} is not one of {LABELS}")


class Scorer(Protocol):
    name: str
    version: str
    # Languages it reads (two-letter codes); None = any.
    languages: frozenset[str] | None

    def score(self, texts: Sequence[str]) -> list[Score]: ...


def skip_reason(scorer: Scorer, language: str | None, text: str) -> str | None:
    """Why ``scorer`` cannot score an article (it is then not eligible), or None."""
    if not text.strip():
        return NO_TEXT
    if scorer.languages is not None and (language or "und") not in scorer.languages:
        return f"language {language or 'und'}"
    return None


def make_scorer(
    kind: str,
    *,
    model_path: str | None = None,
    model_name: str | None = None,
    languages: Sequence[str] = ("en",),
    batch_size: int = 32,
) -> Scorer:
    """``lexicon``, ``transformer`` (needs a local model), or ``auto``: the transformer when a
    model is configured and the ``transformer`` extra is installed, else the lexicon."""
    from coinfill.news.lexicon import LexiconScorer

    if kind == "lexicon":
        return LexiconScorer()
    configured = bool(model_path or model_name)
    if kind == "auto" and not configured:
        return LexiconScorer()
    if not configured:
        raise ConfigurationError(
            "sentiment scorer 'transformer' needs a model: set COINFILL_SENTIMENT_MODEL_PATH "
            "to a local FinBERT/CryptoBERT folder, or COINFILL_SENTIMENT_MODEL_NAME to a model "
            "already in the Hugging Face cache (nothing is downloaded)"
        )
    from coinfill.news.transformer import TransformerScorer, transformers_available

    if kind == "auto" and not transformers_available():
        return LexiconScorer()
    return TransformerScorer(
        model_path or model_name or "", languages=frozenset(languages), batch_size=batch_size
    )
