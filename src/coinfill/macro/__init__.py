"""US macro indicators from FRED: the series catalogue, calendars, gap plans, point-in-time rows."""
