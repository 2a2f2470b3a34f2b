"""The Gladly tables, declared once as data.

Assets, asset checks and the sensor's selection are all generated from
``TABLES``; adding a table means adding one ``GladlyTable`` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gladly_assets.declared_table import DeclaredTable

SCHEMA = "gladly"
PRIMARY_KEY = "id"
# Columns the loader adds to every row: which export job last wrote it.
JOB_ID_COLUMN = "_job_id"
JOB_UPDATED_AT_COLUMN = "_job_updated_at"


@dataclass(frozen=True)
class GladlyTable(DeclaredTable):
    SCHEMA: ClassVar[str] = SCHEMA

    name: str
    description: str
    # Top-level fields whose values are objects or arrays. They are stored as
    # DuckDB JSON, kept as Gladly sent them, so that keys that come and go
    # (``content`` differs per item type, ``externalCustomerIds`` is free-form)
    # never force a schema change. Any other nested field that shows up later
    # is stored as JSON too; this list only saves the parser from inferring it.
    json_fields: tuple[str, ...] = ()
    # What each known column means, shown in the Dagster UI.
    columns: tuple[tuple[str, str], ...] = ()

    @property
    def file_name(self) -> str:
        return f"{self.name}.jsonl"


_JOB_COLUMNS = (
    (JOB_ID_COLUMN, "Id of the export job that last wrote this row."),
    (JOB_UPDATED_AT_COLUMN, "When that export job completed (UTC); newer jobs win merges."),
)

TABLES: tuple[GladlyTable, ...] = (
    GladlyTable(
        name="customers",
        description="Gladly customer profiles, latest state per customer.",
        json_fields=("emailAddresses", "phoneNumbers", "externalCustomerIds"),
        columns=(
            ("id", "Gladly customer id (primary key)."),
            ("name", "Customer's name."),
            ("address", "Postal address as one string."),
            ("emailAddresses", "JSON array of email addresses."),
            ("phoneNumbers", "JSON array of E.164 phone numbers."),
            ("externalCustomerId", "Id in an older lookup adaptor, if any."),
            ("externalCustomerIds", "JSON object of lookup-adaptor id -> external id (newer adaptors)."),
            *_JOB_COLUMNS,
        ),
    ),
    GladlyTable(
        name="conversation_items",
        description="Every item of every conversation: messages, calls, notes, status and topic changes.",
        json_fields=("initiator", "responder", "content"),
        columns=(
            ("id", "Conversation item id (primary key)."),
            ("conversationId", "Conversation the item belongs to."),
            ("customerId", "Customer of the conversation."),
            ("timestamp", "When the item happened (RFC 3339 string, as Gladly sends it)."),
            ("initiator", "JSON {id, type}: who started the item."),
            ("responder", "JSON {id, type}: who answered, if anyone."),
            ("content", "JSON object; content.type (CHAT_MESSAGE, EMAIL, PHONE_CALL, ...) decides its fields."),
            *_JOB_COLUMNS,
        ),
    ),
    GladlyTable(
        name="agents",
        description="Gladly agents (support staff).",
        columns=(
            ("id", "Agent id (primary key)."),
            ("name", "Agent's name."),
            ("emailAddress", "Agent's email address."),
            *_JOB_COLUMNS,
        ),
    ),
    GladlyTable(
        name="topics",
        description="Conversation topics; parentId links them into a tree.",
        columns=(
            ("id", "Topic id (primary key)."),
            ("name", "Topic name."),
            ("disabled", "Whether agents can still apply the topic."),
            ("parentId", "Parent topic id, if any."),
            *_JOB_COLUMNS,
        ),
    ),
)

TABLES_BY_FILE: dict[str, GladlyTable] = {table.file_name: table for table in TABLES}
TABLES_BY_NAME: dict[str, GladlyTable] = {table.name: table for table in TABLES}
