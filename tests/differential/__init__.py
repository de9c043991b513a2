"""A dataset and an analytical query corpus, run on PostgreSQL and on ClickHouse to compare."""
