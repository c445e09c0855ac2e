"""News articles and their sentiment: feeds, canonical URLs, asset matching, scorers."""
