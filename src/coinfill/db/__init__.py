"""Everything that speaks SQL: schema, engine, migrations, bulk writes and read queries."""
