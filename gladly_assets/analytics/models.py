"""The support-analytics tables, declared once as data.

Assets, checks, column docs and headline metrics are generated from ``MODELS``;
each table's query lives in ``sql/<name>.sql``. The metric definitions they
implement are written down in ``docs/analytics.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import dagster as dg

from gladly_assets.declared_table import DeclaredTable
from gladly_assets.tables import TABLES_BY_NAME

SCHEMA = "gladly_analytics"
GROUP = "support_analytics"
SQL_DIR = Path(__file__).parent / "sql"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type, as the SQL produces it
    description: str


@dataclass(frozen=True)
class Violation:
    """A check: rows of the table that break a rule (``{table}`` is the table's reference)."""

    name: str
    description: str
    sql: str  # counts the offending rows
    blocking: bool = False


@dataclass(frozen=True)
class AnalyticsModel(DeclaredTable):
    SCHEMA: ClassVar[str] = SCHEMA

    name: str
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    # The Gladly tables the SQL reads; their updates trigger a refresh.
    reads: tuple[str, ...]
    # Other analytics tables the SQL reads (built first).
    after: tuple[str, ...] = ()
    # How an incremental refresh narrows the work: "conversations" (rows of the
    # conversations touched by new items), "days" (rows of the UTC days those
    # conversations span), or None (always rebuilt whole: it is small, and each
    # row depends on every earlier day).
    scope: str | None = None
    # Headline numbers: metadata name -> aggregate over the table.
    metrics: tuple[tuple[str, str], ...] = ()
    # The markdown preview: a query over ``{table}`` (the latest rows first).
    preview: str = "SELECT * FROM {table} LIMIT 10"
    violations: tuple[Violation, ...] = ()

    @property
    def sql(self) -> str:
        return (SQL_DIR / f"{self.name}.sql").read_text()

    @property
    def deps(self) -> list[dg.AssetKey]:
        return [TABLES_BY_NAME[name].asset_key for name in self.reads] + [
            MODELS_BY_NAME[name].asset_key for name in self.after
        ]


def _no_negatives(*columns: str) -> Violation:
    return Violation(
        "no_negative_durations",
        f"No negative {', '.join(columns)}.",
        "SELECT count(*) FROM {table} WHERE " + " OR ".join(f"{column} < 0" for column in columns),
    )


def _latest_day_total(expression: str) -> str:
    """A daily table's headline: ``expression`` summed over its latest day."""
    return f"coalesce(sum({expression}) FILTER (WHERE day = (SELECT max(day) FROM {{table}})), 0)"


def _latest_days(order: str) -> str:
    """A daily table's preview: its latest three days."""
    return f"SELECT * FROM {{table}} WHERE day >= (SELECT max(day) - 2 FROM {{table}}) ORDER BY day DESC, {order}"


def _first_response_quantiles(of: str) -> tuple[Column, Column]:
    return (
        Column("median_first_response_seconds", "DOUBLE", f"Median first_response_seconds of {of}."),
        Column("p90_first_response_seconds", "DOUBLE", "Their 90th percentile (linear interpolation)."),
    )


_TS = "TIMESTAMP WITH TIME ZONE"

CONVERSATION_FACTS = AnalyticsModel(
    name="conversation_facts",
    description="One row per conversation: when the customer first wrote, when an agent first answered, "
    "when it was closed, how often it was reopened, its topics, agents and workload.",
    key=("conversation_id",),
    reads=("conversation_items", "topics"),
    scope="conversations",
    columns=(
        Column("conversation_id", "VARCHAR", "Gladly conversation id (key)."),
        Column("customer_id", "VARCHAR", "customerId of the conversation's earliest item that has one."),
        Column("channel", "VARCHAR", "content.type of the first customer message or call (EMAIL, CHAT_MESSAGE, ...)."),
        Column("first_item_at", _TS, "Earliest item of any kind."),
        Column("first_customer_message_at", _TS, "First message or call initiated by the customer."),
        Column(
            "first_agent_response_at",
            _TS,
            "First agent message, or call an agent answered (answeredAt), at or after first_customer_message_at.",
        ),
        Column("first_responder_agent_id", "VARCHAR", "The agent of that first response."),
        Column("first_response_seconds", "DOUBLE", "first_agent_response_at - first_customer_message_at."),
        Column(
            "first_automated_response_at",
            _TS,
            "First message by Gladly's AI or an automation (SYSTEM, AUTOMATION) at or after the first customer message; "
            "never counted as a first response.",
        ),
        Column("automated_messages", "BIGINT", "Messages initiated by SYSTEM (Sidekick) or AUTOMATION."),
        Column("first_closed_at", _TS, "First status change to CLOSED."),
        Column("last_closed_at", _TS, "Last status change to CLOSED."),
        Column(
            "resolution_seconds",
            "DOUBLE",
            "last_closed_at - first_customer_message_at, for conversations whose status is CLOSED.",
        ),
        Column("times_reopened", "BIGINT", "Status changes to OPEN that follow a CLOSED one."),
        Column("status", "VARCHAR", "Status of the last status change (OPEN when there is none)."),
        Column(
            "topic_ids", "VARCHAR[]", "Topics applied now (added minus removed), in the order they were last added."
        ),
        Column("topic_names", "VARCHAR[]", "Their names from gladly.topics (NULL where unknown)."),
        Column("agent_ids", "VARCHAR[]", "Agents who initiated or answered any item, sorted."),
        Column("customer_messages", "BIGINT", "Messages initiated by the customer (calls not included)."),
        Column("agent_messages", "BIGINT", "Messages initiated by an agent (calls not included)."),
        Column("notes", "BIGINT", "CONVERSATION_NOTE items."),
        Column("calls", "BIGINT", "PHONE_CALL items, answered or missed."),
        Column("calls_answered", "BIGINT", "PHONE_CALL items with an answeredAt."),
        Column("call_seconds", "DOUBLE", "Talk time of answered calls: completedAt - answeredAt."),
        Column("items", "BIGINT", "Items of the conversation."),
        Column("last_item_at", _TS, "Latest item of any kind."),
        Column("_job_updated_at", _TS, "_job_updated_at of the conversation's newest item version."),
    ),
    metrics=(
        ("conversations", "count(*)"),
        ("conversations_open", "count(*) FILTER (WHERE status = 'OPEN')"),
        (
            "conversations_never_answered",
            "count(*) FILTER (WHERE first_customer_message_at IS NOT NULL AND first_agent_response_at IS NULL)",
        ),
        ("conversations_reopened", "count(*) FILTER (WHERE times_reopened > 0)"),
        ("median_first_response_seconds", "quantile_cont(first_response_seconds, 0.5)"),
        ("p90_first_response_seconds", "quantile_cont(first_response_seconds, 0.9)"),
        ("median_resolution_seconds", "quantile_cont(resolution_seconds, 0.5)"),
    ),
    preview="SELECT conversation_id, channel, status, first_customer_message_at, first_response_seconds, "
    "resolution_seconds, times_reopened, topic_names, items FROM {table} "
    "ORDER BY last_item_at DESC, conversation_id LIMIT 10",
    violations=(
        Violation(
            "conversations_exist_in_items",
            "Every conversation here has items in gladly.conversation_items.",
            "SELECT count(*) FROM {table} AS f WHERE NOT EXISTS "
            "(SELECT 1 FROM {conversation_items} AS i WHERE i.conversation_id = f.conversation_id)",
        ),
        _no_negatives("first_response_seconds", "resolution_seconds", "call_seconds"),
        Violation(
            "response_not_before_customer_message",
            "first_agent_response_at is never before first_customer_message_at (nor set without it).",
            "SELECT count(*) FROM {table} WHERE first_agent_response_at IS NOT NULL AND "
            "(first_customer_message_at IS NULL OR first_agent_response_at < first_customer_message_at)",
        ),
    ),
)

AGENT_DAILY = AnalyticsModel(
    name="agent_daily",
    description="One row per agent and UTC day: messages, conversations touched, closed and first responded to "
    "(with median and 90th percentile first response), notes and calls.",
    key=("agent_id", "day"),
    reads=("conversation_items", "agents"),
    after=("conversation_facts",),
    scope="days",
    columns=(
        Column("agent_id", "VARCHAR", "Agent id (key, with day)."),
        Column("day", "DATE", "UTC day (key, with agent_id)."),
        Column("agent_name", "VARCHAR", "From gladly.agents."),
        Column("agent_email", "VARCHAR", "From gladly.agents."),
        Column("messages_sent", "BIGINT", "Messages the agent initiated that day."),
        Column("conversations_touched", "BIGINT", "Conversations with an item the agent initiated or answered."),
        Column("conversations_closed", "BIGINT", "Conversations the agent changed to CLOSED that day."),
        Column(
            "conversations_first_responded",
            "BIGINT",
            "Conversations whose first agent response was this agent's, that day.",
        ),
        *_first_response_quantiles("those conversations"),
        Column("notes", "BIGINT", "Notes the agent wrote that day."),
        Column("calls", "BIGINT", "Answered calls the agent placed or answered that day."),
        Column("call_minutes", "DOUBLE", "Their talk time in minutes."),
    ),
    metrics=(
        ("agents_active_latest_day", _latest_day_total("1")),
        ("messages_sent_latest_day", _latest_day_total("messages_sent")),
    ),
    preview=_latest_days("messages_sent DESC, agent_id LIMIT 30"),
    violations=(_no_negatives("median_first_response_seconds", "p90_first_response_seconds", "call_minutes"),),
)

DAILY_OVERVIEW = AnalyticsModel(
    name="daily_overview",
    description="One row per UTC day and channel: new, closed and reopened conversations, first response and "
    "resolution times, and the open backlog at the end of the day.",
    key=("day", "channel"),
    reads=("conversation_items",),
    after=("conversation_facts",),
    columns=(
        Column("day", "DATE", "UTC day (key, with channel)."),
        Column("channel", "VARCHAR", "The conversation's channel (conversation_facts.channel; NONE without one)."),
        Column("new_conversations", "BIGINT", "Conversations whose first item is on this day."),
        Column("conversations_closed", "BIGINT", "Conversations changed from open to CLOSED this day."),
        Column("conversations_reopened", "BIGINT", "Conversations changed from CLOSED to OPEN this day."),
        *_first_response_quantiles("the conversations whose first customer message is this day"),
        Column("median_resolution_seconds", "DOUBLE", "Over closed conversations whose last close is this day."),
        Column("open_backlog", "BIGINT", "Conversations open at the end of the day (UTC)."),
    ),
    metrics=(
        ("open_backlog", _latest_day_total("open_backlog")),
        ("new_conversations_latest_day", _latest_day_total("new_conversations")),
    ),
    preview=_latest_days("channel"),
    violations=(
        _no_negatives(
            "median_first_response_seconds", "p90_first_response_seconds", "median_resolution_seconds", "open_backlog"
        ),
    ),
)

MODELS: tuple[AnalyticsModel, ...] = (CONVERSATION_FACTS, AGENT_DAILY, DAILY_OVERVIEW)
MODELS_BY_NAME: dict[str, AnalyticsModel] = {model.name: model for model in MODELS}
