"""The simulator's Reports API speaks /work/shared/gladly-reports-api.md over real HTTP,
and its reports tell the same story as the export files."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gladly_assets.simulator import GladlySimulator
from gladly_assets.simulator.__main__ import parse_args, report_options
from gladly_assets.simulator.reports import BadRequest, ReportOptions, format_cell, parse_report_request, render_csv
from gladly_assets.simulator.reports_sets import METRIC_SETS, WORK_SESSION_EVENTS, rows_in_window

from .helpers import simulator_client

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAY = "2026-11-18"
ITEMS = "conversation_items.jsonl"
BOM = "\ufeff".encode()


def header_line(text: str) -> list[str]:
    return next(csv.reader([text]))


# The literal headers of the contract (§2.1, §2.3, §2.4, §2.5): what a client must expect.
CONVERSATION_HEADER = header_line(
    "Timezone Filter,Inboxes Filter,Created At,Conversation ID,Customer ID,Conversation Link,Status,Assigned Agent ID - Current,Assigned Agent Name - Current,Inbox ID - Current,Inbox Name - Current,First Closed At,Last Closed At,Initiator Type - Created,Initiator Agent ID - Created,Initiator Agent Name - Created,Inbox ID - Created,Inbox Name - Created,Assigned Agent ID - Created,Assigned Agent Name - Created,Initiator Type - Last Closed,Initiator Agent ID - Last Closed,Initiator Agent Name - Last Closed,Initiator Rule ID - Last Closed,Inbox ID - Last Closed,Inbox Name - Last Closed,Assigned Agent ID - Last Closed,Assigned Agent Name - Last Closed,Topics,Topics with Hierarchy,First Contact ID,First Channel,Second Channel,Third Channel,Last Channel,Created-to-First Closed Time in seconds,Created-to-Last Closed Time in seconds,Conversation Handle Time in seconds,Is FCR Eligible,Is FCR Success,Merged Conversations,Count of Contacts,Count of Channels,Count of Notes,Count of Agents Assigned,Count of Inboxes Assigned,Times Agent Unassigned by Rule,Times Closed,Times Reopened,Times Topic Added,Times Topic Removed,Payment Requests - Completed,Payment Requests - Declined,Payment Amount - Completed USD,Payment Amount - Declined USD"
)
CONVERSATION_EVENT_HEADER = header_line(
    "Timezone Filter,Timestamp,Event Type,Conversation ID,Customer ID,Initiator Type,Initiator ID,Initiator Agent Name,Assigned Inbox ID,Assigned Inbox Name,Assigned Agent ID,Assigned Agent Name,Topic ID,Topic Name,Newly Assigned Inbox ID,Newly Assigned Inbox Name,Newly Assigned Agent ID,Newly Assigned Agent Name,Assignment Update Reason,Merged Customer ID,Merged Conversation ID"
)
CONTACT_EVENT_HEADER = [
    "Timezone Filter", "Timestamp", "Event Type", "Contact ID", "Conversation ID", "Customer ID", "Channel",
    "Initiator Type", "Initiator ID", "Initiator Agent Name", "Assigned Inbox ID", "Assigned Inbox Name",
    "Assigned Agent ID", "Assigned Agent Name",
]  # fmt: skip
WORK_SESSION_HEADER = [
    "id", "contact_session_id", "contact_session_created_at", "customer_id", "conversation_id", "inbox_id",
    "channel", "direction", "agent_accepted_at", "contact_session_routed_at", "agent_id", "sla_fulfilled_at",
    "contact_session_ended_at", "status", "within_sla", "work_session_handle_time_sec",
    "work_session_after_contact_time_sec", "work_session_unknown_time_sec", "accepted_inbox_id",
]  # fmt: skip
# ContactExportReportV3: the columns the contract marks as spelled so (✓) and the filter echoes.
CONTACT_KNOWN_COLUMNS = [
    "Timezone Filter", "Channel Filter", "Inboxes Filter", "Queued At", "Customer ID", "Conversation ID",
    "Contact ID", "Channel", "Direction", "Contact Initiator", "Entry Point", "Final IVR Selection",
    "Fulfilled by Contact ID", "Payment Requests - Completed", "Payment Requests - Declined",
    "Payment Amount - Completed USD", "Payment Amount - Declined USD",
]  # fmt: skip
COMMUNICATION = {
    "CHAT_MESSAGE", "EMAIL", "PHONE_CALL", "VOICEMAIL", "SMS", "WHATSAPP", "FACEBOOK_MESSAGE", "INSTAGRAM_DIRECT",
}  # fmt: skip
UNLIMITED = {"requests_per_window": None, "concurrent": None}


def make_sim(rate_limit_per_second: int | None = None, **report_options: Any) -> GladlySimulator:
    options = ReportOptions(**{**UNLIMITED, **report_options})
    return GladlySimulator(seed=7, now=NOW, rate_limit_per_second=rate_limit_per_second, report_options=options)


@pytest.fixture
def sim() -> Iterator[GladlySimulator]:
    with make_sim() as simulator:
        yield simulator


def client(sim: GladlySimulator, **kwargs: Any) -> httpx.Client:
    return simulator_client(sim, **kwargs)


def report(http: httpx.Client, metric_set: str, start: str = DAY, end: str = DAY, **body: Any) -> httpx.Response:
    return http.post(
        "/reports", json={"metricSet": metric_set, "startAt": start, "endAt": end, "timezone": "UTC", **body}
    )


def parse(content: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows, as a careful client reads them: BOM stripped, RFC 4180 quoting."""
    assert content.startswith(BOM)
    reader = csv.reader(io.StringIO(content[len(BOM) :].decode(), newline=""))
    header = next(reader)
    rows = [dict(zip(header, row, strict=True)) for row in reader]
    return header, rows


# --------------------------------------------------------------------------- an independent oracle


def printed(text: str) -> str:
    """An item instant as the reports print it in UTC: milliseconds and a Z (items carry 2 to 9 digits)."""
    instant = datetime.fromisoformat(text).astimezone(UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def items_by_conversation(sim: GladlySimulator) -> dict[str, list[dict]]:
    """Every conversation's items, in time order (export order breaks ties), instants as the reports print them;
    ``at`` keeps the exact instant."""
    grouped: dict[str, list[tuple[datetime, int, dict]]] = defaultdict(list)
    for number, item in enumerate(sim.conversation_items()):
        if "conversationId" not in item:  # not part of a conversation
            continue
        at = datetime.fromisoformat(item["timestamp"])
        content = dict(item["content"])
        for key in ("answeredAt", "completedAt"):
            if content.get(key):
                content[key] = printed(content[key])
        entry = {**item, "timestamp": printed(item["timestamp"]), "at": at, "content": content}
        grouped[item["conversationId"]].append((at, number, entry))
    return {cid: [entry[2] for entry in sorted(entries, key=lambda e: e[:2])] for cid, entries in grouped.items()}


def expected_conversation(items: list[dict]) -> dict[str, str]:
    closes, reopens, status = [], 0, "OPEN"
    for item in items:
        content = item["content"]
        if content["type"] != "CONVERSATION_STATUS_CHANGE":
            continue
        if content["status"] == "CLOSED" and status == "OPEN":
            closes.append(item["timestamp"])
        elif content["status"] == "OPEN" and status == "CLOSED":
            reopens += 1
        status = content["status"]
    return {
        "Created At": items[0]["timestamp"],
        "Customer ID": items[0]["customerId"],
        "Status": status,
        "First Closed At": closes[0] if closes else "",
        "Last Closed At": closes[-1] if closes else "",
        "Times Closed": str(len(closes)),
        "Times Reopened": str(reopens),
    }


def expected_contacts(items: list[dict]) -> list[str]:
    """The channel of each contact: a new one per call, per channel switch, and after a close."""
    channels: list[str] = []
    open_channel = None
    for item in items:
        kind = item["content"]["type"]
        if kind == "CONVERSATION_STATUS_CHANGE" and item["content"]["status"] == "CLOSED":
            open_channel = None
        elif kind in COMMUNICATION:
            if kind != open_channel or kind == "PHONE_CALL":
                channels.append(kind)
            open_channel = None if kind == "PHONE_CALL" else kind
    return channels


def created_on(items: list[dict], day: str) -> bool:
    return items[0]["timestamp"].startswith(day)


# --------------------------------------------------------------------------- the sets


def test_conversation_export_matches_the_items_of_the_day(sim: GladlySimulator) -> None:
    with client(sim) as http:
        response = report(http, "ConversationExportReport")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=ConversationExportReport-20261118-20261118-Daily.csv"
    )
    header, rows = parse(response.content)
    assert header == CONVERSATION_HEADER
    conversations = {cid: items for cid, items in items_by_conversation(sim).items() if created_on(items, DAY)}
    assert conversations  # the day has activity
    assert Counter(row["Conversation ID"] for row in rows) == Counter(conversations.keys())
    for row in rows:
        items = conversations[row["Conversation ID"]]
        expected = expected_conversation(items)
        assert {key: row[key] for key in expected} == expected, row["Conversation ID"]
        assert row["Timezone Filter"] == "UTC" and row["Inboxes Filter"] == "All Inboxes"
        channels = expected_contacts(items)
        assert int(row["Count of Contacts"]) == len(channels)
        if channels:
            assert row["First Contact ID"] != ""
        closed = expected["First Closed At"] != ""
        assert (row["Created-to-First Closed Time in seconds"] != "") == closed
        if closed:
            first_close = next(i["at"] for i in items if i["timestamp"] == expected["First Closed At"])
            elapsed = (first_close - items[0]["at"]).total_seconds()
            assert float(row["Created-to-First Closed Time in seconds"]) == pytest.approx(elapsed, abs=1e-6)
    # Reopened and still-open conversations occur: the comparison is not vacuous.
    assert any(row["Times Reopened"] != "0" for row in rows)
    assert any(row["Status"] == "OPEN" for row in rows) or all(row["Last Closed At"] for row in rows)


def test_contact_export_has_one_row_per_contact(sim: GladlySimulator) -> None:
    with client(sim) as http:
        header, contacts = parse(report(http, "ContactExportReportV3").content)
        _, conversations = parse(report(http, "ConversationExportReport", "2026-11-01", "2026-11-20").content)
    assert set(CONTACT_KNOWN_COLUMNS) <= set(header)
    assert header[:3] == ["Timezone Filter", "Channel Filter", "Inboxes Filter"]
    assert len({row["Contact ID"] for row in contacts}) == len(contacts)
    count_of_contacts = {row["Conversation ID"]: int(row["Count of Contacts"]) for row in conversations}
    per_conversation = Counter(row["Conversation ID"] for row in contacts)
    items = items_by_conversation(sim)
    for conversation_id, count in per_conversation.items():
        # Contacts queued that day belong to conversations with at least that many contacts.
        assert count <= count_of_contacts[conversation_id]
        queued = sorted(row["Queued At"] for row in contacts if row["Conversation ID"] == conversation_id)
        assert all(q.startswith(DAY) for q in queued)
    calls = {item["id"]: item for group in items.values() for item in group if item["content"]["type"] == "PHONE_CALL"}
    by_start = {(c["conversationId"], c["timestamp"]): c for c in calls.values()}
    checked = 0
    for row in contacts:
        assert row["Direction"] in ("INBOUND", "OUTBOUND")
        if row["Channel"] != "PHONE_CALL":
            continue
        call = by_start[(row["Conversation ID"], row["Queued At"])]["content"]
        assert row["Ended At"] == call["completedAt"]
        if row["Direction"] == "INBOUND":
            assert row["Accepted At"] == (call.get("answeredAt") or "")
            assert row["Times Missed"] == ("1" if call.get("answeredAt") is None else "0")
            checked += 1
    assert checked > 0


def test_conversation_timestamps_follow_status_changes(sim: GladlySimulator) -> None:
    with client(sim) as http:
        response = report(http, "ConversationTimestampsReport")
    header, events = parse(response.content)
    assert header == CONVERSATION_EVENT_HEADER
    expected: Counter[tuple[str, str, str]] = Counter()
    for conversation_id, items in items_by_conversation(sim).items():
        status = "OPEN"
        if created_on(items, DAY):
            expected[("CONVERSATION/CREATED", conversation_id, items[0]["timestamp"])] += 1
        for item in items:
            content = item["content"]
            if content["type"] != "CONVERSATION_STATUS_CHANGE":
                continue
            if item["timestamp"].startswith(DAY) and content["status"] != status:
                kind = "CONVERSATION/CLOSED" if content["status"] == "CLOSED" else "CONVERSATION/REOPENED"
                expected[(kind, conversation_id, item["timestamp"])] += 1
            status = content["status"]
    kinds = {"CONVERSATION/CREATED", "CONVERSATION/CLOSED", "CONVERSATION/REOPENED"}
    actual = Counter(
        (e["Event Type"], e["Conversation ID"], e["Timestamp"]) for e in events if e["Event Type"] in kinds
    )
    assert actual == expected
    assert {e["Event Type"] for e in events} >= {"CONVERSATION_ASSIGNEE/UPDATED", "CONVERSATION/TOPIC_ADDED"}
    assert all(e["Timestamp"].startswith(DAY) for e in events)


def test_contact_timestamps_start_and_end_every_contact(sim: GladlySimulator) -> None:
    with client(sim) as http:
        header, events = parse(report(http, "ContactTimestampsReport").content)
        _, contacts = parse(report(http, "ContactExportReportV3").content)
    assert header == CONTACT_EVENT_HEADER
    started = {(e["Contact ID"], e["Timestamp"]) for e in events if e["Event Type"] == "CONTACT/STARTED"}
    assert started == {(c["Contact ID"], c["Queued At"]) for c in contacts}
    ended = {(e["Contact ID"], e["Timestamp"]) for e in events if e["Event Type"] == "CONTACT/ENDED"}
    assert ended >= {(c["Contact ID"], c["Ended At"]) for c in contacts if c["Ended At"].startswith(DAY)}


@pytest.mark.parametrize("path", ["/reports", "/reports/work-session-events"])
def test_work_sessions_one_row_per_contact_and_agent(sim: GladlySimulator, path: str) -> None:
    body = {"startAtTime": f"{DAY}T00:00Z", "endAtTime": f"{DAY}T23:59Z"}
    if path == "/reports":
        body["metricSet"] = "WorkSessionEventsReportV4"
    with client(sim) as http:
        response = http.post(path, json=body)
        _, contacts = parse(report(http, "ContactExportReportV3", "2026-11-01", "2026-11-20").content)
    name = "WorkSessionEventsReport" if path != "/reports" else "WorkSessionEventsReportV4"
    assert response.headers["Content-Disposition"] == f"attachment; filename={name}-20261118T0000Z-20261118T2359Z.csv"
    header, sessions = parse(response.content)
    assert header == WORK_SESSION_HEADER
    keys = [(s["contact_session_id"], s["agent_id"]) for s in sessions]
    assert len(set(keys)) == len(keys) and sessions
    known = {c["Contact ID"]: c for c in contacts}
    for session in sessions:
        contact = known[session["contact_session_id"]]
        placed = session["contact_session_ended_at"] or session["contact_session_created_at"]
        assert placed.startswith(DAY)
        assert session["contact_session_ended_at"] == contact["Ended At"]
        assert (session["id"] != "") == (contact["Ended At"] != "")  # an id only once the contact ended


def test_a_new_job_shows_in_the_reports_and_the_model_is_cached(sim: GladlySimulator) -> None:
    first = sim.reports.conversations()
    assert sim.reports.conversations() is first  # the same jobs: derived once
    job = sim.complete_job(updated_at=NOW + timedelta(days=1), malformed_lines=3)
    day = job["parameters"]["startAt"][:10]
    with client(sim) as http:
        _, rows = parse(report(http, "ConversationExportReport", day, day).content)
    assert sim.reports.conversations() is not first
    new = {cid for cid, items in items_by_conversation(sim).items() if created_on(items, day)}
    assert {row["Conversation ID"] for row in rows} == new and new


# --------------------------------------------------------------------------- windows and CSV


def test_timezone_moves_the_window_and_the_printed_offset(sim: GladlySimulator) -> None:
    with client(sim) as http:
        _, utc_rows = parse(report(http, "ConversationExportReport", "2026-11-17", "2026-11-19").content)
        body = {"metricSet": "ConversationExportReport", "startAt": DAY, "endAt": DAY, "timezone": "America/New_York"}
        _, ny_rows = parse(http.post("/reports", json=body).content)
        del body["timezone"]
        _, default_rows = parse(http.post("/reports", json=body).content)
    start, end = datetime(2026, 11, 18, 5, tzinfo=UTC), datetime(2026, 11, 19, 5, tzinfo=UTC)
    expected = {r["Conversation ID"] for r in utc_rows if start <= datetime.fromisoformat(r["Created At"]) < end}
    assert {r["Conversation ID"] for r in ny_rows} == expected and expected
    assert all(r["Created At"].endswith("-05:00") and r["Timezone Filter"] == "America/New_York" for r in ny_rows)
    assert default_rows == ny_rows  # the organization's zone when none is sent


def test_instant_windows_split_a_day_without_loss(sim: GladlySimulator) -> None:
    def contacts(start: str, end: str) -> list[str]:
        body = {"metricSet": "ContactExportReportV3", "startAtTime": start, "endAtTime": end}
        response = http.post("/reports", json=body)
        assert response.status_code == 200
        return [row["Contact ID"] for row in parse(response.content)[1]] if response.content else []

    with client(sim) as http:
        day = [row["Contact ID"] for row in parse(report(http, "ContactExportReportV3").content)[1]]
        morning = contacts(f"{DAY}T00:00Z", f"{DAY}T11:59Z")  # the end is inclusive to the minute
        afternoon = contacts(f"{DAY}T12:00Z", f"{DAY}T23:59Z")
        shifted = contacts(f"{DAY}T01:00+01:00", f"{DAY}T12:59+01:00")  # offsets are instants too
    assert sorted(morning + afternoon) == sorted(day) and morning and afternoon
    assert sorted(shifted) == sorted(morning)


def test_quoting_and_byte_order_mark_round_trip(sim: GladlySimulator) -> None:
    with client(sim) as http:
        content = report(http, "ContactExportReportV3", "2026-11-10", "2026-11-19").content
        sim.report_options.byte_order_mark = False
        plain = report(http, "ContactExportReportV3", "2026-11-10", "2026-11-19").content
        sim.report_options.line_terminator = "\n"
        lf = report(http, "ContactExportReportV3", "2026-11-10", "2026-11-19").content
    assert content == BOM + plain
    assert b"\r\n" not in lf and list(csv.reader(io.StringIO(lf.decode(), newline=""))) == list(
        csv.reader(io.StringIO(plain.decode(), newline=""))
    )
    header, rows = parse(content)
    cells = [cell for row in rows for cell in row.values()]
    assert any("\n" in cell for cell in cells)  # IVR selections
    assert any('"' in cell for cell in cells) and any("," in cell for cell in cells)
    assert b'"Speak to ""a person"" (press 0)"' in content  # quotes doubled inside a quoted cell
    assert b"\r\n" in content and content.endswith(b"\r\n")
    # An empty cell is a null, never the word.
    assert all(cell != "null" for cell in cells) and any(cell == "" for cell in cells)
    assert len(header) == len(set(header))


def test_empty_window_is_an_empty_body(sim: GladlySimulator) -> None:
    with client(sim) as http:
        response = report(http, "ConversationTimestampsReport", "2025-01-01", "2025-01-31")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["Content-Type"] == "text/csv"


def test_recent_header_style_drops_the_seconds_suffix(sim: GladlySimulator) -> None:
    with client(sim) as http:
        captured, rows = parse(report(http, "ConversationExportReport").content)
        sim.report_options.header_style = "recent"
        recent, recent_rows = parse(report(http, "ConversationExportReport").content)
    assert "Conversation Handle Time in seconds" in captured and "Conversation Handle Time" in recent
    assert "Count of Agents" in recent and not any(h.endswith(" in seconds") for h in recent)
    assert [list(r.values()) for r in recent_rows] == [list(r.values()) for r in rows]
    with pytest.raises(ValueError, match="header_style"):
        sim.report_options.header_style = "2019"


def test_same_seed_same_bytes() -> None:
    bodies = []
    for _ in range(2):
        with make_sim() as sim, client(sim) as http:
            bodies.append(
                [report(http, name).content for name in ("ConversationExportReport", "ContactTimestampsReport")]
            )
            assert bodies[-1] == [
                report(http, name).content for name in ("ConversationExportReport", "ContactTimestampsReport")
            ]
    assert bodies[0] == bodies[1]


def test_row_cap_drops_rows_silently(sim: GladlySimulator) -> None:
    with client(sim) as http:
        _, everything = parse(report(http, "ContactTimestampsReport").content)
        sim.report_options.row_cap = 7
        response = report(http, "ContactTimestampsReport")
    assert response.status_code == 200
    _, capped = parse(response.content)
    assert len(everything) > 7 and len(capped) == 7
    assert all(row in everything for row in capped)


# --------------------------------------------------------------------------- errors and filters


def bad(**body: Any) -> dict[str, Any]:
    return body


BAD_REQUESTS = [
    (bad(startAt=DAY, endAt=DAY), "metricSet", "blank"),
    (bad(metricSet="", startAt=DAY, endAt=DAY), "metricSet", "blank"),
    (bad(metricSet="NoSuchReport", startAt=DAY, endAt=DAY), "metricSet", "invalid"),
    (bad(metricSet="ConversationExportReport"), "startAt", "blank"),
    (bad(metricSet="ConversationExportReport", startAt=DAY), "endAt", "blank"),
    (bad(metricSet="ConversationExportReport", startAt=DAY, endAt="2026-11-17"), "endAt", "invalid"),
    (bad(metricSet="ConversationExportReport", startAt="18/11/2026", endAt=DAY), "startAt", "invalid"),
    (bad(metricSet="ConversationExportReport", startAt="2026-02-30", endAt=DAY), "startAt", "invalid"),
    (bad(metricSet="ConversationExportReport", startAt=DAY, endAt=DAY, timezone="Mars/Olympus"), "timezone", "invalid"),
    (bad(metricSet="ContactExportReportV3", startAt=DAY, endAt=DAY, startAtTime=f"{DAY}T00:00Z", endAtTime=f"{DAY}T01:00Z"), "startAtTime", "invalid"),
    (bad(metricSet="ContactExportReportV3", startAtTime=f"{DAY}T00:00Z", endAtTime=f"{DAY}T01:00Z", timezone="UTC"), "startAtTime", "invalid"),
    (bad(metricSet="ContactExportReportV3", startAtTime=f"{DAY}T02:00Z", endAtTime=f"{DAY}T01:00Z"), "startAtTime", "invalid"),
    (bad(metricSet="ContactExportReportV3", startAtTime=f"{DAY}T02:00Z"), "endAtTime", "blank"),
    (bad(metricSet="ContactExportReportV3", startAtTime="yesterday", endAtTime=f"{DAY}T01:00Z"), "startAtTime", "invalid"),
    (bad(metricSet="ConversationExportReport", startAtTime=f"{DAY}T00:00Z", endAtTime=f"{DAY}T01:00Z"), "startAtTime", "invalid"),
    (bad(metricSet="ContactExportReportV3", startAt=DAY, endAt=DAY, filters={"channel": "pigeon"}), "filters.channel", "invalid"),
    (bad(metricSet="ConversationExportReport", startAt=DAY, endAt=DAY, filters={"channel": "chat"}), "filters.channel", "invalid"),
    (bad(metricSet="ConversationExportReport", startAt=DAY, endAt=DAY, filters={"teams": ["x"]}), "filters.teams", "invalid"),
    (bad(metricSet="ConversationExportReport", startAt=DAY, endAt=DAY, filters={"inboxes": ["nope"]}), "filters.inboxes", "present"),
    (bad(metricSet="ConversationExportReport", startAt=DAY, endAt=DAY, aggregationLevel="hourly"), "aggregationLevel", "invalid"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "attr", "code"), BAD_REQUESTS)
def test_bad_requests_get_documented_400s(sim: GladlySimulator, body: dict, attr: str, code: str) -> None:
    with client(sim) as http:
        response = http.post("/reports", json=body)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["attr"], error["code"]) == (attr, code) and error["detail"]


def test_bodies_that_are_not_json_objects_get_400(sim: GladlySimulator) -> None:
    with client(sim) as http:
        for content in (b"", b"metricSet=ConversationExportReport", b"[1, 2]", b"\xff\xfe"):
            response = http.post("/reports", content=content, headers={"Content-Type": "application/json"})
            assert response.status_code == 400 and response.json()["errors"][0]["attr"] == "body"
        wse = http.post(
            "/reports/work-session-events", json={"startAtTime": f"{DAY}T02:00Z", "endAtTime": f"{DAY}T01:00Z"}
        )
        assert wse.status_code == 400
        assert wse.json()["errors"][0] == {
            "attr": "startAtTime",
            "code": "invalid",
            "detail": "endAtTime must occur after startAtTime",
        }
        dated = http.post("/reports/work-session-events", json={"startAt": DAY, "endAt": DAY})
        assert dated.status_code == 400 and dated.json()["errors"][0]["attr"] == "startAtTime"


def test_filters_narrow_and_echo(sim: GladlySimulator) -> None:
    with client(sim) as http:
        inboxes = {inbox["name"]: inbox["id"] for inbox in http.get("/inboxes").json()}
        _, everything = parse(report(http, "ContactExportReportV3").content)
        _, voice = parse(report(http, "ContactExportReportV3", filters={"channel": "voice"}).content)
        _, chat = parse(report(http, "ContactExportReportV3", filters={"inboxes": [inboxes["Web chat"]]}).content)
        lower = http.post(
            "/reports", json={"metricSet": "contactExportReportV3", "startAt": DAY, "endAt": DAY, "timezone": "UTC"}
        )
    assert {r["Contact ID"] for r in voice} == {
        r["Contact ID"] for r in everything if r["Channel"] in ("PHONE_CALL", "VOICEMAIL")
    } and voice
    assert all(r["Channel Filter"] == "Voice" for r in voice)
    assert {r["Contact ID"] for r in chat} == {
        r["Contact ID"] for r in everything if r["Inbox When Queued"] == "Web chat"
    } and chat
    assert all(r["Inboxes Filter"] == "Web chat" and r["Channel"] == "CHAT" for r in chat)
    assert lower.status_code == 200 and parse(lower.content)[1] == everything  # metric set names ignore case


# --------------------------------------------------------------------------- gates and limits


def test_same_gates_as_the_export_api(sim: GladlySimulator) -> None:
    body = {"metricSet": "ConversationExportReport", "startAt": DAY, "endAt": DAY}
    with client(sim, auth=None) as anonymous:
        assert anonymous.post("/reports", json=body).status_code == 401
        assert anonymous.get("/teams").status_code == 401
    with client(sim, auth=(sim.unprivileged_agent_email, sim.unprivileged_api_token)) as viewer:
        assert viewer.post("/reports", json=body).status_code == 403
    with client(sim) as http:
        assert http.get("/reports").status_code == 405
        assert http.post("/inboxes").status_code == 405
        assert http.post("/reports/other", json=body).status_code == 404
        wrong_org = http.post(sim.base_url.replace("/acme/", "/other/") + "/reports", json=body)
        assert wrong_org.status_code == 404


def test_teams_and_inboxes(sim: GladlySimulator) -> None:
    with client(sim) as http:
        teams, inboxes = http.get("/teams").json(), http.get("/inboxes").json()
        agents = http.get("/agents").json()
        _, conversations = parse(report(http, "ConversationExportReport").content)
        one_team = http.get(f"/teams/{teams[1]['id']}")
        missing = http.get("/inboxes/nope")
    assert all(set(team) == {"id", "name", "description", "agentIds"} for team in teams)
    assert all(set(inbox) == {"id", "name", "disabled"} for inbox in inboxes)
    assert len({inbox["name"] for inbox in inboxes}) == len(inboxes)
    assert any(inbox["disabled"] for inbox in inboxes)
    agent_ids = {agent["id"] for agent in agents if agent["name"] not in ("API User", "Read-only Viewer")}
    assert set().union(*(team["agentIds"] for team in teams)) == agent_ids
    assert {row["Inbox ID - Current"] for row in conversations} <= {inbox["id"] for inbox in inboxes}
    names = {inbox["id"]: inbox["name"] for inbox in inboxes}
    assert all(names[row["Inbox ID - Current"]] == row["Inbox Name - Current"] for row in conversations)
    assert one_team.status_code == 200 and one_team.json() == teams[1]
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "not_exist"


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_report_rate_limit_per_window() -> None:
    # A minute-long window, so that timing cannot let a fourth request through; a per-second
    # limit high enough never to refuse, for its headers.
    with make_sim(rate_limit_per_second=100, requests_per_window=3, window_seconds=60) as sim, client(sim) as http:
        statuses = [report(http, "ConversationTimestampsReport").status_code for _ in range(3)]
        refused = report(http, "ConversationTimestampsReport")
        exports = http.get("/export/jobs")  # other endpoints are not report requests
        assert statuses == [200, 200, 200] and exports.status_code == 200
        assert refused.status_code == 429
        assert "report requests" in refused.json()["errors"][0]["detail"]
        assert all(name in refused.headers for name in ("Ratelimit-Limit-Second", "Ratelimit-Remaining-Second"))
        sim.report_options.window_seconds = 0.5  # the earlier requests age out of a shorter window
        deadline = time.monotonic() + 10
        while (again := report(http, "ConversationTimestampsReport")).status_code == 429:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert again.status_code == 200


def test_report_concurrency_limit() -> None:
    with make_sim(concurrent=2) as sim:
        results: list[int] = []

        def fetch() -> None:
            with client(sim) as http:
                results.append(report(http, "ContactExportReportV3").status_code)

        with sim.reports.hold():
            threads = [threading.Thread(target=fetch) for _ in range(2)]
            for thread in threads:
                thread.start()
            wait_until(lambda: sim.reports.running() == 2)
            with client(sim) as http:
                third = report(http, "ContactExportReportV3")
                teams = http.get("/teams")  # not a report: not held, not limited
        for thread in threads:
            thread.join(timeout=30)
        assert third.status_code == 429 and teams.status_code == 200
        assert results == [200, 200]
        assert sim.reports.running() == 0


# --------------------------------------------------------------------------- faults


def test_faults_aimed_at_reports(sim: GladlySimulator) -> None:
    faults = sim.faults
    faults.applies_to = "reports"
    faults.server_errors = [503]
    with client(sim) as http:
        assert http.get("/export/jobs").status_code == 200  # not a report: untouched
        assert report(http, "ConversationExportReport").status_code == 503
        assert report(http, "ConversationExportReport").status_code == 200
        faults.report_bodies = ["html", "json", "text"]
        bodies = [report(http, "ConversationExportReport") for _ in range(3)]
        assert [r.status_code for r in bodies] == [200, 200, 200]
        assert [r.headers["Content-Type"].split(";")[0] for r in bodies] == [
            "text/html",
            "application/json",
            "text/plain",
        ]
        assert bodies[2].text == "Unexpected error occurred"
        faults.resets, faults.reset_after_bytes = 1, 100
        with pytest.raises(httpx.TransportError):
            report(http, "ConversationExportReport")
    with client(sim, timeout=0.3) as impatient:
        faults.stall_seconds, faults.stalls = 5, 1
        with pytest.raises(httpx.ReadTimeout):
            report(impatient, "ConversationExportReport")
    assert not faults.pending
    with pytest.raises(ValueError, match="report_bodies"):
        faults.report_bodies = ["xml"]


# --------------------------------------------------------------------------- CLI


def test_cli_report_options() -> None:
    args = parse_args(
        ["--report-requests", "0", "--report-concurrency", "3", "--report-row-cap", "5", "--report-no-bom", "--report-lf",
         "--report-headers", "recent", "--report-timezone", "UTC", "--report-bodies", "html,text"]
    )  # fmt: skip
    assert report_options(args) == ReportOptions(
        requests_per_window=None,
        concurrent=3,
        row_cap=5,
        byte_order_mark=False,
        line_terminator="\n",
        header_style="recent",
        organization_timezone="UTC",
    )
    assert args.report_bodies == ["html", "text"]
    assert report_options(parse_args([])) == ReportOptions()  # the CLI's defaults are Gladly's
    with pytest.raises(SystemExit):
        parse_args(["--report-bodies", "xml"])


# --------------------------------------------------------------------------- units: windows and cells

WINDOWS = [
    # (body, start, end) of the window the rows must fall in
    ({"startAt": DAY, "endAt": DAY, "timezone": "UTC"}, "2026-11-18T00:00+00:00", "2026-11-19T00:00+00:00"),
    ({"startAt": "2026-11-17", "endAt": DAY, "timezone": "UTC"}, "2026-11-17T00:00+00:00", "2026-11-19T00:00+00:00"),
    ({"startAt": DAY, "endAt": DAY, "timezone": "Asia/Tokyo"}, "2026-11-17T15:00+00:00", "2026-11-18T15:00+00:00"),
    # The US leaves daylight saving time on 2026-11-01: that local day lasts 25 hours.
    ({"startAt": "2026-11-01", "endAt": "2026-11-01", "timezone": "America/New_York"}, "2026-11-01T04:00+00:00", "2026-11-02T05:00+00:00"),
    ({"startAt": DAY, "endAt": DAY}, "2026-11-18T05:00+00:00", "2026-11-19T05:00+00:00"),  # the organization's zone
    ({"startAtTime": f"{DAY}T09:30Z", "endAtTime": f"{DAY}T09:30Z"}, "2026-11-18T09:30+00:00", "2026-11-18T09:31+00:00"),
    ({"startAtTime": f"{DAY}T09:30-09:00", "endAtTime": f"{DAY}T10:00:45Z"}, "2026-11-18T18:30+00:00", "2026-11-18T10:01+00:00"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "start", "end"), WINDOWS)
def test_report_windows(body: dict, start: str, end: str) -> None:

    payload = json.dumps({"metricSet": "ContactExportReportV3", **body}).encode()
    if datetime.fromisoformat(end) <= datetime.fromisoformat(start):
        with pytest.raises(BadRequest):
            parse_report_request(payload, ReportOptions(), [])
        return
    request = parse_report_request(payload, ReportOptions(), [])
    assert (request.start, request.end) == (datetime.fromisoformat(start), datetime.fromisoformat(end))


cell_text = st.text(st.characters(codec="utf-8", exclude_characters="\r"), max_size=30)


@given(rows=st.lists(st.fixed_dictionaries({"a": cell_text, "b": st.one_of(st.none(), cell_text)}), max_size=5))
def test_csv_cells_round_trip_through_the_csv_module(rows: list[dict[str, str | None]]) -> None:

    body = render_csv(["a", "b"], ["A, first", 'B "second"'], {"Timezone Filter": "UTC"}, rows, ZoneInfo("UTC"), True)
    if not rows:
        assert body == b""
        return
    header, parsed = parse(body)
    assert header == ["Timezone Filter", "A, first", 'B "second"']
    assert [(r["A, first"], r['B "second"']) for r in parsed] == [(row["a"], row["b"] or "") for row in rows]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (12, "12"),
        (0.0, "0"),
        (-0.0, "0"),
        (1.5, "1.5"),
        (17149.683457143, "17149.683457143"),
        (-30.25, "-30.25"),
        (datetime(2026, 11, 18, 9, 5, 1, 72000, tzinfo=UTC), "2026-11-18T09:05:01.072Z"),
        ('a, "b"\nc', 'a, "b"\nc'),
    ],
)
def test_cells(value: object, text: str) -> None:

    assert format_cell(value, ZoneInfo("UTC")) == text
    if isinstance(value, datetime):
        assert format_cell(value, ZoneInfo("Asia/Kolkata")) == "2026-11-18T14:35:01.072+05:30"


@pytest.mark.parametrize("name", [*METRIC_SETS, WORK_SESSION_EVENTS.name])
def test_every_row_fills_exactly_its_sets_columns(sim: GladlySimulator, name: str) -> None:
    metric_set = METRIC_SETS.get(name, WORK_SESSION_EVENTS)
    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    rows = list(rows_in_window(metric_set, sim.reports.conversations(), sim.reports.names(), start, end))
    assert rows and all(row.keys() == set(metric_set.headers) for row in rows)
    assert len(set(metric_set.headers)) == len(metric_set.headers)
