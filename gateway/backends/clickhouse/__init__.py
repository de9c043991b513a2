"""ClickHouse sources: a ClickHouse server over HTTP, or embedded chDB."""
