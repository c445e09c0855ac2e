"""A tiny sequence classifier saved to disk in the layout FinBERT/CryptoBERT ship in.

The transformer scorer's tests need a real model folder (config, weights, tokenizer) and no
hub. This one is a 1-layer BERT with a 16-word vocabulary whose classifier ignores the text
(zero weights) and prefers one label by its bias, so the expected label and probabilities are
known exactly: what is tested is loading, label mapping, batching and truncation, not wisdom.

Without the ``transformer`` extra the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "bitcoin", "ether", "surges", "falls",
         "record", "high", "hack", "etf", "to", "a", "the"]  # fmt: skip
CRYPTOBERT_LABELS = {0: "Bearish", 1: "Neutral", 2: "Bullish"}


def require_transformers() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("the 'transformer' extra (transformers, torch) is not installed")


def build_model(folder: Path, labels: dict[int, str], favoured: int, margin: float = 2.0) -> Path:
    """Save the model; P(favoured) = e^margin / (e^margin + n − 1) for every text."""
    require_transformers()
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), model_max_length=32)
    config = BertConfig(
        vocab_size=len(WORDS), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16, max_position_embeddings=32, num_labels=len(labels),
        id2label=labels, label2id={v: k for k, v in labels.items()},
    )  # fmt: skip
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        model.classifier.bias[favoured] = margin
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
