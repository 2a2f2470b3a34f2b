"""Small DuckDB helpers shared by the Gladly warehouse and the analytics build."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb


def quote(identifier: str) -> str:
    """Quote an identifier that came from untrusted JSON so it can only ever be a name."""
    return '"' + identifier.replace('"', '""') + '"'


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT, or ROLLBACK on any error (a KeyboardInterrupt included).

    The error raised is the one that failed the transaction, never a failing ROLLBACK."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException as error:
        try:
            conn.execute("ROLLBACK")
        except duckdb.Error as rollback_error:
            error.add_note(f"rolling back after this error failed too: {rollback_error}")
        raise
    conn.execute("COMMIT")


@contextmanager
def session_setting(conn: duckdb.DuckDBPyConnection, name: str, value: object) -> Iterator[None]:
    """``SET SESSION name = value`` for the block, then the connection's value before.

    Use it outside transactions: DuckDB refuses any statement in an aborted one. If the block
    raised, that error is the one raised, also when restoring fails."""
    before = conn.execute("SELECT current_setting(?)", [name]).fetchone()
    conn.execute(f"SET SESSION {name} = ?", [value])
    restore = f"SET SESSION {name} = ?", [before[0] if before else None]
    try:
        yield
    except BaseException as error:
        try:
            conn.execute(*restore)
        except duckdb.Error as restore_error:
            error.add_note(f"restoring the DuckDB setting {name} failed too: {restore_error}")
        raise
    conn.execute(*restore)
