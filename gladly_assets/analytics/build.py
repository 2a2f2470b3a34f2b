"""Build the analytics tables in DuckDB from the Gladly tables. No Dagster here.

Each build reads the Gladly tables through temporary views that always have the
columns the SQL expects (a file that never had ``responder`` leaves no column),
then either rebuilds the table whole or, incrementally, deletes and re-inserts
only the rows that new export jobs can have changed, in one transaction.

Which rows are new is told by the loader's ``_job_updated_at``/``_job_id``: a
high-water mark per Gladly table (the newest ``_job_updated_at`` seen, and the
jobs seen within ``LATE_JOB_WINDOW`` of it, because the sync still applies a job
that finishes late with an older ``updatedAt``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from gladly_assets.analytics.models import SCHEMA, SQL_DIR, AnalyticsModel
from gladly_assets.cursor import LATE_JOB_WINDOW, iso
from gladly_assets.export_jobs import parse_instant
from gladly_assets.load.duckdb_sql import quote, transaction
from gladly_assets.tables import JOB_ID_COLUMN, JOB_UPDATED_AT_COLUMN
from gladly_assets.tables import SCHEMA as GLADLY_SCHEMA

# The columns of gladly.conversation_items the SQL reads; JSON ones are objects.
_ITEM_TEXT_COLUMNS = ("id", "conversationId", "customerId", "timestamp")
_ITEM_JSON_COLUMNS = ("initiator", "responder", "content")
# RFC 3339 as Gladly writes it: an item whose timestamp is not is left out, and counted.
RFC3339 = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})"
# What the analytics are allowed to use: aggregates over millions of items spill past it.
MEMORY_LIMIT = "2GB"


@dataclass(frozen=True)
class Mark:
    """How far a build read one Gladly table."""

    updated_at: datetime | None
    recent_job_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"updated_at": iso(self.updated_at), "recent_job_ids": list(self.recent_job_ids)}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Mark:
        text = value.get("updated_at") or ""
        return cls(parse_instant(text) if text else None, tuple(value.get("recent_job_ids") or ()))


@dataclass(frozen=True)
class BuildResult:
    mode: str  # "full" or "incremental"
    reason: str
    marks: dict[str, Mark]
    recomputed: int  # conversations or days recomputed (incremental), rows built (full)
    rows_deleted: int
    rows_inserted: int


class AnalyticsWarehouse:
    """The gladly_analytics schema in one DuckDB connection."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, memory_limit: str | None = MEMORY_LIMIT):
        self.conn = connection
        if memory_limit:
            self.conn.execute(f"SET memory_limit = '{memory_limit}'")
        self.catalog = str(self._scalar("SELECT current_database()"))
        self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.catalog)}.{SCHEMA}")
        self._define_sources()

    # --- references ----------------------------------------------------------------

    def ref(self, model: AnalyticsModel) -> str:
        return f"{quote(self.catalog)}.{SCHEMA}.{quote(model.name)}"

    def _gladly_ref(self, table: str) -> str:
        return f"{quote(self.catalog)}.{GLADLY_SCHEMA}.{quote(table)}"

    def _columns(self, schema: str, table: str) -> dict[str, str]:
        rows = self.conn.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = ? AND schema_name = ? AND table_name = ?",
            [self.catalog, schema, table],
        ).fetchall()
        return dict(rows)

    def exists(self, model: AnalyticsModel) -> bool:
        return bool(self._columns(SCHEMA, model.name))

    def row_count(self, model: AnalyticsModel) -> int:
        return int(self._scalar(f"SELECT count(*) FROM {self.ref(model)}")) if self.exists(model) else 0

    def _scalar(self, sql: str, parameters: list[Any] | None = None) -> Any:
        row = self.conn.execute(sql, parameters).fetchone()
        return None if row is None else row[0]

    # --- sources -------------------------------------------------------------------

    def _define_sources(self, conversation_scope: bool = False) -> None:
        """Temporary views over the Gladly tables. ``conversation_scope``: the items of the
        conversations in ``scope_conversations`` only (filtered before any JSON is read)."""
        items = self._columns(GLADLY_SCHEMA, "conversation_items")
        select = []
        for name in _ITEM_TEXT_COLUMNS:
            select.append(
                f"NULLIF({quote(name)}::VARCHAR, '') AS {quote(name)}"
                if name in items
                else f"NULL::VARCHAR AS {quote(name)}"
            )
        for name in _ITEM_JSON_COLUMNS:
            kind = items.get(name)
            if kind == "JSON":
                select.append(quote(name))
            elif kind is None:
                select.append(f"NULL::JSON AS {quote(name)}")
            else:  # an older loader or a hand-made table: keep only valid JSON
                select.append(
                    f"CASE WHEN json_valid({quote(name)}::VARCHAR) THEN {quote(name)}::VARCHAR::JSON END AS {quote(name)}"
                )
        if items:
            source = (
                f"SELECT {', '.join(select)}, {JOB_ID_COLUMN}, {JOB_UPDATED_AT_COLUMN} "
                f"FROM {self._gladly_ref('conversation_items')}"
            )
        else:
            source = f"SELECT {', '.join(select)}, NULL::VARCHAR AS {JOB_ID_COLUMN}, NULL::TIMESTAMPTZ AS {JOB_UPDATED_AT_COLUMN} LIMIT 0"
        where = (
            "WHERE conversation_id IN (SELECT conversation_id FROM scope_conversations)" if conversation_scope else ""
        )
        self.conn.execute(
            f"""CREATE OR REPLACE TEMP VIEW analytics_raw_items AS
            SELECT id, conversationId AS conversation_id, customerId AS customer_id, timestamp,
                regexp_full_match(coalesce(timestamp, ''), '{RFC3339}') AS is_rfc3339,
                initiator, responder, content, {JOB_ID_COLUMN}, {JOB_UPDATED_AT_COLUMN}
            FROM ({source}) {where}"""
        )
        self.conn.execute(f"CREATE OR REPLACE TEMP VIEW analytics_items AS {(SQL_DIR / 'items.sql').read_text()}")
        self._define_lookup("analytics_topics", "topics", ("name",))
        self._define_lookup("analytics_agents", "agents", ("name", "emailAddress"))

    def _define_lookup(self, view: str, table: str, columns: tuple[str, ...]) -> None:
        """id -> a few text columns of a Gladly table, one row per id (empty if the table is missing)."""
        present = self._columns(GLADLY_SCHEMA, table)
        if "id" not in present:
            nulls = ", ".join(f"NULL::VARCHAR AS {quote(c)}" for c in columns)
            self.conn.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT NULL::VARCHAR AS id, {nulls} LIMIT 0")
            return
        latest = ", ".join(
            (
                f"first({quote(c)}::VARCHAR ORDER BY {JOB_UPDATED_AT_COLUMN} DESC, {JOB_ID_COLUMN} DESC) AS {quote(c)}"
                if c in present
                else f"NULL::VARCHAR AS {quote(c)}"
            )
            for c in columns
        )
        self.conn.execute(
            f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT id::VARCHAR AS id, {latest} "
            f"FROM {self._gladly_ref(table)} WHERE id IS NOT NULL GROUP BY id::VARCHAR"
        )

    def _define_facts(self, facts: AnalyticsModel | None) -> None:
        if facts is not None and self.exists(facts):
            self.conn.execute(f"CREATE OR REPLACE TEMP VIEW analytics_facts AS FROM {self.ref(facts)}")

    # --- marks ---------------------------------------------------------------------

    def mark(self, table: str) -> Mark:
        if JOB_UPDATED_AT_COLUMN not in self._columns(GLADLY_SCHEMA, table):
            return Mark(None)
        newest = self._scalar(f"SELECT max({JOB_UPDATED_AT_COLUMN}) FROM {self._gladly_ref(table)}")
        if newest is None:
            return Mark(None)
        recent = self.conn.execute(
            f"SELECT DISTINCT {JOB_ID_COLUMN} FROM {self._gladly_ref(table)} "
            f"WHERE {JOB_UPDATED_AT_COLUMN} >= ? ORDER BY 1",
            [newest - LATE_JOB_WINDOW],
        ).fetchall()
        return Mark(newest, tuple(row[0] for row in recent))

    @staticmethod
    def _newer_than(mark: Mark) -> tuple[str, list[Any]]:
        """A filter on a Gladly table's rows written by jobs applied after ``mark``."""
        if mark.updated_at is None:
            return "true", []
        ids = list(mark.recent_job_ids) or [""]
        return (
            f"({JOB_UPDATED_AT_COLUMN} > ? OR ({JOB_UPDATED_AT_COLUMN} >= ? "
            f"AND {JOB_ID_COLUMN} NOT IN ({', '.join('?' for _ in ids)})))",
            [mark.updated_at, mark.updated_at - LATE_JOB_WINDOW, *ids],
        )

    # --- building ------------------------------------------------------------------

    def build(
        self,
        model: AnalyticsModel,
        previous: Mapping[str, Mark] | None,
        rebuild_reason: str | None = None,
        facts: AnalyticsModel | None = None,
    ) -> BuildResult:
        """Bring ``model``'s table up to date. ``previous``: the marks of its last build (None:
        there was none); ``rebuild_reason``: why it must be rebuilt whole, if it must;
        ``facts``: the conversation_facts model, for the tables that read it."""
        marks = {table: self.mark(table) for table in model.reads}
        reason = rebuild_reason
        if reason is None and model.scope is None:
            reason = "this table is rebuilt whole every time"
        if reason is None and not self.exists(model):
            reason = f"{model.qualified_name} does not exist"
        if reason is None and (previous is None or any(table not in previous for table in model.reads)):
            reason = "no high-water mark recorded by a previous build"
        self._define_facts(facts)
        if reason is not None:
            return self._rebuild(model, marks, reason)
        assert previous is not None
        return self._refresh(model, marks, previous)

    def _select(self, model: AnalyticsModel) -> str:
        columns = ", ".join(f"CAST({quote(c.name)} AS {c.type}) AS {quote(c.name)}" for c in model.columns)
        return f"SELECT {columns} FROM ({model.sql})"

    def _rebuild(self, model: AnalyticsModel, marks: dict[str, Mark], reason: str) -> BuildResult:
        self._define_sources()
        self.conn.execute("CREATE OR REPLACE TEMP TABLE scope_days AS SELECT DISTINCT day FROM analytics_items")
        before = self.row_count(model)
        with transaction(self.conn):
            self.conn.execute(f"CREATE OR REPLACE TABLE {self.ref(model)} AS {self._select(model)}")
        after = self.row_count(model)
        return BuildResult("full", reason, marks, after, before, after)

    def _refresh(self, model: AnalyticsModel, marks: dict[str, Mark], previous: Mapping[str, Mark]) -> BuildResult:
        self._define_sources()
        self._scope_conversations(model, previous)
        if model.scope == "conversations":
            self._define_sources(conversation_scope=True)
            return self._replace(model, marks, "conversation_id", "scope_conversations")
        self._scope_days(model, previous)
        return self._replace(model, marks, "day", "scope_days")

    def _scope_conversations(self, model: AnalyticsModel, previous: Mapping[str, Mark]) -> None:
        """scope_conversations: those with an item from a job newer than the marks, and those
        whose topic_ids hold a topic new or renamed since."""
        new_items, parameters = self._newer_than(previous["conversation_items"])
        touched = [
            f"SELECT DISTINCT conversation_id FROM analytics_raw_items WHERE conversation_id IS NOT NULL AND {new_items}"
        ]
        if "topics" in model.reads and self._columns(GLADLY_SCHEMA, "topics"):
            new_topics, topic_parameters = self._newer_than(previous["topics"])
            touched.append(
                f"SELECT conversation_id FROM {self.ref(model)}, unnest(topic_ids) AS applied(topic_id) "
                f"WHERE topic_id IN (SELECT id::VARCHAR FROM {self._gladly_ref('topics')} WHERE {new_topics})"
            )
            parameters += topic_parameters
        self.conn.execute(f"CREATE OR REPLACE TEMP TABLE scope_conversations AS {' UNION '.join(touched)}", parameters)

    def _scope_days(self, model: AnalyticsModel, previous: Mapping[str, Mark]) -> None:
        """scope_days: the UTC days of every item of the conversations in scope (their rows of
        those days may change), and every day of an agent new or renamed since the marks."""
        days = [
            "SELECT DISTINCT day FROM analytics_items WHERE conversation_id IN (SELECT conversation_id FROM scope_conversations)"
        ]
        parameters: list[Any] = []
        if "agents" in model.reads and self._columns(GLADLY_SCHEMA, "agents"):
            new_agents, parameters = self._newer_than(previous["agents"])
            days.append(
                f"SELECT day FROM {self.ref(model)} WHERE agent_id IN "
                f"(SELECT id::VARCHAR FROM {self._gladly_ref('agents')} WHERE {new_agents})"
            )
        self.conn.execute(f"CREATE OR REPLACE TEMP TABLE scope_days AS {' UNION '.join(days)}", parameters)

    def _replace(self, model: AnalyticsModel, marks: dict[str, Mark], column: str, scope: str) -> BuildResult:
        """Delete the rows in scope and insert them anew, in one transaction."""
        with transaction(self.conn):
            deleted = self._scalar(f"DELETE FROM {self.ref(model)} WHERE {column} IN (SELECT {column} FROM {scope})")
            inserted = self._scalar(f"INSERT INTO {self.ref(model)} BY NAME {self._select(model)}")
        count = int(self._scalar(f"SELECT count(*) FROM {scope}"))
        self._define_sources()
        return BuildResult("incremental", "new export jobs since the recorded marks", marks, count, deleted, inserted)

    # --- what the UI shows ---------------------------------------------------------

    def excluded_items(self) -> dict[str, int]:
        """Items the analytics leave out, by reason."""
        without_conversation, without_timestamp = self.conn.execute(
            "SELECT count(*) FILTER (WHERE conversation_id IS NULL), "
            "count(*) FILTER (WHERE conversation_id IS NOT NULL AND NOT is_rfc3339) FROM analytics_raw_items"
        ).fetchone() or (0, 0)
        return {
            "items_without_conversation": int(without_conversation),
            "items_without_timestamp": int(without_timestamp),
        }

    def metrics(self, model: AnalyticsModel) -> dict[str, float]:
        """The model's headline numbers (a metric with no value, such as a median of nothing, is left out)."""
        if not model.metrics:
            return {}
        table = self.ref(model)
        select = ", ".join(expression.format(table=table) for _, expression in model.metrics)
        row = self.conn.execute(f"SELECT {select} FROM {table}").fetchone() or ()
        return {name: value for (name, _), value in zip(model.metrics, row, strict=True) if value is not None}

    def preview(self, model: AnalyticsModel) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self.conn.execute(model.preview.format(table=self.ref(model)))
        return [column[0] for column in cursor.description], cursor.fetchall()

    def key_problems(self, model: AnalyticsModel) -> tuple[int, int]:
        """(rows with a NULL key column, keys that occur more than once)."""
        key = ", ".join(quote(c) for c in model.key)
        nulls = " OR ".join(f"{quote(c)} IS NULL" for c in model.key)
        null_keys = self._scalar(f"SELECT count(*) FROM {self.ref(model)} WHERE {nulls}")
        duplicates = self._scalar(
            f"SELECT count(*) FROM (SELECT {key} FROM {self.ref(model)} GROUP BY ALL HAVING count(*) > 1)"
        )
        return int(null_keys), int(duplicates)

    def violations(self, model: AnalyticsModel, sql: str) -> int:
        return int(self._scalar(sql.format(table=self.ref(model), conversation_items="analytics_raw_items")))
