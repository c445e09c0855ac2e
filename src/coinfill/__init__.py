"""coinfill: collect, backfill and validate the data behind a crypto ML feature table."""

__version__ = "0.1.0"
