"""Which column holds which key: the naming rule of ``column_names``, table-driven."""

import pytest

from gladly_assets.load.column_names import ColumnNames, is_plain, key_of

LOADED = ["id", "name", "_job_id", "_job_updated_at"]


@pytest.mark.parametrize(
    ("key", "column"),
    [
        ("name", "name"),  # already a column
        ("address", "address"),
        ("Name", "Name__2"),  # DuckDB names ignore ASCII case
        ("NAME", "NAME__3"),  # after Name took Name__2
        ("rowid", "rowid__2"),  # DuckDB's pseudo-column
        ("ROWID", "ROWID__3"),
        ("_job_id", "_job_id__2"),  # the loader's columns
        ("_JOB_UPDATED_AT", "_JOB_UPDATED_AT__2"),
        ("_load_ordinal", "_load_ordinal__2"),
        ("", "__2"),
        ("a\x00b", "a\\u0000b__2"),
        ("tab\tkey", "tab\\u0009key__2"),
        ("back\\slash", "back\\slash"),  # a plain name may hold a backslash
        ("x\\y\n", "x\\\\y\\u000a__2"),  # ... but a renamed one doubles it
        ("name__2", "name__2__2"),  # looks renamed: renamed itself
        ("é", "é"),  # DuckDB folds ASCII letters only
        ("É", "É"),
        ('q"uote', 'q"uote'),
        ("select", "select"),
    ],
)
def test_each_key_gets_a_column_that_names_it_back(key, column):
    names = ColumnNames(LOADED)
    if key == "NAME":
        names.assign("Name")
    if key == "ROWID":
        names.assign("rowid")
    assert names.assign(key) == column
    assert names.assign(key) == column  # the same column every time
    assert key_of(column) == key


def test_a_table_keeps_its_mapping_from_its_column_names_alone():
    names = ColumnNames(LOADED)
    keys = ["Name", "NAME", "", "rowid", "a\x00b", "name__2", "x\\u0000"]
    columns = [names.assign(key) for key in keys]
    assert len({column.lower() for column in columns + LOADED}) == len(columns) + len(LOADED)
    reopened = ColumnNames(LOADED + columns)
    assert [reopened.get(key) for key in keys] == columns
    assert reopened.assign("nAmE") == "nAmE__4"


def test_loader_columns_hold_no_key():
    assert [key_of(name) for name in ("_job_id", "_job_updated_at", "_load_ordinal")] == [None] * 3
    assert not is_plain("RowId") and not is_plain("") and is_plain("rowid_x")
