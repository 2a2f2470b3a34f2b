"""Lines longer than ``max_line_bytes``: quarantined with their line number and first bytes,
read past without being held, and the lines around them parsed as usual."""

import json
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gladly_assets.load.jsonl import OVERLONG_HEAD_BYTES, read_batches

BROKEN = '{"id": "broken'


def sized_line(number: int, size: int) -> str:
    """A JSON object line of exactly ``size`` bytes (its line break not counted)."""
    start, end = f'{{"id":"r{number}","pad":"', '"}'
    assert size >= len(start) + len(end)
    return start + "x" * (size - len(start) - len(end)) + end


def write_file(path: Path, lines: list[str], trailing_newline: bool, line_break: str = "\n") -> Path:
    path.write_bytes((line_break.join(lines) + (line_break if trailing_newline else "")).encode())
    return path


def read(path: Path, batch_bytes: int, max_line_bytes: int):
    batches = list(read_batches(path, batch_bytes=batch_bytes, max_line_bytes=max_line_bytes))
    ids = [value for batch in batches for value in batch.frame["id"].to_list()]
    rejected = [line for batch in batches for line in batch.rejected]
    return batches, ids, rejected


def assert_read_as_expected(path: Path, lines: list[str], batch_bytes: int, max_line_bytes: int) -> None:
    batches, ids, rejected = read(path, batch_bytes, max_line_bytes)

    too_long = {number for number, line in enumerate(lines, 1) if len(line) > max_line_bytes}
    broken = {number for number, line in enumerate(lines, 1) if line == BROKEN} - too_long
    assert [line.line_number for line in rejected] == sorted(too_long | broken)
    assert ids == [json.loads(line)["id"] for number, line in enumerate(lines, 1) if number not in too_long | broken]
    for line in rejected:
        text = lines[line.line_number - 1]
        if line.line_number in too_long:
            assert line.raw == text[:OVERLONG_HEAD_BYTES]
            assert f"line of {len(text):,} bytes, longer than max_line_bytes ({max_line_bytes:,})" in line.error
            assert ("kept here whole" in line.error) == (len(text) <= OVERLONG_HEAD_BYTES)
        else:  # a malformed line is kept as sent, the CR of a CRLF included
            assert line.raw.removesuffix("\r") == text
    # Every byte and every line of the file is accounted for, in file order.
    assert sum(batch.byte_count for batch in batches) == path.stat().st_size
    assert sum(batch.line_count for batch in batches) == len(lines)
    starts = [1]
    for batch in batches[:-1]:
        starts.append(starts[-1] + batch.line_count)
    assert [batch.first_line for batch in batches] == starts


LINE_BREAKS = pytest.mark.parametrize("line_break", ["\n", "\r\n"], ids=["LF", "CRLF"])


@LINE_BREAKS
@pytest.mark.parametrize(
    ("sizes", "trailing_newline"),
    [
        pytest.param([50, 5000, 50], True, id="in-the-middle"),
        pytest.param([5000], True, id="the-whole-file"),
        pytest.param([5000], False, id="the-whole-file-without-line-break"),
        pytest.param([50, 50, 5000], False, id="last-without-line-break"),
        pytest.param([4096, 4097, 4096], True, id="at-the-limit-and-one-past"),
        pytest.param([1023, 2047, 3071, 4095, 4096], True, id="line-breaks-on-block-edges"),
        pytest.param([50, 4097, 50], False, id="ends-on-a-block-edge"),
        pytest.param([5000, 6000, 50], True, id="two-in-a-row"),
        pytest.param([3000, 50, 2000, 50], True, id="longer-than-a-batch-within-the-limit"),
        pytest.param([50] * 30 + [100_000] + [50] * 30, True, id="longer-than-the-kept-head"),
        pytest.param([5000, "broken", 50, "broken"], False, id="beside-malformed-lines"),
    ],
)
def test_lines_past_the_limit_are_rejected_and_the_rest_parsed(tmp_path, sizes, trailing_newline, line_break):
    lines = [BROKEN if size == "broken" else sized_line(number, size) for number, size in enumerate(sizes)]
    path = write_file(tmp_path / "items.jsonl", lines, trailing_newline, line_break)

    assert_read_as_expected(path, lines, batch_bytes=1024, max_line_bytes=4096)


def test_batches_are_cut_no_larger_than_the_limit_so_no_long_line_is_missed(tmp_path):
    # A limit below the batch size: a 600-byte line fits one 8 MiB block, yet is past the limit.
    lines = [sized_line(0, 100), sized_line(1, 600), sized_line(2, 100)]
    path = write_file(tmp_path / "items.jsonl", lines, True)

    assert_read_as_expected(path, lines, batch_bytes=8 << 20, max_line_bytes=500)


@settings(max_examples=60, deadline=None)  # each example runs a thread pool over a file
@given(
    # A line of number n takes at least 21 bytes (two digits).
    sizes=st.lists(st.one_of(st.integers(21, 300), st.integers(300, 3000), st.just("broken")), min_size=1, max_size=40),
    batch_bytes=st.sampled_from([64, 256, 1000, 4096]),
    max_line_bytes=st.integers(200, 2000),
    trailing_newline=st.booleans(),
    line_break=st.sampled_from(["\n", "\r\n"]),
)
def test_any_line_past_the_limit_is_rejected_whatever_the_batches(
    tmp_path_factory, sizes, batch_bytes, max_line_bytes, trailing_newline, line_break
):
    lines = [BROKEN if size == "broken" else sized_line(number, size) for number, size in enumerate(sizes)]
    path = write_file(tmp_path_factory.mktemp("long") / "items.jsonl", lines, trailing_newline, line_break)

    assert_read_as_expected(path, lines, batch_bytes, max_line_bytes)


def test_a_long_line_is_read_past_without_being_held(tmp_path):
    line_bytes, limit = 48 << 20, 1 << 20
    path = tmp_path / "items.jsonl"
    with open(path, "wb") as out:
        out.write(b'{"id":"a"}\n{"id":"huge","pad":"')
        for _ in range(line_bytes >> 20):
            out.write(b"x" * (1 << 20))
        out.write(b'"}\n{"id":"b"}\n')

    tracemalloc.start()
    try:
        _, ids, rejected = read(path, batch_bytes=256 << 10, max_line_bytes=limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert ids == ["a", "b"]
    assert [line.line_number for line in rejected] == [2]
    # The blocks in flight and the kept head, never the line: well under its 48 MiB.
    assert peak < 8 * limit, peak


def test_a_head_cut_inside_a_character_keeps_the_whole_characters_before_it(tmp_path):
    # An odd prefix: the kept bytes end in the middle of a two-byte character.
    line = '{"id":"x","b":"' + "\u00e9" * 40_000 + '"}'
    path = write_file(tmp_path / "items.jsonl", [line], True)

    _, _, [rejected] = read(path, batch_bytes=1000, max_line_bytes=1000)

    assert line.startswith(rejected.raw)
    assert len(rejected.raw.encode()) == OVERLONG_HEAD_BYTES - 1
    assert "only its first 64 KiB kept here" in rejected.error


def test_a_limit_below_one_byte_is_refused(tmp_path):
    path = write_file(tmp_path / "items.jsonl", ['{"id":"a"}'], True)
    with pytest.raises(ValueError, match="max_line_bytes must be positive"):
        list(read_batches(path, max_line_bytes=0))
