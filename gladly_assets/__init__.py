"""gladly-assets: Gladly's export jobs as incremental Dagster assets in DuckDB."""
