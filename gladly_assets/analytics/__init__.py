"""Support analytics: DuckDB tables built with SQL from the Gladly tables, as downstream assets."""
