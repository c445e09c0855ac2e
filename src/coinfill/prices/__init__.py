"""Market prices: the bar grid, gap plans, rows for ``price_data_real`` and their collection."""
