"""Which column holds which top-level JSON key: every key gets one, and keeps it.

A key is stored under its own name when it can be: it is not empty, holds no
control character (NUL included), is not a name the loader or DuckDB uses
(``_job_id``, ``_job_updated_at``, ``_load_ordinal``, the pseudo-column
``rowid``; compared without case), does not end like a renamed column
(``__`` and digits), and no other key of the table has a column of that name
(DuckDB names ignore ASCII case, so ``Name`` cannot sit beside ``name``).

Any other key is stored under ``<key>__<n>``: the key with ``\\`` doubled and
control characters written ``\\u00XX``, then ``__`` and the smallest number from
2 whose name is free (without case). So a column named ``X__<n>`` always holds
the key that ``X`` spells, and a column of any other name holds the key it is
named after (``key_of``): ``Name__2`` holds ``Name`` beside ``name``, ``rowid__2``
holds ``rowid``, ``__2`` the empty key, ``a\\u0000b__2`` the key ``a<NUL>b``.

Keys are given columns in the order they first hold a value in the file (keys
first seen on the same line in code-point order), and jobs in the order they are
applied, so the same files give the same names whatever the batching.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gladly_assets.tables import JOB_ID_COLUMN, JOB_UPDATED_AT_COLUMN

# The loader's own column in its staging table: a row's position in the file.
ORDINAL_COLUMN = "_load_ordinal"
LOADER_COLUMNS = (JOB_ID_COLUMN, JOB_UPDATED_AT_COLUMN, ORDINAL_COLUMN)
_RESERVED = frozenset(name.lower() for name in (*LOADER_COLUMNS, "rowid"))

_RENAMED = re.compile(r"(.*)__([0-9]+)", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f]")
_TO_ESCAPE = re.compile(r"[\x00-\x1f\\]")
_ESCAPED = re.compile(r"\\(\\|u[0-9a-f]{4})")


def fold(name: str) -> str:
    """The name as DuckDB compares it: ASCII letters lowered, nothing else."""
    return name.encode().lower().decode()


def is_plain(key: str) -> bool:
    """Whether a key may be its own column name (if no other key's column takes it)."""
    return bool(key) and not _CONTROL.search(key) and fold(key) not in _RESERVED and not _RENAMED.fullmatch(key)


def key_of(column: str) -> str | None:
    """The JSON key a column holds; None for the loader's own columns."""
    if column in LOADER_COLUMNS:
        return None
    renamed = _RENAMED.fullmatch(column)
    if renamed is None:
        return column
    return _ESCAPED.sub(
        lambda escape: "\\" if escape.group(1) == "\\" else chr(int(escape.group(1)[1:], 16)), renamed.group(1)
    )


def _escape(key: str) -> str:
    return _TO_ESCAPE.sub(lambda char: "\\\\" if char.group() == "\\" else f"\\u{ord(char.group()):04x}", key)


class ColumnNames:
    """The key -> column mapping of one table, assigning columns to new keys."""

    def __init__(self, columns: Iterable[str]):
        self._taken: set[str] = set()
        self._columns: dict[str, str] = {}
        for column in columns:
            self._taken.add(fold(column))
            key = key_of(column)
            # A column named like its key wins over a renamed one (tables from older loaders).
            if key is not None and (key not in self._columns or column == key):
                self._columns[key] = column

    def get(self, key: str) -> str | None:
        return self._columns.get(key)

    def assign(self, key: str) -> str:
        """The key's column, a new name if it has none yet."""
        column = self._columns.get(key)
        if column is not None:
            return column
        column = key
        if not is_plain(key) or fold(key) in self._taken:
            stem, number = _escape(key), 2
            while fold(f"{stem}__{number}") in self._taken:
                number += 1
            column = f"{stem}__{number}"
        self._taken.add(fold(column))
        self._columns[key] = column
        return column
