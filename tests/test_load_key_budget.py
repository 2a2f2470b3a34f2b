"""The key budget: a table gives columns to at most ``max_key_columns`` top-level keys, admitted
in file order; a line whose new keys find no room is quarantined whole, whatever the batching.
And batches with too many distinct keys for Polars' inference take the line-by-line path,
to the same rows."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gladly_assets.load import jsonl
from gladly_assets.load.jsonl import parse_chunk, read_batches
from gladly_assets.load.key_budget import KeyBudget
from gladly_assets.load.known_keys import KnownKeys


@pytest.mark.parametrize(
    ("keys", "limit", "admissions"),
    [
        pytest.param(
            {"id"},
            3,
            [({"a"}, True), ({"b", "c"}, False), ({"b"}, True), ({"c"}, False), ({"a", "b", "id"}, True)],
            id="new keys fit while their count, with the table's, stays within the limit",
        ),
        pytest.param({"id"}, 2, [({"a"}, True), ({"b"}, False), (set(), True)], id="exactly at the limit"),
        pytest.param(
            {"id", "a", "b"},
            2,
            [({"a", "b"}, True), ({"c"}, False), (set(), True)],
            id="a table past the limit keeps its columns and takes no new key",
        ),
        pytest.param({"id"}, 3, [({"a", "b", "c"}, False), ({"a", "b"}, True)], id="a refused set takes no room"),
    ],
)
def test_keys_are_admitted_while_there_is_room_for_all_of_them(keys, limit, admissions):
    ticket = KeyBudget(keys, limit).ticket(0)
    for asked, admitted in admissions:
        assert ticket.admit(asked) is admitted, asked
    ticket.finish()


def test_the_limit_must_be_positive():
    with pytest.raises(ValueError, match="must be positive"):
        KeyBudget(["id"], 0)


def test_a_batch_with_new_keys_waits_for_the_batches_before_it():
    budget = KeyBudget(["id"], 2)
    first, second, third = budget.ticket(0), budget.ticket(1), budget.ticket(2)
    assert third.admit(["id"])  # keys with columns already: no waiting
    third.finish()
    outcome: list[bool] = []
    waiting = threading.Thread(target=lambda: outcome.append(second.admit(["late"])))
    waiting.start()
    waiting.join(timeout=0.3)
    assert waiting.is_alive() and not outcome, "the second batch admitted a key before the first had its turn"
    assert first.admit(["early"])  # the earlier batch takes the last room
    first.finish()
    waiting.join(timeout=10)
    assert outcome == [False]
    second.finish()


# Values of every kind.
VALUES = st.sampled_from([None, "text", 7, 2.5, True, [1, {"x": 2}], {"nested": "yes"}])
KEYS = st.sampled_from([f"k{number}" for number in range(10)])


@st.composite
def lines(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["object", "object", "object", "no id", "malformed", "blank"]))
    if kind == "malformed":
        return '{"id": "broken'
    if kind == "blank":
        return "  "
    record: dict[str, Any] = {} if kind == "no id" else {"id": f"r{draw(st.integers(0, 10**6))}"}
    record.update(draw(st.dictionaries(KEYS, VALUES, max_size=5)))
    return json.dumps(record)


def expected(file_lines: list[str], limit: int) -> tuple[list[str], dict[int, str], set[str]]:
    """The rule, line by line in file order: (loaded ids, rejected line number -> why, admitted keys)."""
    admitted, loaded, rejected = {"id"}, [], {}
    for number, line in enumerate(file_lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            rejected[number] = "malformed"
            continue
        new = set(record) - admitted  # a key holding null counts too
        fits = len(admitted) + len(new) <= limit
        if fits:
            admitted |= new
        if "id" not in record:
            rejected[number] = "no id"
        elif not fits:
            rejected[number] = "past the budget"
        else:
            loaded.append(record["id"])
    return loaded, rejected, admitted


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    file_lines=st.lists(lines(), min_size=1, max_size=40),
    limit=st.integers(1, 8),
    batch_bytes=st.integers(64, 1024),
)
def test_which_lines_load_follows_the_file_order_whatever_the_batching(tmp_path, file_lines, limit, batch_bytes):
    path = tmp_path / "file.jsonl"
    path.write_text("\n".join(file_lines) + "\n")
    batches = list(read_batches(path, batch_bytes=batch_bytes, budget=KeyBudget(["id"], limit)))

    loaded, rejected, admitted = expected(file_lines, limit)
    assert [value for batch in batches for value in batch.frame["id"].to_list()] == loaded
    got = {line.line_number: line.error for batch in batches for line in batch.rejected}
    assert got.keys() == rejected.keys()
    for number, why in rejected.items():
        assert ("max_key_columns" in got[number]) is (why == "past the budget"), (number, got[number])
    assert {name for batch in batches for name in batch.frame.columns} <= admitted
    assert len(admitted) <= max(limit, 1)


def test_the_rejection_names_the_keys_and_the_way_to_load_them():
    ticket = KeyBudget(["id", "name"], 3).ticket(0)
    data = b'{"id":"a","x":1}\n{"id":"b","y":1,"z":2}\n'
    batch = parse_chunk(data, 1, keys=ticket)
    assert batch.frame["id"].to_list() == ["a"]
    [line] = batch.rejected
    assert line.line_number == 2 and line.raw == '{"id":"b","y":1,"z":2}'
    assert "holds 2 key(s) new to the table (y, z)" in line.error
    assert "max_key_columns is 3" in line.error and "larger max_key_columns" in line.error


def distinct_keys(count: int, nested: bool) -> bytes:
    return b"".join(
        json.dumps({"id": f"r{n}", **({"x": {f"k{n}": n}} if nested else {f"k{n}": n})}).encode() + b"\n"
        for n in range(count)
    )


@pytest.mark.parametrize("nested", [False, True], ids=["top-level keys", "nested keys"])
def test_a_batch_with_too_many_distinct_keys_is_not_inferred(nested):
    assert not jsonl._few_keys_to_infer(distinct_keys(jsonl._MAX_KEYS_TO_INFER + 1, nested))
    assert jsonl._few_keys_to_infer(distinct_keys(jsonl._MAX_KEYS_TO_INFER - 10, nested))
    # Many lines sharing their keys are inferred, however many bytes.
    shared = b"".join(
        json.dumps({"id": f"r{n}", **{f"k{k}": k for k in range(40)}}).encode() + b"\n" for n in range(5000)
    )
    assert len(shared) > 5 * jsonl._MAX_KEYS_TO_INFER and jsonl._few_keys_to_infer(shared)


@pytest.mark.parametrize(
    "line",
    [
        '{{"id":"r{n}","k{n}\\"z":1}}',  # read blind to escapes, every key is "z"
        '{{"id":"r{n}",":k{n}":1}}',  # read from the id's closing quote, every key is ","
        '{{"id":"r{n}","x":{{"v":"s" , ":k{n}" : 1}}}}',  # the same, nested and spaced
        '{{"id":"r{n}","a":"\\\\","k{n}":1}}',  # an escaped backslash before a closing quote
    ],
)
def test_keys_cannot_hide_from_the_count(line):
    data = b"".join(line.format(n=n).encode() + b"\n" for n in range(jsonl._MAX_KEYS_TO_INFER + 1))
    assert json.loads(line.format(n=1))  # valid JSON
    assert not jsonl._few_keys_to_infer(data)


@pytest.mark.parametrize("nested", [False, True], ids=["top-level keys", "nested keys"])
def test_the_line_by_line_path_gives_what_inference_would(monkeypatch, nested):
    data = distinct_keys(300, nested) + b'{"id":"last","k1":"text","x":[1.5,null]}\n'
    inferred = parse_chunk(data, 1)
    monkeypatch.setattr(jsonl, "_MAX_KEYS_TO_INFER", 10)
    monkeypatch.setattr(jsonl, "_MIN_KEY_BYTES", 0)
    line_by_line = parse_chunk(data, 1)
    assert not jsonl._few_keys_to_infer(data)
    assert as_values(line_by_line) == as_values(inferred)
    assert line_by_line.json_columns == inferred.json_columns


def as_values(batch: jsonl.Batch) -> dict[str, list[Any]]:
    """Each column holding a value, as text (Polars may pick other dtypes for the same text)."""
    frame = batch.frame
    return {
        name: frame[name].cast(pl.String).to_list()
        for name in sorted(frame.columns)
        if frame[name].null_count() < frame.height
    }


def test_a_file_of_distinct_keys_loads_within_the_budget(tmp_path: Path):
    path = tmp_path / "file.jsonl"
    path.write_bytes(distinct_keys(20_000, nested=False))
    batches = list(read_batches(path, budget=KeyBudget(["id"], 50)))
    ids = [value for batch in batches for value in batch.frame["id"].to_list()]
    assert ids == [f"r{n}" for n in range(49)]
    rejected = [line.line_number for batch in batches for line in batch.rejected]
    assert rejected == list(range(50, 20_001))


def test_a_repeated_key_keeps_its_first_value_and_counts_once():
    ticket = KeyBudget(["id"], 2).ticket(0)
    batch = parse_chunk(b'{"id":"1","a":1,"a":null}\n{"id":"2","a":null,"a":"x"}\n', 1, keys=ticket)
    assert as_values(batch) == {"id": ["1", "2"], "a": ["1", None]}
    assert not batch.rejected


def test_a_backslash_key_and_a_key_spelled_like_its_placeholder_are_two_keys(tmp_path: Path):
    # The Polars path swaps escaped backslashes for U+FFFF while it parses.
    path = tmp_path / "file.jsonl"
    path.write_text('{"id":"1","a\\\\b":"x"}\n{"id":"2","a\uffffb":"y"}\n{"id":"3","a\\\\b":"z"}\n')
    batches = list(read_batches(path, batch_bytes=24, known=KnownKeys(), budget=KeyBudget(["id"], 2)))
    assert [value for batch in batches for value in batch.frame["id"].to_list()] == ["1", "3"]
    [rejected] = [line for batch in batches for line in batch.rejected]
    assert rejected.line_number == 2 and "(a\uffffb)" in rejected.error
    assert {name for batch in batches for name in batch.frame.columns} == {"id", "a\\b"}


def test_a_malformed_line_cannot_hide_the_keys_of_the_lines_after_it():
    unterminated = b'{"id":"x","a":"no closing quote\n'
    data = unterminated + distinct_keys(jsonl._MAX_KEYS_TO_INFER + 1, nested=False)
    assert not jsonl._few_keys_to_infer(data)
