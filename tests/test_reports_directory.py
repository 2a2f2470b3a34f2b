"""Teams and inboxes as frames: Gladly's fields kept, odd values kept as text, membership split out."""

from __future__ import annotations

import json

import polars as pl

from gladly_assets.load.directory import inboxes_frame, snake_case, teams_frames


def test_teams_and_their_agents():
    teams, members = teams_frames(
        [
            {"id": "t1", "name": "Returns", "description": "Refunds,\nexchanges", "agentIds": ["a1", "a2", "a1"]},
            {"id": "t2", "name": "Empty", "description": None, "agentIds": []},
        ]
    )
    assert teams.to_dicts() == [
        {"id": "t1", "name": "Returns", "description": "Refunds,\nexchanges"},
        {"id": "t2", "name": "Empty", "description": None},
    ]
    assert members.to_dicts() == [{"team_id": "t1", "agent_id": "a1"}, {"team_id": "t1", "agent_id": "a2"}]


def test_unexpected_values_and_new_fields_are_kept_as_text():
    teams, members = teams_frames([{"id": 7, "name": "X", "agentIds": "a1,a2", "leadAgent": {"id": "a1"}}])
    row = teams.row(0, named=True)
    assert row["id"] is None and row["id_text"] == "7"
    assert row["agent_ids"] == "a1,a2" and json.loads(row["lead_agent"]) == {"id": "a1"}
    assert members.height == 0
    inboxes = inboxes_frame(
        [{"id": "i1", "name": "Chat", "disabled": "no"}, {"id": "i2", "name": "Mail", "disabled": True}]
    )
    assert inboxes["disabled"].to_list() == [None, True]
    assert inboxes["disabled_text"].to_list() == ["no", None]
    assert inboxes.schema["disabled"] == pl.Boolean


def test_empty_lists_give_typed_empty_frames():
    teams, members = teams_frames([])
    assert teams.height == members.height == 0 and teams.schema["id"] == pl.String
    assert inboxes_frame([]).schema["disabled"] == pl.Boolean


def test_snake_case():
    assert [snake_case(n) for n in ("agentIds", "id", "HTTPStatus", "a b", "")] == [
        "agent_ids",
        "id",
        "httpstatus",
        "a_b",
        "field",
    ]
