"""Rows of dicts as a markdown table: run summaries, plans, Prefect markdown artifacts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def markdown_table(rows: Sequence[Mapping[str, object]]) -> list[str]:
    """Header from the first row's keys; no lines for no rows."""
    if not rows:
        return []
    head = list(rows[0])
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(str(row[key]) for key in head) + " |" for row in rows),
    ]
