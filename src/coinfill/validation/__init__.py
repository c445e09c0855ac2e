"""Coverage contracts: Great Expectations suites run in the database, results shown and stored."""
