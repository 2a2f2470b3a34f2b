"""Writing JSON Lines fast, and breaking them on purpose.

``encode`` is compact UTF-8 JSON (text stays readable, emoji and all);
``write_jsonl`` streams lines to disk and can inject the malformed lines real
exports contain.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Sequence
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any


def _make_encoder() -> Callable[[object], str]:
    """Compact UTF-8 JSON. ``JSONEncoder.encode`` rebuilds its C encoder on every
    call; building it once makes encoding ~35% faster, which matters at millions of lines."""
    slow = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
    if c_make_encoder is None:  # interpreters without the C accelerator
        return slow

    def refuse(value: object) -> object:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    fast = c_make_encoder(None, refuse, encode_basestring, None, ":", ",", False, False, True)
    return lambda value: "".join(fast(value, 0))


encode = _make_encoder()


_NOT_JSON = (
    "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    "ERROR: upstream timed out ☠ (retrying)",
    "id,name,address",
)
_MALFORMED_KINDS = ("not_json", "truncated", "array", "no_id")


def _malformed(kind: str, line: str, rng: random.Random) -> str:
    if kind == "not_json":
        return _NOT_JSON[int(rng.random() * len(_NOT_JSON))]
    if kind == "truncated":
        return line[: max(1, len(line) // 2)]
    if kind == "array":
        return f"[{line}]"
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    without_id = {k: v for k, v in record.items() if k != "id"} if isinstance(record, dict) else {"note": "no id"}
    return encode(without_id)


def write_jsonl(
    path: Path,
    records: Iterable[Any],
    *,
    expected: int,
    malformed: int = 0,
    extra: Sequence[bytes] = (),
    rng: random.Random | None = None,
    mutate: Callable[[list[Any]], list[Any]] | None = None,
) -> int:
    """Stream records (objects, or already encoded JSON lines) to ``path`` as UTF-8 JSON lines.

    Returns how many records it wrote (mutate may have made some of them invalid).

    ``malformed`` bad lines are spread evenly (a rotation of not-JSON text, a
    truncated object, an array, an object without ``id``); the last of them is
    the file's final line, truncated and without a trailing newline. ``extra``
    lines go after the records, before that truncated tail.
    """
    rng = rng or random.Random(0)
    if mutate is not None:  # a test hook: small files only, so a list is fine
        # Fresh objects (a JSON round trip): the hook may edit them in place
        # without touching the world's cached records.
        records = mutate([json.loads(r if isinstance(r, str) else encode(r)) for r in records])
        lines: Iterable[str] = map(encode, records)
    else:  # the generator's items arrive already encoded
        lines = (r if isinstance(r, str) else encode(r) for r in records)
    inside = max(0, malformed - 1)  # the last one is the truncated tail
    positions = [max(1, (j + 1) * expected // (inside + 1)) for j in range(inside)]
    written = bad = 0
    last_line = '{"id":"'
    with open(path, "wb") as out:
        buffer: list[str] = []
        for last_line in lines:
            buffer.append(last_line)
            written += 1
            while bad < inside and positions[bad] <= written:
                buffer.append(_malformed(_MALFORMED_KINDS[bad % 4], last_line, rng))
                bad += 1
            if len(buffer) >= 4096:
                out.write(("\n".join(buffer) + "\n").encode())
                buffer.clear()
        for rest in range(bad, inside):  # fewer records than expected: the rest go at the end
            buffer.append(_malformed(_MALFORMED_KINDS[rest % 4], last_line, rng))
        if buffer:
            out.write(("\n".join(buffer) + "\n").encode())
        for raw in extra:
            out.write(raw if raw.endswith(b"\n") else raw + b"\n")
        if malformed > 0:
            out.write(last_line[: max(1, len(last_line) * 3 // 5)].encode())
    return written
