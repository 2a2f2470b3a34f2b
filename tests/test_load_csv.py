"""The report CSV parser on CSV text written from the Reports API contract."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gladly_assets.errors import ReportFormatError
from gladly_assets.load.csv import event_keys, read_report, unique_rows
from gladly_assets.report_schema import EVENT_KEY_COLUMN, UNPARSED_COLUMN, normalize_header
from gladly_assets.reports.streams import STREAMS, STREAMS_BY_NAME

CONVERSATIONS = STREAMS_BY_NAME["conversations"]
EVENTS = STREAMS_BY_NAME["conversation_timestamps"]
WORK = STREAMS_BY_NAME["work_session_events"]


def csv_text(headers: list[str], rows: list[list[str]], *, bom: bool = False, newline: str = "\r\n") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(headers)
    writer.writerows(rows)
    return ("\ufeff" if bom else "").encode() + buffer.getvalue().encode()


def conversation_csv(rows: list[dict[str, str]], *, extra: dict[str, str] | None = None, **options) -> bytes:
    """A ConversationExportReport with the filter echoes first, as the 2022/2023 captures show."""
    headers = ["Timezone Filter", "Inboxes Filter", *(c.header for c in CONVERSATIONS.columns), *(extra or {})]
    body = [
        ["UTC", "All Inboxes", *(row.get(c.header, "") for c in CONVERSATIONS.columns), *(extra or {}).values()]
        for row in rows
    ]
    return csv_text(headers, body, **options)


@pytest.fixture
def write(tmp_path):
    def write(data: bytes, name: str = "report.csv"):
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return write


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("Assigned Agent ID - Current", "assigned_agent_id_current"),
        ("Assigned Agent ID – Current", "assigned_agent_id_current"),  # the en-dash of Gladly's definitions
        ("Created-to-First Closed Time in seconds", "created_to_first_closed_time_in_seconds"),
        ("Seconds Within (-) or Over (+) SLA", "seconds_within_or_over_sla"),
        ("Avg. Agent Reply Time (sec)", "avg_agent_reply_time_sec"),
        ("Billable Resolution (Y/N)", "billable_resolution_y_n"),
        ("  Timezone Filter ", "timezone_filter"),
        ("contact_session_id", "contact_session_id"),
        ("--", ""),
    ],
)
def test_headers_normalize_to_snake_case(header, name):
    assert normalize_header(header) == name


@given(st.text())
def test_normalized_headers_are_snake_case_and_stable(header):
    name = normalize_header(header)
    assert all(ch.isascii() and (ch.isdigit() or ch.islower() or ch == "_") for ch in name)
    assert not name.startswith("_") and not name.endswith("_") and "__" not in name
    assert normalize_header(name) == name


def test_every_declared_header_normalizes_to_its_column_name():
    for stream in STREAMS:
        for column in stream.columns:
            assert normalize_header(column.header) == column.name, (stream.name, column.header)


def test_quoting_bom_crlf_types_and_filter_echoes(write):
    row = {
        "Created At": "2026-11-19T10:00:00.000Z",
        "Conversation ID": "c1",
        "Customer ID": "cust, 1",
        "Topics": 'Returns, "Exchanges"\nand more',
        "First Closed At": "2026-11-19 12:30:00",
        "Created-to-First Closed Time in seconds": "17149.683457143",
        "Is FCR Eligible": "true",
        "Is FCR Success": "FALSE",
        "Count of Contacts": "3",
        "Payment Amount - Completed USD": "12.5",
    }
    parsed = read_report(
        write(conversation_csv([row, {"Created At": "2026-11-19", "Conversation ID": "c2"}], bom=True)), CONVERSATIONS
    )
    frame = parsed.frame
    assert parsed.rows == 2 and parsed.unparsed_cells == 0 and parsed.new_columns == ()
    assert "timezone_filter" not in frame.columns and "inboxes_filter" not in frame.columns
    first = frame.row(0, named=True)
    assert first["created_at"] == datetime(2026, 11, 19, 10, tzinfo=UTC)
    assert first["customer_id"] == "cust, 1"
    assert first["topics"] == 'Returns, "Exchanges"\nand more'
    assert first["first_closed_at"] == datetime(2026, 11, 19, 12, 30, tzinfo=UTC)
    assert first["created_to_first_closed_time_in_seconds"] == pytest.approx(17149.683457143)
    assert (first["is_fcr_eligible"], first["is_fcr_success"]) == (True, False)
    assert first["count_of_contacts"] == 3
    assert first["payment_amount_completed_usd"] == 12.5
    assert first["last_closed_at"] is None and first["status"] is None  # empty cell = NULL
    assert frame.row(1, named=True)["created_at"] == datetime(2026, 11, 19, tzinfo=UTC)
    assert frame.schema["created_at"] == pl.Datetime("us", "UTC")
    assert frame.schema["count_of_contacts"] == pl.Int64
    assert frame.schema["is_fcr_success"] == pl.Boolean


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
@pytest.mark.parametrize("bom", [True, False])
def test_line_endings_and_bom_give_the_same_rows(write, newline, bom):
    rows = [{"Created At": "2026-11-19T10:00:00Z", "Conversation ID": "c1", "Topics": "a\r\nb"}]
    frame = read_report(write(conversation_csv(rows, bom=bom, newline=newline)), CONVERSATIONS).frame
    assert frame["conversation_id"].to_list() == ["c1"]
    assert frame["topics"].to_list() == ["a\r\nb"]


@pytest.mark.parametrize("body", [b"", b"   \r\n\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n  \n"])
def test_an_empty_body_is_an_empty_window(write, body):
    parsed = read_report(write(body), CONVERSATIONS)
    assert parsed.rows == 0 and parsed.frame.height == 0
    assert parsed.frame.schema["created_at"] == pl.Datetime("us", "UTC")


def test_blank_lines_before_the_header_are_skipped(write):
    data = b"\r\n\r\n" + conversation_csv([{"Created At": "2026-11-19T10:00:00Z", "Conversation ID": "c1"}])
    assert read_report(write(data), CONVERSATIONS).frame["conversation_id"].to_list() == ["c1"]


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"<!DOCTYPE html><html><title>Sign in to Gladly</title></html>", "HTML"),
        (b"\xef\xbb\xbf  <html><body>Maintenance</body></html>", "HTML"),
        (b'{"status": "ok"}', "JSON"),
        (b'[{"id": 1}]', "JSON"),
    ],
)
def test_a_body_that_is_not_csv_is_a_clear_error(write, body, kind):
    with pytest.raises(ReportFormatError, match=f"ConversationExportReport report with {kind}, not CSV"):
        read_report(write(body), CONVERSATIONS)


def test_an_error_text_is_not_a_report(write):
    with pytest.raises(ReportFormatError, match=r"not a report CSV.*Unexpected error occurred"):
        read_report(write(b"Unexpected error occurred"), STREAMS_BY_NAME["contact_timestamps"])


def test_a_missing_declared_column_names_it_and_the_metric_set(write):
    headers = [c.header for c in CONVERSATIONS.columns if c.name != "last_closed_at"]
    data = csv_text(headers, [["x"] * len(headers)])
    with pytest.raises(
        ReportFormatError, match=r"ConversationExportReport report lacks the declared column\(s\) last_closed_at"
    ):
        read_report(write(data), CONVERSATIONS)


def test_a_new_column_is_kept_as_text(write):
    data = conversation_csv(
        [{"Created At": "2026-11-19T10:00:00Z", "Conversation ID": "c1"}], extra={"Billable Resolution (Y/N)": "Y"}
    )
    parsed = read_report(write(data), CONVERSATIONS)
    assert parsed.new_columns == ("billable_resolution_y_n",)
    assert parsed.frame["billable_resolution_y_n"].to_list() == ["Y"]
    assert parsed.frame.schema["billable_resolution_y_n"] == pl.String


def test_older_and_newer_header_spellings_land_in_the_declared_column(write):
    headers = [
        {
            "Created-to-First Closed Time in seconds": "Created-to-First Closed Time",
            "Count of Agents Assigned": "Count of Agents",
        }.get(c.header, c.header)
        for c in CONVERSATIONS.columns
    ]
    values = ["" for _ in headers]
    values[0], values[1] = "2026-11-19T10:00:00Z", "c1"
    values[headers.index("Created-to-First Closed Time")] = "61.5"
    values[headers.index("Count of Agents")] = "2"
    frame = read_report(write(csv_text(headers, [values])), CONVERSATIONS).frame
    row = frame.row(0, named=True)
    assert row["created_to_first_closed_time_in_seconds"] == 61.5 and row["count_of_agents_assigned"] == 2


def test_a_value_that_does_not_parse_is_kept_as_text_not_lost(write):
    rows = [
        {
            "Created At": "2026-11-19T10:00:00Z",
            "Conversation ID": "c1",
            "Count of Notes": "many",
            "Is FCR Success": "maybe",
        },
        {"Created At": "2026-11-19T11:00:00Z", "Conversation ID": "c2", "Count of Notes": "4.0", "Status": "null"},
        {"Created At": "2026-11-19T12:00:00Z", "Conversation ID": "c3", "Count of Notes": "null"},
    ]
    parsed = read_report(write(conversation_csv(rows)), CONVERSATIONS)
    frame = parsed.frame
    assert parsed.unparsed_cells == 2
    assert frame["count_of_notes"].to_list() == [None, 4, None]
    unparsed = json.loads(frame[UNPARSED_COLUMN][0])
    assert {k: v for k, v in unparsed.items() if v is not None} == {"count_of_notes": "many", "is_fcr_success": "maybe"}
    assert frame[UNPARSED_COLUMN][1] is None and frame[UNPARSED_COLUMN][2] is None
    assert frame["status"][1] == "null"  # a literal null stays in a text column


def test_two_headers_that_normalize_alike_are_both_kept(write):
    headers = [c.header for c in CONVERSATIONS.columns] + ["STATUS"]
    values = ["2026-11-19T10:00:00Z", "c1"] + [""] * (len(headers) - 3) + ["second"]
    frame = read_report(write(csv_text(headers, [values])), CONVERSATIONS).frame
    assert frame["status_2"].to_list() == ["second"]


def test_a_row_with_more_cells_than_the_header_is_a_clear_error(write):
    data = (
        conversation_csv([{"Created At": "2026-11-19T10:00:00Z", "Conversation ID": "c1"}])
        + b"a,b,c"
        + b",x" * 80
        + b"\r\n"
    )
    with pytest.raises(ReportFormatError, match="ConversationExportReport report is not valid CSV"):
        read_report(write(data), CONVERSATIONS)


def event_csv(rows: list[list[str]]) -> bytes:
    return csv_text(["Timezone Filter", *(c.header for c in EVENTS.columns)], [["UTC", *row] for row in rows])


def event_row(**cells: str) -> list[str]:
    return [cells.get(c.name, "") for c in EVENTS.columns]


def test_events_get_a_deterministic_key_and_identical_rows_collapse(write):
    opened = event_row(timestamp="2026-11-19T10:00:00.000Z", event_type="CONVERSATION/CREATED", conversation_id="c1")
    closed = event_row(timestamp="2026-11-19T10:05:00.000Z", event_type="CONVERSATION/CLOSED", conversation_id="c1")
    first = read_report(write(event_csv([opened, closed, opened]), "a.csv"), EVENTS)
    again = read_report(write(event_csv([closed, opened]), "b.csv"), EVENTS)
    assert first.rows == 3
    keys = first.frame[EVENT_KEY_COLUMN].to_list()
    assert keys[0] == keys[2] != keys[1] and all(len(k) == 64 for k in keys)
    assert set(again.frame[EVENT_KEY_COLUMN]) == set(keys)
    unique, duplicates = unique_rows([first.frame, again.frame], EVENTS)
    assert unique.height == 2 and duplicates == 3


def test_a_gladly_column_named_like_the_event_key_is_kept_beside_it(write):
    headers = [c.header for c in EVENTS.columns] + ["Event Key"]
    row = [*event_row(timestamp="2026-11-19T10:00:00Z", event_type="X", conversation_id="c1"), "gladly's"]
    frame = read_report(write(csv_text(headers, [row])), EVENTS).frame
    assert frame["event_key_2"].to_list() == ["gladly's"] and len(frame[EVENT_KEY_COLUMN][0]) == 64


def test_event_key_tells_null_from_empty_text():
    frame = pl.DataFrame({"a": ["x", "x", None], "b": [None, "", ""]})
    keys = event_keys(frame, ["a", "b"]).to_list()
    assert len(set(keys)) == 3


def test_keyed_rows_of_overlapping_pieces_keep_the_last_version(write):
    headers = [c.header for c in WORK.columns]

    def row(session: str, agent: str, handle: str) -> list[str]:
        cells = dict.fromkeys(headers, "")
        cells.update(contact_session_id=session, agent_id=agent, work_session_handle_time_sec=handle)
        return [cells[h] for h in headers]

    first = read_report(write(csv_text(headers, [row("s1", "a1", "10"), row("s1", "", "1")]), "a.csv"), WORK).frame
    second = read_report(write(csv_text(headers, [row("s1", "a1", "12"), row("s2", "a1", "5")]), "b.csv"), WORK).frame
    unique, duplicates = unique_rows([first, second], WORK)
    assert duplicates == 1
    by_key = {
        (r["contact_session_id"], r["agent_id"]): r["work_session_handle_time_sec"]
        for r in unique.iter_rows(named=True)
    }
    assert by_key == {("s1", "a1"): 12.0, ("s1", None): 1.0, ("s2", "a1"): 5.0}
