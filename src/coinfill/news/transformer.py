"""The transformer scorer: FinBERT, CryptoBERT or any sequence classifier with sentiment labels.

Loaded only from disk — a folder (``COINFILL_SENTIMENT_MODEL_PATH``) or a model already in the
Hugging Face cache (``COINFILL_SENTIMENT_MODEL_NAME``) — with ``local_files_only``: a pod
without a route to a model hub never tries one, and importing coinfill never loads torch.
Needs the ``transformer`` extra (``pip install 'coinfill[transformer]'``).

Labels are read from the model's ``id2label``: FinBERT's positive/negative/neutral and
CryptoBERT's Bullish/Bearish/Neutral both map. score = P(positive) − P(negative); confidence is
the probability of the label chosen. The version is the Hub commit of a cached model, else a
hash of the config and weights: a retrained model is a new version ``rescore`` can backfill.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from coinfill.errors import ConfigurationError
from coinfill.news.scoring import NEGATIVE, NEUTRAL, POSITIVE, Score

LABEL_NAMES = {
    "positive": POSITIVE, "bullish": POSITIVE, "pos": POSITIVE,
    "negative": NEGATIVE, "bearish": NEGATIVE, "neg": NEGATIVE,
    "neutral": NEUTRAL, "neu": NEUTRAL,
}  # fmt: skip
MAX_TOKENS = 512


def transformers_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("transformers", "torch"))


class TransformerScorer:
    def __init__(
        self, model: str, *, languages: frozenset[str] | None, batch_size: int = 32
    ) -> None:
        if not transformers_available():
            raise ConfigurationError(
                "the transformer scorer needs the 'transformer' extra: "
                "pip install 'coinfill[transformer]' (transformers and torch)"
            )
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.torch = torch
        self.languages = languages
        self.batch_size = batch_size
        try:
            folder = _local_folder(model)
            self.tokenizer: Any = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            self.model: Any = AutoModelForSequenceClassification.from_pretrained(
                folder, local_files_only=True
            )
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot load the sentiment model '{model}' from disk (nothing is downloaded): "
                f"{str(exc).splitlines()[0][:300]}"
            ) from None
        self.model.eval()
        self.columns = _label_columns(model, dict(self.model.config.id2label))
        self.name = (folder.name if Path(model).is_dir() else model)[:128]
        self.version = _version(folder)
        self.max_tokens = min(int(getattr(self.tokenizer, "model_max_length", 512)), MAX_TOKENS)

    def score(self, texts: Sequence[str]) -> list[Score]:
        scores: list[Score] = []
        for i in range(0, len(texts), self.batch_size):
            batch = list(texts[i : i + self.batch_size])
            encoded = self.tokenizer(
                batch, padding=True, truncation=True, max_length=self.max_tokens,
                return_tensors="pt",
            )  # fmt: skip
            with self.torch.no_grad():
                probabilities = self.model(**encoded).logits.softmax(dim=-1).tolist()
            scores += [self._score(row) for row in probabilities]
        return scores

    def _score(self, probabilities: list[float]) -> Score:
        by_label = {POSITIVE: 0.0, NEUTRAL: 0.0, NEGATIVE: 0.0}
        for index, label in self.columns.items():
            by_label[label] += probabilities[index]
        label = max(by_label, key=lambda k: by_label[k])
        score = by_label[POSITIVE] - by_label[NEGATIVE]
        return Score(round(score, 4), label, round(by_label[label], 4))


def _local_folder(model: str) -> Path:
    """A folder as given; a Hub name resolved to its snapshot in the local cache, offline."""
    if Path(model).is_dir():
        return Path(model).resolve()
    if Path(model).is_absolute() or model.startswith("."):
        raise OSError(f"no such folder: {model}")
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id=model, local_files_only=True))


def _label_columns(model: str, id2label: dict[int, str]) -> dict[int, str]:
    columns = {}
    for index, raw in id2label.items():
        label = LABEL_NAMES.get(str(raw).strip().lower())
        if label is None:
            raise ConfigurationError(
                f"sentiment model '{model}' has label '{raw}' (id2label {id2label}); coinfill "
                "needs positive/negative/neutral or bullish/bearish/neutral labels"
            )
        columns[int(index)] = label
    if POSITIVE not in columns.values() or NEGATIVE not in columns.values():
        raise ConfigurationError(
            f"sentiment model '{model}' lacks a positive or a negative label: {id2label}"
        )
    return columns


def _version(source: Path) -> str:
    """The Hub commit for a cached model (``…/snapshots/<commit>``), else a hash of its config
    and weights (a fine-tuned copy of one architecture has the same names and sizes)."""
    if source.parent.name == "snapshots":
        return source.name[:12]
    digest = hashlib.sha256()
    config = source / "config.json"
    if config.exists():
        digest.update(config.read_bytes())
    for weights in sorted(source.glob("*.safetensors")) + sorted(source.glob("*.bin")):
        with weights.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:12]
