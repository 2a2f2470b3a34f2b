"""The known-keys check: which batches may skip schema inference, and that skipping it never
changes what a batch becomes.

Table-driven cases for the check itself (lines it must vouch for, lines it must not), and a
property test that any batch parses to the same rows, values and column kinds with known keys
as with inference, whatever the keys known.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gladly_assets.load import jsonl
from gladly_assets.load.jsonl import Batch, parse_chunk, read_batches
from gladly_assets.load.known_keys import MAX_CHECKED_DEPTH, MAX_KNOWN_KEYS, KnownKeys
from gladly_assets.load.warehouse import Warehouse
from gladly_assets.tables import TABLES_BY_NAME


def known() -> KnownKeys:
    return KnownKeys(text=["id", "name", "timestamp"], json=["content", "initiator"])


def fits(*lines: str | bytes, keys: KnownKeys | None = None) -> bool:
    data = b"".join((line.encode() if isinstance(line, str) else line) + b"\n" for line in lines)
    return (keys or known()).fitting(data) is not None


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


VOUCHED = {
    "compact": '{"id":"a","name":"Ann","content":{"type":"NOTE","body":"hi"}}',
    "spaced as JSON allows": ' { "id" : "a" ,\t"name":\t"Ann" , "content" : [ 1 , {"x": null} ] } ',
    "null values": '{"id":"a","name":null,"content":null,"initiator":null}',
    "keys in any order": '{"content":{},"timestamp":"t","id":"a"}',
    "only the id": '{"id":"a"}',
    "an empty object (rejected later, for its missing id)": "{}",
    "a blank line": "   ",
    "an unknown key inside a nested value": '{"id":"a","content":{"secret":1,"deeper":{"other":[true]}}}',
    "a key-like text inside a string": '{"id":"a","name":"\\",\\"evil\\":\\"1"}',
    "brackets inside strings": '{"id":"a","content":{"t":"}}]]{{"},"name":"]["}',
    "escaped backslashes before a quote": '{"id":"a\\\\","name":"b\\\\\\"c"}',
    "unicode and escapes": '{"id":"é😀","name":"\\u00e9\\n\\t"}',
    "nesting at the checked depth": '{"id":"a","content":' + deep(MAX_CHECKED_DEPTH) + "}",
    "a repeated known key": '{"id":"a","name":"x","name":"y"}',
}

NOT_VOUCHED = {
    "an unknown top-level key": '{"id":"a","sessionId":"s"}',
    "an unknown key after a nested value": '{"id":"a","content":{"x":{"y":[1]}},"other":1}',
    "a number in a text key": '{"id":"a","name":1}',
    "a boolean in a text key": '{"id":"a","name":true}',
    "an object in a text key": '{"id":"a","name":{"first":"Ann"}}',
    "a number id": '{"id":2}',
    "a string in a JSON key": '{"id":"a","content":"text"}',
    "a number in a JSON key": '{"id":"a","content":3}',
    "a known key spelled with an escape": '{"\\u0069d":"a"}',
    "a key differing in case": '{"id":"a","Name":"x"}',
    "two objects on one line": '{"id":"a"}{"id":"b"}',
    "an object then a stray bracket": '{"id":"a","content":{}}}',
    "an array line": '[{"id":"a"}]',
    "a scalar line": '"a"',
    "nesting deeper than checked": '{"id":"a","content":' + deep(MAX_CHECKED_DEPTH + 1) + "}",
    "an unterminated string hiding a key": '{"id":"a","name":"x\\","other":"y"}',
    "a key with a trailing space": '{"id ":"a"}',
}


@pytest.mark.parametrize("line", VOUCHED.values(), ids=VOUCHED.keys())
def test_lines_holding_only_known_keys_of_their_kind_are_vouched_for(line):
    assert fits(line)


@pytest.mark.parametrize("line", NOT_VOUCHED.values(), ids=NOT_VOUCHED.keys())
def test_a_line_that_may_hold_anything_else_is_not(line):
    assert not fits(line)
    # One such line refuses its whole batch, wherever it is.
    assert not fits(VOUCHED["compact"], line, VOUCHED["null values"])


@pytest.mark.parametrize(
    ("data", "vouched", "why"),
    [
        (b'\xef\xbb\xbf{"id":"a"}\n', False, "a byte-order mark is no JSON whitespace"),
        (b'{"id":"a","name":"\xff"}\n', False, "bytes that are not UTF-8"),
        (b'{"id":"a"}\r{"id":"b","other":1}\n', False, "a carriage return alone does not end a line"),
        (b'{"id":"a"}\n{"id":"b","other":1}', False, "the last line, without its line break"),
        (b'{"id":"a"}\r\n{"id":"b"}\r\n', True, "CRLF line breaks"),
        (b'{"id":"a","name":"\x1f\x00"}\n', True, "raw control characters in a string"),
        (b'{"id":"a"}\n\n  \n{"id":"b"}', True, "blank lines, and a last line without its break"),
        (b"", True, "nothing at all"),
        (b'{"id":"a","name":"x\ny"}\n', False, "a string across a line break"),
        (b'{"id":"a","content":{"x":1,\n"y":2}}\n', False, "a nested value across a line break"),
        (b'{"id":"a",\n"name":"x"}\n', False, "an object across a line break"),
    ],
)
def test_every_byte_of_every_line_meets_the_check(data, vouched, why):
    assert (known().fitting(data) is not None) == vouched, why
    # Either way, the batch becomes what inference makes of it.
    assert as_stored(parse_chunk(data, 1, known=known())) == as_stored(parse_chunk(data, 1)), why


def test_keys_that_need_escapes_in_json_are_never_known():
    keys = KnownKeys(text=['q"uote', "back\\slash", "tab\tkey", "plain"], json=["id"])
    assert keys.shape.text == {"plain", "id"}  # the id is always text
    assert keys.shape.json == frozenset()


def test_keys_that_look_like_regex_syntax_match_only_themselves():
    keys = KnownKeys(text=["a.b", "x*", "(?i)y", "[z]", "^$", "é ü"])
    assert fits('{"id":"1","a.b":"v","x*":"v","(?i)y":"v","[z]":"v","^$":"v","é ü":"v"}', keys=keys)
    for other in ("aXb", "xx", "Y", "z", ""):
        assert not fits(json.dumps({"id": "1", other: "v"}), keys=keys), other


def test_too_many_keys_turn_the_check_off():
    assert KnownKeys(text=[f"k{n}" for n in range(MAX_KNOWN_KEYS)]).shape.pattern is None
    assert not fits('{"id":"a"}', keys=KnownKeys(text=[f"k{n}" for n in range(MAX_KNOWN_KEYS)]))


def test_an_inferred_batch_teaches_its_text_and_nested_keys():
    keys = known()
    first = b'{"id":"a","sessionId":"s","extra":{"k":1},"count":3,"flag":true,"gone":null}\n'
    assert keys.fitting(first) is None
    parse_chunk(first, 1, known=keys)
    assert {"sessionId"} <= keys.shape.text and {"extra"} <= keys.shape.json
    assert not {"count", "flag", "gone"} & (keys.shape.text | keys.shape.json)
    assert keys.fitting(b'{"id":"b","sessionId":null,"extra":[2]}\n') is not None
    # A key seen with another kind changes kind.
    parse_chunk(b'{"id":"c","sessionId":{"nested":1}}\n', 1, known=keys)
    assert "sessionId" in keys.shape.json and "sessionId" not in keys.shape.text


def test_the_warehouse_knows_a_new_tables_declared_columns_then_its_own():
    items = TABLES_BY_NAME["conversation_items"]
    with duckdb.connect() as connection:
        warehouse = Warehouse(connection)
        keys = warehouse.known_keys(items).shape
        assert keys.text == {"id", "conversationId", "customerId", "timestamp"}
        assert keys.json == {"initiator", "responder", "content"}
        line = b'{"id":"a","sessionId":"s","timestamp":5,"count":5,"rowid":"r","_job_id":"j","content":1}\n'
        warehouse.apply_job(items, "job1", datetime(2026, 11, 1, tzinfo=UTC), [parse_chunk(line, 1)])
        keys = warehouse.known_keys(items).shape
        # New text keys are known, also those stored under other names; a declared text
        # column stays text whatever it holds, a JSON one JSON; a BIGINT column is neither.
        assert keys.text == {"id", "conversationId", "customerId", "timestamp", "sessionId", "rowid", "_job_id"}
        assert keys.json == {"initiator", "responder", "content"}


# --- the property: with known keys or not, the same batch --------------------------------

PLAIN_KEYS = ["name", "Name", "content", "x", "é", "_job_id", "rowid", "a b"]
OTHER_KEYS = ['q"uote', "back\\slash", "tab\tkey"]
TRICKY_TEXT = ['"name":"x"', "}{][", "\\", '\\"', "\x00", "😀", "\u2028", "null", "", "{", "\uffff"]

texts = st.text(max_size=5) | st.sampled_from(TRICKY_TEXT)
scalars = (
    st.none()
    | texts
    | st.integers(-5, 5)
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1.5, -0.0, 1e300, 5e-324, 2**53, 2**53 + 1, 2**63, 2**64, 10**30])
)
nested = st.recursive(
    st.lists(scalars, max_size=3)
    | st.dictionaries(st.sampled_from(PLAIN_KEYS + OTHER_KEYS) | texts, scalars, max_size=3),
    lambda inner: (
        st.lists(inner | scalars, max_size=3)
        | st.dictionaries(st.sampled_from(PLAIN_KEYS) | texts, inner | scalars, max_size=3)
    ),
    max_leaves=6,
)
# Mostly the kinds the fast path takes (text, objects and arrays, null), sometimes others.
values = st.one_of(texts, texts, texts, st.none(), st.none(), nested, nested, scalars)


@st.composite
def batches(draw: st.DrawFn) -> tuple[bytes, KnownKeys]:
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        pairs = [("id", draw(st.sampled_from(["a", "b", "é", "x\\y"]) | st.sampled_from([2, None])))]
        pairs += draw(st.lists(st.tuples(st.sampled_from(PLAIN_KEYS + OTHER_KEYS), values), max_size=4))
        draw(st.randoms()).shuffle(pairs)
        ensure_ascii = draw(st.booleans())
        items = [
            f"{json.dumps(key, ensure_ascii=ensure_ascii)}:{json.dumps(v, ensure_ascii=ensure_ascii)}"
            for key, v in pairs
        ]
        lines.append("{" + draw(st.sampled_from([",", " , "])).join(items) + "}")
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["", "  ", "not json", "[1]"])))
    kinds = {key: draw(st.sampled_from(["text", "json", "unknown"])) for key in PLAIN_KEYS + OTHER_KEYS}
    keys = KnownKeys(
        text=[key for key, kind in kinds.items() if kind == "text"],
        json=[key for key, kind in kinds.items() if kind == "json"],
    )
    return "\n".join(lines).encode() + draw(st.sampled_from([b"\n", b""])), keys


def as_stored(batch: Batch) -> tuple[dict[str, Any], list[tuple[int, str]]]:
    """What the warehouse takes from a batch: columns holding a value (others get no column),
    by name, with their type, whether JSON, and values; and the rejected lines."""
    columns = {
        name: (batch.frame[name].dtype, name in batch.json_columns, batch.frame[name].to_list())
        for name in batch.frame.columns
        if batch.frame[name].null_count() < batch.frame.height
    }
    return columns, [(line.line_number, line.error) for line in batch.rejected]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_known_keys_never_change_what_a_batch_becomes(case):
    data, keys = case
    event("vouched for" if keys.fitting(data) is not None else "inferred")
    assert as_stored(parse_chunk(data, 1, known=keys)) == as_stored(parse_chunk(data, 1))


def test_the_property_reaches_the_fast_path():
    """The strategy above is not vacuous: a batch like those it draws is vouched for."""
    keys = KnownKeys(text=["name", "é"], json=["content", "x"])
    data = (
        '{"id":"a","name":"\\"name\\":\\"x\\"","content":{"q\\"uote":["}{]["]},"x":[null, {"é": "\\\\"}]}\n'
        '{"id":"é" , "é":null , "content":[]}\n'
    ).encode()
    assert keys.fitting(data) is not None
    frame = parse_chunk(data, 1, known=keys).frame
    assert frame["name"].to_list() == ['"name":"x"', None]


class CountingKeys(KnownKeys):
    """Counts the checks run and the batches vouched for."""

    def __init__(self, **kinds: list[str]) -> None:
        super().__init__(**kinds)
        self.checks = self.vouched = 0

    def _check(self, data: bytes) -> Any:
        self.checks += 1
        return super()._check(data)

    def fitting(self, data: bytes) -> Any:
        shape = super().fitting(data)
        self.vouched += shape is not None
        return shape


def test_a_file_read_with_known_keys_gives_the_same_batches_and_learns_as_it_goes(tmp_path):
    lines = [
        {
            "id": f"i{n}",
            "name": f"n{n}",
            "content": {"type": "NOTE", "n": n},
            **({"sessionId": "s"} if n % 7 == 0 else {}),
        }
        for n in range(400)
    ]
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    keys = CountingKeys(text=["name"], json=["content"])
    with_keys = list(read_batches(path, batch_bytes=2048, known=keys))
    assert [as_stored(batch) for batch in with_keys] == [
        as_stored(batch) for batch in read_batches(path, batch_bytes=2048)
    ]
    assert "sessionId" in keys.shape.text
    # The batches parsed before sessionId was learned were inferred; most after it were not.
    assert len(with_keys) // 2 < keys.vouched < len(with_keys)


@pytest.mark.parametrize(
    "line",
    [{"score": 1}, {"tab\tkey": "a key the check cannot know"}],
    ids=["a key of numbers", "a key spelled with an escape"],
)
def test_a_file_the_check_never_vouches_for_is_checked_a_few_times_only(tmp_path, line):
    path = tmp_path / "lines.jsonl"
    path.write_text("".join(json.dumps({"id": f"i{n}", "name": "x", **line}) + "\n" for n in range(2000)))
    keys = CountingKeys(text=["name"])
    batches = list(read_batches(path, batch_bytes=1024, known=keys))
    assert len(batches) > 60
    # Checked at the first batch, then after 1, 2, 4, ... batches inferred unchecked.
    assert 3 <= keys.checks <= len(batches) // 8 and keys.vouched == 0
    assert [as_stored(batch) for batch in batches] == [
        as_stored(batch) for batch in read_batches(path, batch_bytes=1024)
    ]


def test_a_tables_columns_come_in_the_same_order_whichever_path_read_a_batch(tmp_path):
    agents = TABLES_BY_NAME["agents"]
    first = b'{"m":"1","k":"2"}\n{"id":"x"}\n'  # teaches k and m; its only line holding them is rejected
    second = b'{"id":"y","m":"a","k":"b"}\n'  # known keys list them sorted, inference as they come
    orders = []
    for keys in (None, CountingKeys()):
        with duckdb.connect(str(tmp_path / f"{keys is None}.duckdb")) as connection:
            warehouse = Warehouse(connection)
            batches = [parse_chunk(first, 1, known=keys), parse_chunk(second, 3, known=keys)]
            warehouse.apply_job(agents, "job1", datetime(2026, 11, 1, tzinfo=UTC), batches)
            orders.append(list(warehouse.columns("agents")))
    assert keys is not None and keys.vouched == 1
    # New columns in the order their keys first hold a value, ties in code-point order.
    assert orders[0] == orders[1] and orders[0][-2:] == ["k", "m"]


@pytest.mark.parametrize("text", ["[VIP] Ann", "{draft}", "[]"])
def test_text_that_looks_like_json_keeps_a_vouched_batch_on_the_fast_path(text, monkeypatch):
    """The check saw every text value is a string, so a string starting like an object or an
    array (a name, or an id) needs no line-by-line read when the batch's JSON text is repaired
    (here, a tab)."""
    lines = [{"id": "a", "name": text, "content": {"body": "tab\there"}}, {"id": text}]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    inferred = as_stored(parse_chunk(data, 1))

    def no_fallback(*args: Any) -> Batch:
        raise AssertionError("the batch was read line by line")

    monkeypatch.setattr(jsonl, "_parse_line_by_line", no_fallback)
    assert known().fitting(data) is not None
    assert as_stored(parse_chunk(data, 1, known=known())) == inferred
