"""What every declared DuckDB table says the same way: its SQL name and its asset key."""

from __future__ import annotations

from typing import ClassVar

import dagster as dg


class DeclaredTable:
    """A table ``name`` in DuckDB schema ``SCHEMA``, whose asset key is ``[SCHEMA, name]``.

    Mixed into the frozen dataclasses that declare tables (which provide ``name``)."""

    SCHEMA: ClassVar[str]
    name: str

    @property
    def qualified_name(self) -> str:
        return f"{self.SCHEMA}.{self.name}"

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey([self.SCHEMA, self.name])


def table_schema(columns: dict[str, str], described: dict[str, str]) -> dg.TableSchema:
    """The column schema the UI shows: DuckDB's columns and types, with the declared descriptions."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name, kind, description=described.get(name)) for name, kind in columns.items()]
    )
