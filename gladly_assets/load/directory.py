"""Gladly's teams and inboxes (JSON arrays of objects) as Polars frames.

Fields keep their values; names become snake_case (``agentIds`` -> ``agent_ids``).
A field Gladly adds later is kept (nested values as JSON text); team membership
becomes its own frame, one row per (team, agent).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import polars as pl

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def snake_case(name: str) -> str:
    return _NOT_WORD.sub("_", _CAMEL_BOUNDARY.sub("_", name).lower()).strip("_") or "field"


def records_frame(records: Sequence[dict[str, Any]], declared: dict[str, pl.DataType]) -> pl.DataFrame:
    """One row per record: ``declared`` fields with their types (a value of another type kept as
    text in a ``*_text`` column, never dropped), other fields as text (nested ones as JSON)."""
    rows: list[dict[str, Any]] = []
    for record in records:
        row: dict[str, Any] = {}
        for key, value in record.items():
            name = snake_case(key)
            wanted = declared.get(name)
            if wanted is None or not _fits(value, wanted):
                name = name if wanted is None else f"{name}_text"
                value = value if value is None or isinstance(value, str) else json.dumps(value)
            row[name] = value
        rows.append(row)
    extra = sorted({name for row in rows for name in row} - set(declared))
    schema = {**declared, **dict.fromkeys(extra, pl.String())}
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _fits(value: Any, dtype: pl.DataType) -> bool:
    if value is None:
        return True
    if dtype == pl.Boolean:
        return isinstance(value, bool)
    return isinstance(value, str)


TEAM_FIELDS: dict[str, pl.DataType] = {"id": pl.String(), "name": pl.String(), "description": pl.String()}
INBOX_FIELDS: dict[str, pl.DataType] = {"id": pl.String(), "name": pl.String(), "disabled": pl.Boolean()}


def teams_frames(records: Sequence[dict[str, Any]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(teams, team_agents): team membership comes out of ``agentIds`` into (team_id, agent_id) rows."""
    # A list of agents becomes team_agents; anything else stays on the team row as text.
    teams = records_frame(
        [{k: v for k, v in r.items() if not (k == "agentIds" and isinstance(v, list))} for r in records], TEAM_FIELDS
    )
    members = []
    for record in records:
        agent_ids = record.get("agentIds")
        for agent_id in agent_ids if isinstance(agent_ids, list) else []:
            members.append({"team_id": _text(record.get("id")), "agent_id": _text(agent_id)})
    team_agents = pl.DataFrame(members, schema={"team_id": pl.String(), "agent_id": pl.String()})
    return teams, team_agents.unique(maintain_order=True)


def inboxes_frame(records: Sequence[dict[str, Any]]) -> pl.DataFrame:
    return records_frame(records, INBOX_FIELDS)


def _text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value)
