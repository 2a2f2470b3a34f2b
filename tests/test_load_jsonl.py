"""The Polars JSONL parser: batching, schema over the whole file, rejected lines."""

import json
import random
from pathlib import Path
from unittest.mock import patch

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gladly_assets.load import jsonl
from gladly_assets.load.jsonl import parse_chunk, read_batches


def write_lines(path: Path, lines: list[str], trailing_newline: bool = True) -> Path:
    path.write_text("\n".join(lines) + ("\n" if trailing_newline else ""), encoding="utf-8")
    return path


def test_field_in_last_line_only_is_kept_even_across_batches(tmp_path):
    rows = [json.dumps({"id": f"c{i}", "name": f"n{i}"}) for i in range(2000)]
    rows.append(json.dumps({"id": "last", "name": "z", "lateField": 42}))
    path = write_lines(tmp_path / "customers.jsonl", rows)

    batches = list(read_batches(path, batch_bytes=4096))

    assert len(batches) > 5
    frame = pl.concat([b.frame for b in batches], how="diagonal_relaxed")
    assert frame.height == 2001
    assert frame.filter(pl.col("id") == "last")["lateField"].to_list() == [42]
    assert sum(b.line_count for b in batches) == 2001
    # Batches are handed out in file order.
    assert [b.first_line for b in batches] == sorted(b.first_line for b in batches)


@settings(max_examples=40, deadline=None)  # each example runs a thread pool over a file
@given(bad_at=st.sets(st.integers(0, 599), max_size=12), batch_bytes=st.sampled_from([256, 1024, 4096]))
def test_rejected_lines_keep_their_line_number_in_the_file_whatever_the_batches(tmp_path_factory, bad_at, batch_bytes):
    lines = [
        '{"id": "broken' if number in bad_at else json.dumps({"id": f"c{number}", "name": "x" * (number % 37)})
        for number in range(600)
    ]
    path = write_lines(tmp_path_factory.mktemp("numbers") / "customers.jsonl", lines)

    batches = list(read_batches(path, batch_bytes=batch_bytes))

    assert [line.line_number for batch in batches for line in batch.rejected] == sorted(n + 1 for n in bad_at)
    starts = [1]
    for batch in batches[:-1]:
        starts.append(starts[-1] + batch.line_count)
    assert [batch.first_line for batch in batches] == starts
    assert sum(batch.line_count for batch in batches) == len(lines)


def test_nested_values_come_back_as_their_json_text():
    chunk = (
        b'{"id":"a","content":{"type":"EMAIL","to":["x@y"]},"ids":{"shopify":"1"}}\n'
        b'{"id":"b","content":{"type":"SMS","body":"h\xc3\xa9 \xf0\x9f\x98\x80"}}\n'
    )
    batch = parse_chunk(chunk, 1)
    assert batch.json_columns == {"content", "ids"}
    contents = [json.loads(text) for text in batch.frame["content"]]
    assert contents == [{"type": "EMAIL", "to": ["x@y"]}, {"type": "SMS", "body": "hé 😀"}]
    assert json.loads(batch.frame["ids"][0]) == {"shopify": "1"}
    assert batch.frame["ids"][1] is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json at all", "not valid JSON"),
        ('{"id": "t", "name": "trunc', "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"name": "no id"}', 'no "id"'),
        ('{"id": null}', 'no "id"'),
        ('{"id": 1, "x": NaN}', "not valid JSON"),
        ('{"id": "s", "c": {"t": "half \\ud800 a pair"}}', "not valid Unicode"),
        ('{"id": "s", "t": "other half \\udc00"}', "not valid Unicode"),
    ],
)
def test_bad_lines_are_rejected_with_their_line_number_and_reason(line, reason):
    chunk = f'{{"id":"a"}}\n{line}\n{{"id":"b"}}\n'.encode()
    batch = parse_chunk(chunk, first_line=10)
    assert batch.frame["id"].to_list() == ["a", "b"]
    assert len(batch.rejected) == 1
    rejected = batch.rejected[0]
    assert rejected.line_number == 11
    assert rejected.raw == line
    assert reason in rejected.error


def test_truncated_last_line_without_newline_is_rejected(tmp_path):
    path = write_lines(tmp_path / "f.jsonl", ['{"id":"a"}', '{"id":"b","na'], trailing_newline=False)
    (batch,) = read_batches(path)
    assert batch.frame["id"].to_list() == ["a"]
    assert [(r.line_number, r.raw) for r in batch.rejected] == [(2, '{"id":"b","na')]


def test_invalid_utf8_is_rejected_not_fatal():
    batch = parse_chunk(b'{"id":"a"}\n{"id":"\xff\xfe"}\n', 1)
    assert batch.frame["id"].to_list() == ["a"]
    assert "UTF-8" in batch.rejected[0].error


def test_numeric_ids_are_text_and_blank_lines_are_skipped():
    batch = parse_chunk(b'{"id":7}\n\n{"id":"x"}\n', 1)
    assert batch.frame["id"].to_list() == ["7", "x"]
    assert batch.rejected == []


def test_empty_file_gives_no_rows(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert sum(b.frame.height for b in read_batches(path)) == 0


def test_types_polars_cannot_reconcile_are_kept_losslessly():
    batch = parse_chunk(
        b'{"id":"a","x":[1],"y":1,"z":[1]}\n{"id":"b","x":{"k":1},"y":true,"z":{"k":1}}\n'
        b'{"id":"c","x":"s","y":"t","z":null}\n',
        1,
    )
    assert batch.rejected == []
    # Text mixed in: a text column, the rest as its JSON text (what Polars itself does).
    assert "x" not in batch.json_columns
    assert batch.frame["x"].to_list() == ["[1]", '{"k": 1}', "s"]
    assert batch.frame["y"].to_list() == ["1", "true", "t"]
    # Objects and arrays only: a JSON column.
    assert "z" in batch.json_columns
    assert [None if t is None else json.loads(t) for t in batch.frame["z"]] == [[1], {"k": 1}, None]


@pytest.mark.parametrize(
    "text", ["tab\there", "back\\slash", "C:\\new", "bell\x07", "nul\x00", "form\ffeed", "ok\nnewline"]
)
def test_nested_text_with_any_escape_round_trips_exactly(text):
    record = {"id": "a", "content": {"type": "EMAIL", "body": text}, "to": [text]}
    batch = parse_chunk(json.dumps(record).encode() + b"\n" + b'{"id":"b","content":{"type":"SMS"}}\n', 1)
    assert json.loads(batch.frame["content"][0]) == record["content"]
    assert json.loads(batch.frame["to"][0]) == record["to"]
    assert json.loads(batch.frame["content"][1]) == {"type": "SMS"}


ALPHABET = [
    "a",
    " ",
    "\\",
    '"',
    "/",
    "\t",
    "\n",
    "\r",
    "\b",
    "\f",
    "\x00",
    "\x1f",
    "\x7f",
    "é",
    "😀",
    "\u2028",
    "\\n",
    "\\u005c",
    "\\\\",
]


def random_texts(count: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12))) for _ in range(count)]


def assert_round_trips(chunk: bytes) -> None:
    batch = parse_chunk(chunk, 1)
    expected = [json.loads(line) for line in chunk.splitlines()]
    assert batch.rejected == []
    for name in batch.frame.columns:
        values = batch.frame[name].to_list()
        if name in batch.json_columns:
            values = [None if text is None else json.loads(text) for text in values]
        assert values == [record.get(name) for record in expected], name


@pytest.mark.parametrize("ensure_ascii", [False, True])
def test_any_text_round_trips_through_the_fast_path(ensure_ascii, monkeypatch):
    # Every character Polars writes back differently, as itself and as an escape, in nested
    # values and keys, in top-level text and in column names.
    monkeypatch.setattr(jsonl, "_parse_line_by_line", None)  # the Polars path must take it all
    records = [
        {
            "id": f"r{i}",
            "body": text,
            "content": {
                "text": text,
                "list": [text, {"k" + text.replace('"', "").replace("\n", "").replace("\r", ""): 1}],
            },
        }
        for i, text in enumerate(random_texts(300))
    ]
    records.append({"id": "key", "odd\\key\tname": "v\\"})
    assert_round_trips("\n".join(json.dumps(r, ensure_ascii=ensure_ascii) for r in records).encode())


@pytest.mark.parametrize("key", ['quote"', "new\nline", "carriage\rreturn"])
@pytest.mark.parametrize("ensure_ascii", [False, True])
def test_nested_keys_polars_cannot_write_back_take_the_exact_path(key, ensure_ascii):
    records = [{"id": "a", "attrs": {key: "x", "plain": "y"}}, {"id": "b", "attrs": {"k": "v\\"}}]
    assert_round_trips("\n".join(json.dumps(r, ensure_ascii=ensure_ascii) for r in records).encode())


def test_whole_surrogate_pairs_and_escaped_backslashes_before_a_u_are_not_lone_surrogates():
    for text in ["😀", "\\ud800 as plain text", "\\\\\\ud83d\\ude00"]:
        record = {"id": "a", "t": text, "c": {"t": text}}
        assert_round_trips(json.dumps(record).encode())


def test_the_placeholder_character_in_the_input_takes_the_exact_path():
    for text in ["\uffff and \\", "\\uffff \\"]:
        record = {"id": "a", "body": text, "content": {"t": text}}
        assert_round_trips(json.dumps(record, ensure_ascii=False).encode())
        assert_round_trips(json.dumps(record).encode())


def test_escape_repair_touches_exactly_the_rows_that_need_it(tmp_path):
    records = [
        {"id": f"r{i}", "content": {"body": f"line {i}" + ("\tTAB\\" if i % 7 == 3 else "")}} for i in range(500)
    ]
    path = write_lines(tmp_path / "f.jsonl", [json.dumps(r) for r in records])
    frame = pl.concat([b.frame for b in read_batches(path, batch_bytes=2048)])
    assert [json.loads(text) for text in frame["content"]] == [r["content"] for r in records]


def test_blank_lines_and_escapes_together_still_round_trip():
    chunk = b'{"id":"a","c":{"t":"x\\ty"}}\n\n   \n{"id":"b","c":{"t":"z\\\\w"}}\n'
    batch = parse_chunk(chunk, 1)
    assert [json.loads(text) for text in batch.frame["c"]] == [{"t": "x\ty"}, {"t": "z\\w"}]


def both_paths(lines: list[str]) -> list[pl.DataFrame]:
    """The lines parsed whole (Polars) and line by line (a bad line sends them there)."""
    chunk = ("\n".join(lines) + "\n").encode()
    whole, exact = parse_chunk(chunk, 1), parse_chunk(chunk + b"not json\n", 1)
    assert whole.rejected == [] and len(exact.rejected) == 1
    assert whole.json_columns == exact.json_columns
    return [whole.frame, exact.frame]


@pytest.mark.parametrize(
    ("token", "text"),
    [
        ("true", "true"),
        ("2", "2"),
        ("2.0", "2"),
        ("1e3", "1000"),
        ("1E+3", "1000"),
        ("1.50", "1.5"),
        ("-0.0", "-0"),
        ("1.5e-7", "0.00000015"),
        ("12345678901234567890123", "12345678901234567890123"),
        ('"2.0"', "2.0"),  # text ids are kept as sent
    ],
)
def test_a_non_string_id_has_one_text_on_both_paths(token, text):
    for frame in both_paths([f'{{"id":{token}}}', '{"id":"other"}']):
        assert frame["id"].to_list() == [text, "other"]


@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        (["1", "2"], pl.Int64, [1, 2]),
        (["1", "2.5"], pl.Float64, [1.0, 2.5]),
        (["true", "false"], pl.Boolean, [True, False]),
        (['"s"', "1.5e-7"], pl.String, ["s", "0.00000015"]),  # text takes anything
        (["1", "9223372036854775808"], pl.String, ["1", "9223372036854775808"]),  # JSON: beyond 64 bits
        (["0.5", "9007199254740993"], pl.String, ["0.5", "9007199254740993"]),  # JSON: a double would round it
        (["[1]", "2"], pl.String, ["[1]", "2"]),  # JSON: no scalar type holds both
        (["true", "1"], pl.String, ["true", "1"]),
    ],
)
def test_columns_get_one_type_and_one_text_on_both_paths(values, dtype, expected):
    lines = [f'{{"id":"r{i}","x":{value}}}' for i, value in enumerate(values)]
    for frame in both_paths(lines):
        assert frame["x"].dtype == dtype
        assert frame["x"].to_list() == expected


def test_lines_nested_deeper_than_polars_allows_are_rejected_on_both_paths():
    deep = '{"id":"deep","x":' + "[" * jsonl.MAX_DEPTH + "]" * jsonl.MAX_DEPTH + "}"
    deepest_kept = '{"id":"kept","x":' + "[" * (jsonl.MAX_DEPTH - 1) + "]" * (jsonl.MAX_DEPTH - 1) + "}"
    very_deep = '{"id":"very","x":' + "[" * 10_000 + "]" * 10_000 + "}"
    for chunk in [f"{deepest_kept}\n{deep}\n{very_deep}\n", f"{deep}\n{very_deep}\n{deepest_kept}\nnot json\n"]:
        batch = parse_chunk(chunk.encode(), 1)
        assert batch.frame["id"].to_list() == ["kept"]
        assert len(batch.frame["x"][0]) == 2 * (jsonl.MAX_DEPTH - 1)
        deep_errors = [line.error for line in batch.rejected if "nested" in line.error]
        assert deep_errors == [f"nested deeper than {jsonl.MAX_DEPTH} levels"] * 2


ESCAPE_PATTERNS = [
    jsonl._BACKSLASH_ESCAPE,
    jsonl._PLACEHOLDER_ESCAPED,
    jsonl._CONTROL_ESCAPE,
    jsonl._QUOTE_OR_BREAK_IN_KEY,
    jsonl._SURROGATE_ESCAPE,
]
# The bytes the escape patterns care about, so that random data is full of near misses.
escape_soup = st.lists(
    st.sampled_from(
        [b"\\", b"u", b"0", b"00", b"005c", b"d8", b"dc", b"ffff", b"FFFF", b"t", b"n", b'"', b":", b" ", b"a"]
    ),
    max_size=60,
).map(b"".join)


@given(data=escape_soup, density=st.sampled_from([0.0, 1 / 64, 1.0]))
def test_escapes_are_found_exactly_where_the_regex_engine_finds_them(data, density):
    # The backslash-hopping finder, and its fallback for data dense with backslashes, give
    # the same matches as finditer and search, for every pattern the parser asks it about.
    with patch.object(jsonl._Escapes, "_DENSE", density):
        escapes = jsonl._Escapes(data)
    if density == 1.0:
        assert escapes.positions == [at for at, byte in enumerate(data) if byte == ord("\\")]
    for pattern in ESCAPE_PATTERNS:
        assert [m.span() for m in escapes.finditer(pattern)] == [m.span() for m in pattern.finditer(data)]
        found, expected = escapes.search(pattern), pattern.search(data)
        assert (found and found.span()) == (expected and expected.span())
