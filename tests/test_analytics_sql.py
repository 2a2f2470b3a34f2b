"""The analytics SQL on tiny hand-written tables: one conversation per edge case, with the row
the definitions in docs/analytics.md say it must get."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from gladly_assets.analytics.assets import markdown_cell, markdown_table
from gladly_assets.analytics.build import AnalyticsWarehouse, Mark
from gladly_assets.analytics.checks import evaluate_checks
from gladly_assets.analytics.models import AGENT_DAILY, CONVERSATION_FACTS, DAILY_OVERVIEW, MODELS, AnalyticsModel

JOB_1 = ("job-1", datetime(2026, 11, 11, 0, 10, tzinfo=UTC))
JOB_2 = ("job-2", datetime(2026, 11, 12, 0, 10, tzinfo=UTC))
JOB_LATE = ("job-late", datetime(2026, 11, 12, 0, 5, tzinfo=UTC))  # finishes after job-2, older updatedAt
ITEM_COLUMNS = {
    "id": "VARCHAR",
    "conversationId": "VARCHAR",
    "customerId": "VARCHAR",
    "timestamp": "VARCHAR",
    "initiator": "JSON",
    "responder": "JSON",
    "content": "JSON",
}
_ids = iter(range(10**6))


def at(day: int, clock: str) -> str:
    return f"2026-11-{day:02d}T{clock}Z"


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def item(
    conversation: str | None,
    when: str,
    content: dict[str, Any],
    by: tuple[str, str] | None = None,
    to: tuple[str, str] | None = None,
    job: tuple[str, datetime] = JOB_1,
    customer: str = "cust-1",
) -> dict[str, Any]:
    return {
        "id": f"item-{next(_ids):04d}",
        "conversationId": conversation,
        "customerId": customer,
        "timestamp": when,
        "initiator": None if by is None else {"id": by[0], "type": by[1]},
        "responder": None if to is None else {"id": to[0], "type": to[1]},
        "content": content,
        "_job": job,
    }


CUSTOMER = ("cust-1", "CUSTOMER")
A1, A2 = ("agent-1", "AGENT"), ("agent-2", "AGENT")
SIDEKICK = ("SIDEKICK_V2", "SYSTEM")
AUTOMATION = ("rule-1", "AUTOMATION")


def message(kind: str = "EMAIL") -> dict[str, Any]:
    return {"type": kind, "content": "hello | <b>there</b>"}


def status(value: str) -> dict[str, Any]:
    return {"type": "CONVERSATION_STATUS_CHANGE", "status": value}


def topics(added: list[str], removed: list[str] | None = None) -> dict[str, Any]:
    return {"type": "TOPIC_CHANGE", "addedTopicIds": added, "removedTopicIds": removed or []}


def call(started: str, answered: str | None, completed: str) -> dict[str, Any]:
    return {"type": "PHONE_CALL", "startedAt": started, "answeredAt": answered, "completedAt": completed}


ITEMS = [
    # reopened: answered, closed, the customer writes again, reopened, answered, closed by a rule
    item("reopened", at(10, "09:00:00.000"), message(), CUSTOMER, A1),
    item("reopened", at(10, "09:10:00.000"), message(), A1, CUSTOMER),
    item("reopened", at(10, "09:20:00.000"), status("CLOSED"), A1),
    item("reopened", at(10, "10:00:00.000"), message(), CUSTOMER),
    item("reopened", at(10, "10:01:00.000"), status("OPEN"), ("ROUTING", "INTERNAL")),
    item("reopened", at(10, "10:30:00.000"), message(), A2, CUSTOMER),
    item("reopened", at(10, "10:40:00.000"), status("CLOSED"), AUTOMATION),
    # never answered
    item("unanswered", at(10, "11:00:00.000"), message("SMS"), CUSTOMER),
    # Gladly's AI replies first: reported apart, not a first response
    item("ai-first", at(10, "12:00:00.000"), message("CHAT_MESSAGE"), CUSTOMER),
    item("ai-first", at(10, "12:00:05.000"), message("CHAT_MESSAGE"), SIDEKICK, CUSTOMER),
    item("ai-first", at(10, "12:01:00.000"), message("CHAT_MESSAGE"), CUSTOMER),
    item("ai-first", at(10, "12:05:00.000"), message("CHAT_MESSAGE"), A2, CUSTOMER),
    # the agent writes first: only what follows the customer's message answers it
    item("outbound", at(10, "08:50:00.000"), message(), A1, CUSTOMER),
    item("outbound", at(10, "09:00:00.000"), message(), CUSTOMER, A1),
    item("outbound", at(10, "09:30:00.000"), message(), A1, CUSTOMER),
    # topics added and removed; a re-added topic moves to the end; t-unknown has no name
    item("topics", at(10, "13:00:00.000"), message("WHATSAPP"), CUSTOMER),
    item("topics", at(10, "13:01:00.000"), topics(["t-1"]), A1),
    item("topics", at(10, "13:02:00.000"), topics(["t-2"], ["t-1"]), AUTOMATION),
    item("topics", at(10, "13:03:00.000"), topics(["t-unknown", "t-1"]), A1),
    item("topics", at(10, "13:04:00.000"), topics(["t-2"], ["t-1"]), A1),
    # a missed call, then a call answered 20 s after it rang, 5 min long
    item("calls", at(10, "14:00:00.000"), call(at(10, "14:00:00.000"), None, at(10, "14:00:30.000")), CUSTOMER),
    item(
        "calls",
        at(10, "14:10:00.000"),
        call(at(10, "14:10:00.000"), at(10, "14:10:20.000"), at(10, "14:15:20.000")),
        CUSTOMER,
        A1,
    ),
    # closed by nobody in particular (no initiator)
    item("silent-close", at(10, "15:00:00.000"), message(), CUSTOMER),
    item("silent-close", at(10, "15:30:00.000"), status("CLOSED")),
    # open since two days before, nothing happens on the 9th
    item("backlog", at(8, "23:59:59.999"), message(), CUSTOMER),
    # left out, and counted
    item(None, at(10, "16:00:00.000"), {"type": "CUSTOMER_ACTIVITY", "title": "Order shipped"}, ("shop", "API")),
    item("", at(10, "16:00:00.000"), message(), CUSTOMER),
    item("bad-time", "yesterday", message(), CUSTOMER),
]


def create_tables(db: Path, items: list[dict[str, Any]], columns: dict[str, str] = ITEM_COLUMNS) -> None:
    with duckdb.connect(str(db)) as connection:
        connection.execute("CREATE SCHEMA IF NOT EXISTS gladly")
        declared = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS gladly.conversation_items ({declared}, "
            "_job_id VARCHAR NOT NULL, _job_updated_at TIMESTAMPTZ NOT NULL)"
        )
        connection.execute(
            "CREATE TABLE IF NOT EXISTS gladly.topics (id VARCHAR, name VARCHAR, _job_id VARCHAR, _job_updated_at TIMESTAMPTZ)"
        )
        connection.execute(
            "CREATE TABLE IF NOT EXISTS gladly.agents (id VARCHAR, name VARCHAR, emailAddress VARCHAR, "
            "_job_id VARCHAR, _job_updated_at TIMESTAMPTZ)"
        )
        names = list(columns)
        connection.executemany(
            f"INSERT INTO gladly.conversation_items ({', '.join(f'{chr(34)}{n}{chr(34)}' for n in names)}, "
            f"_job_id, _job_updated_at) VALUES ({', '.join('?' for _ in names)}, ?, ?)",
            [
                [
                    json.dumps(row[name]) if columns[name] == "JSON" and row[name] is not None else row[name]
                    for name in names
                ]
                + list(row["_job"])
                for row in items
            ],
        )


def set_lookup(db: Path, table: str, rows: list[tuple[Any, ...]], job: tuple[str, datetime] = JOB_1) -> None:
    with duckdb.connect(str(db)) as connection:
        for row in rows:
            connection.execute(f"DELETE FROM gladly.{table} WHERE id = ?", [row[0]])
            marks = ", ".join("?" for _ in range(len(row) + 2))
            connection.execute(f"INSERT INTO gladly.{table} VALUES ({marks})", [*row, *job])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.duckdb"
    create_tables(path, ITEMS)
    set_lookup(path, "topics", [("t-1", "Refund"), ("t-2", "Billing | <b>VIP</b>")])
    set_lookup(path, "agents", [("agent-1", "Ada", "ada@acme.example"), ("agent-2", "Bo", "bo@acme.example")])
    return path


def build_all(db: Path, previous: dict[str, dict[str, Mark]] | None = None) -> dict[str, dict[str, Mark]]:
    marks = {}
    with duckdb.connect(str(db)) as connection:
        warehouse = AnalyticsWarehouse(connection)
        for model in MODELS:
            result = warehouse.build(model, (previous or {}).get(model.name), facts=CONVERSATION_FACTS)
            marks[model.name] = result.marks
    return marks


def table(db: Path, model: AnalyticsModel) -> list[dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as connection:
        cursor = connection.execute(f"FROM gladly_analytics.{model.name} ORDER BY {', '.join(model.key)}")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def facts(db: Path) -> dict[str, dict[str, Any]]:
    return {row["conversation_id"]: row for row in table(db, CONVERSATION_FACTS)}


@pytest.mark.parametrize(
    ("conversation", "expected"),
    [
        (
            "reopened",
            {
                "channel": "EMAIL",
                "first_customer_message_at": instant(at(10, "09:00:00")),
                "first_agent_response_at": instant(at(10, "09:10:00")),
                "first_responder_agent_id": "agent-1",
                "first_response_seconds": 600.0,
                "first_closed_at": instant(at(10, "09:20:00")),
                "last_closed_at": instant(at(10, "10:40:00")),
                "resolution_seconds": 6000.0,
                "times_reopened": 1,
                "status": "CLOSED",
                "agent_ids": ["agent-1", "agent-2"],
                "customer_messages": 2,
                "agent_messages": 2,
                "automated_messages": 0,
                "items": 7,
            },
        ),
        (
            "unanswered",
            {
                "channel": "SMS",
                "first_agent_response_at": None,
                "first_response_seconds": None,
                "resolution_seconds": None,
                "status": "OPEN",
                "times_reopened": 0,
                "agent_ids": [],
            },
        ),
        (
            "ai-first",
            {
                "first_automated_response_at": instant(at(10, "12:00:05")),
                "automated_messages": 1,
                "first_agent_response_at": instant(at(10, "12:05:00")),
                "first_responder_agent_id": "agent-2",
                "first_response_seconds": 300.0,
                "customer_messages": 2,
            },
        ),
        (
            "outbound",
            {
                "first_item_at": instant(at(10, "08:50:00")),
                "first_customer_message_at": instant(at(10, "09:00:00")),
                "first_agent_response_at": instant(at(10, "09:30:00")),
                "first_response_seconds": 1800.0,
            },
        ),
        (
            "topics",
            {"topic_ids": ["t-unknown", "t-2"], "topic_names": [None, "Billing | <b>VIP</b>"], "channel": "WHATSAPP"},
        ),
        (
            "calls",
            {
                "channel": "PHONE_CALL",
                "first_customer_message_at": instant(at(10, "14:00:00")),
                "first_agent_response_at": instant(at(10, "14:10:20")),
                "first_response_seconds": 620.0,
                "first_responder_agent_id": "agent-1",
                "calls": 2,
                "calls_answered": 1,
                "call_seconds": 300.0,
                "customer_messages": 0,
            },
        ),
        ("silent-close", {"status": "CLOSED", "resolution_seconds": 1800.0, "agent_ids": []}),
    ],
)
def test_conversation_facts_edge_cases(db, conversation, expected):
    build_all(db)
    row = facts(db)[conversation]
    assert {key: row[key] for key in expected} == expected


def test_items_without_conversation_or_timestamp_are_left_out_and_counted(db):
    build_all(db)
    assert set(facts(db)) == {
        "reopened",
        "unanswered",
        "ai-first",
        "outbound",
        "topics",
        "calls",
        "silent-close",
        "backlog",
    }
    with duckdb.connect(str(db)) as connection:
        excluded = AnalyticsWarehouse(connection).excluded_items()
    assert excluded == {"items_without_conversation": 2, "items_without_timestamp": 1}


def test_agent_daily(db):
    build_all(db)
    rows = {(row["agent_id"], row["day"]): row for row in table(db, AGENT_DAILY)}
    assert set(rows) == {("agent-1", date(2026, 11, 10)), ("agent-2", date(2026, 11, 10))}
    ada = rows["agent-1", date(2026, 11, 10)]
    assert ada["agent_name"] == "Ada" and ada["agent_email"] == "ada@acme.example"
    # reopened 09:10, outbound 08:50 and 09:30
    assert ada["messages_sent"] == 3
    # reopened, outbound, topics (topic changes), calls (answered)
    assert ada["conversations_touched"] == 4
    assert ada["conversations_closed"] == 1
    # reopened (600 s), outbound (1800 s), calls (620 s)
    assert ada["conversations_first_responded"] == 3
    assert ada["median_first_response_seconds"] == 620.0
    assert ada["p90_first_response_seconds"] == pytest.approx(620 + 0.8 * 1180)
    assert ada["calls"] == 1 and ada["call_minutes"] == 5.0
    bo = rows["agent-2", date(2026, 11, 10)]
    assert (bo["messages_sent"], bo["conversations_first_responded"], bo["conversations_closed"]) == (2, 1, 0)


def test_daily_overview_carries_the_backlog_over_quiet_days(db):
    build_all(db)
    rows = {(row["day"], row["channel"]): row for row in table(db, DAILY_OVERVIEW)}
    email = [rows.get((date(2026, 11, d), "EMAIL")) for d in (8, 9, 10)]
    # "backlog" opened on the 8th and stays open; on the 10th "outbound" opens too; "reopened"
    # closes, reopens and closes; "silent-close" closes.
    assert [row["open_backlog"] for row in email] == [1, 1, 2]
    assert [row["new_conversations"] for row in email] == [1, 0, 3]
    assert email[2]["conversations_closed"] == 2
    assert email[2]["conversations_reopened"] == 1
    assert email[2]["median_resolution_seconds"] == pytest.approx((6000 + 1800) / 2)
    assert rows[date(2026, 11, 10), "SMS"]["open_backlog"] == 1
    assert rows[date(2026, 11, 10), "PHONE_CALL"]["median_first_response_seconds"] == 620.0


def test_incremental_refresh_equals_full_rebuild(db):
    marks = build_all(db)
    # A second job continues "unanswered", renames a topic and an agent; a late job (older
    # updatedAt, applied afterwards) reopens "silent-close".
    create_tables(
        db,
        [
            item("unanswered", at(11, "08:00:00.000"), message("SMS"), A2, CUSTOMER, job=JOB_2),
            item("unanswered", at(11, "08:05:00.000"), status("CLOSED"), A2, job=JOB_2),
            item("late", at(11, "09:00:00.000"), message(), CUSTOMER, job=JOB_2),
        ],
    )
    set_lookup(db, "topics", [("t-2", "Invoices")], job=JOB_2)
    set_lookup(db, "agents", [("agent-1", "Ada L.", "ada@acme.example")], job=JOB_2)
    marks = build_all(db, marks)
    create_tables(
        db,
        [
            item("silent-close", at(11, "10:00:00.000"), message(), CUSTOMER, job=JOB_LATE),
            item("silent-close", at(11, "10:00:01.000"), status("OPEN"), job=JOB_LATE),
        ],
    )
    with duckdb.connect(str(db)) as connection:
        result = AnalyticsWarehouse(connection).build(CONVERSATION_FACTS, marks[CONVERSATION_FACTS.name])
    assert (result.mode, result.recomputed) == ("incremental", 1)
    build_all(db, {**marks, CONVERSATION_FACTS.name: result.marks})

    incremental = {model.name: table(db, model) for model in MODELS}
    row = facts(db)
    assert row["unanswered"]["first_response_seconds"] == timedelta(hours=21).total_seconds()
    assert row["topics"]["topic_names"] == [None, "Invoices"]
    assert row["silent-close"]["times_reopened"] == 1 and row["silent-close"]["status"] == "OPEN"
    assert {r["agent_name"] for r in incremental[AGENT_DAILY.name] if r["agent_id"] == "agent-1"} == {"Ada L."}

    with duckdb.connect(str(db)) as connection:
        warehouse = AnalyticsWarehouse(connection)
        for model in MODELS:
            assert warehouse.build(model, None, "test", facts=CONVERSATION_FACTS).mode == "full"
    for model in MODELS:
        assert table(db, model) == incremental[model.name], model.name


def test_checks_catch_broken_rows(db):
    build_all(db)
    with duckdb.connect(str(db)) as connection:
        connection.execute(
            "INSERT INTO gladly_analytics.conversation_facts BY NAME "
            "SELECT * REPLACE ('ghost' AS conversation_id, -5.0 AS first_response_seconds, "
            "first_customer_message_at - INTERVAL 1 HOUR AS first_agent_response_at) "
            "FROM gladly_analytics.conversation_facts WHERE conversation_id = 'reopened'"
        )
        connection.execute(
            "INSERT INTO gladly_analytics.conversation_facts FROM gladly_analytics.conversation_facts "
            "WHERE conversation_id = 'calls'"
        )
        results = {r.check_name: r for r in evaluate_checks(CONVERSATION_FACTS, AnalyticsWarehouse(connection))}
    assert not results["key_is_unique"].passed
    assert results["key_is_unique"].metadata["duplicate_keys"].value == 1
    for name in ("conversations_exist_in_items", "no_negative_durations", "response_not_before_customer_message"):
        assert not results[name].passed, name
        assert results[name].metadata["offending_rows"].value == 1, name


def test_tolerates_missing_and_malformed_columns(tmp_path):
    """A table whose files never had ``responder`` nor ``customerId``, with ``content`` stored as
    text (a hand-made table), one value of it not JSON at all."""
    db = tmp_path / "odd.duckdb"
    columns = {k: v for k, v in ITEM_COLUMNS.items() if k not in ("responder", "customerId")} | {"content": "VARCHAR"}
    rows = [
        item("c", at(10, "09:00:00.000"), message(), CUSTOMER),
        item("c", at(10, "09:01:00.000"), message(), A1),
        {**item("c", at(10, "09:02:00.000"), {}, A1), "content": "{not json"},
    ]
    rows[0]["content"] = json.dumps(rows[0]["content"])
    rows[1]["content"] = json.dumps(rows[1]["content"])
    create_tables(db, rows, columns)
    build_all(db)
    row = facts(db)["c"]
    assert (row["items"], row["first_response_seconds"], row["customer_id"]) == (3, 60.0, None)


@pytest.mark.parametrize(
    "hostile",
    ["a | b", "line\nbreak", "<script>alert(1)</script>", "[x](javascript:alert(1))", "**bold** _it_ `code`", "\\|"],
)
def test_markdown_cells_cannot_break_the_preview(hostile):
    cell = markdown_cell(hostile)
    assert "\n" not in cell
    unescaped = cell.replace("\\\\", "").replace("\\|", "").replace("\\<", "").replace("\\[", "")
    assert "|" not in unescaped and "<" not in unescaped and "[" not in unescaped
    assert markdown_table(["name"], [(hostile,)]).count("\n") == 2


def test_incremental_refresh_without_topics_or_agents_tables(tmp_path):
    """Only conversation_items was ever loaded: new items are still found and recomputed."""
    db = tmp_path / "items-only.duckdb"
    create_tables(db, ITEMS[:8])
    with duckdb.connect(str(db)) as connection:
        connection.execute("DROP TABLE gladly.topics; DROP TABLE gladly.agents")
        first = AnalyticsWarehouse(connection).build(CONVERSATION_FACTS, None)
    create_tables(
        db,
        [
            item("unanswered", at(11, "08:00:00.000"), message("SMS"), A2, CUSTOMER, job=JOB_2),
            item("unanswered", at(11, "08:01:00.000"), status("CLOSED"), A2, job=JOB_2),
        ],
    )
    with duckdb.connect(str(db)) as connection:
        connection.execute("DROP TABLE gladly.topics; DROP TABLE gladly.agents")
        result = AnalyticsWarehouse(connection).build(CONVERSATION_FACTS, first.marks)
    assert (result.mode, result.recomputed, result.rows_inserted) == ("incremental", 1, 1)
    assert facts(db)["unanswered"]["first_responder_agent_id"] == "agent-2"


def test_a_timestamp_from_year_one_cannot_stretch_daily_overview(db):
    create_tables(db, [item("ancient", "0001-01-01T00:00:00.000Z", message(), CUSTOMER)])
    build_all(db)
    rows = table(db, DAILY_OVERVIEW)
    assert min(row["day"] for row in rows) == date(2026, 11, 10) - timedelta(days=3652)
    assert len(rows) <= 3653 * 4
    # The ancient conversation is still open, so it counts in every day's backlog.
    email = {row["day"]: row["open_backlog"] for row in rows if row["channel"] == "EMAIL"}
    assert email[date(2026, 11, 10)] == 3
