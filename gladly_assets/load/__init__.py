"""Loading: an export file into Polars frames (``jsonl``), frames into DuckDB (``warehouse``).

No Dagster and no HTTP here: these modules are plain Python over Polars and DuckDB.
"""
