"""A collector's backfill can refresh the feature table right after it (``refresh_features``).

The refresh is ``ml-features`` in its scheduled mode, run as a subflow: it rebuilds exactly the
feature rows the backfill's changed rows affect (not a guess at a window), so a prices
backfill also refreshes the 7 days of returns after each changed bar, a macro backfill every
row that could see a changed observation. Without the flag the scheduled ``ml-features``
deployment (every 30 minutes) picks the changes up on its next run.
"""

from __future__ import annotations

from datetime import datetime

from prefect import get_run_logger


def refresh_features_after(asked: bool, dry_run: bool, since: datetime) -> None:
    """``since``: the collector run's start, which stamps every row it wrote (``updated_at``).

    The refresh reads changes from that stamp on, not from the saved state: a scheduled refresh
    that ran while this backfill was still writing has already moved the state past it.
    """
    if not asked:
        return
    if dry_run:
        get_run_logger().info("refresh_features: skipped (dry run, nothing was written)")
        return
    from flows.ml_features import ml_features  # imported late: ml-features imports collectors' code

    summary = ml_features(enforce_coverage=False, changed_since=since)
    get_run_logger().info("feature refresh (%s): %s", summary.mode, summary.totals)
