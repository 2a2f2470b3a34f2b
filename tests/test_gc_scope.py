"""The garbage collector skips what a process held before an asset's work, and only meanwhile."""

from __future__ import annotations

import gc
import weakref

import pytest

from gladly_assets.gc_scope import existing_objects_frozen
from gladly_assets.resources.warehouse import duckdb_resource, open_warehouse


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def nothing_frozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_objects_alive_before_are_frozen_within_the_block_and_handed_back_after():
    before = Node()
    with existing_objects_frozen():
        assert gc.get_freeze_count() > 0
        # A full collection cannot free what is frozen, even once it is garbage.
        held = weakref.ref(before)
        del before
        gc.collect()
        assert held() is not None
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert held() is None


def test_garbage_made_within_the_block_is_collected_there():
    with existing_objects_frozen():
        made = Node()
        held = weakref.ref(made)
        del made
        gc.collect()
        assert held() is None


def test_an_error_in_the_block_still_hands_the_objects_back():
    with pytest.raises(RuntimeError, match="boom"), existing_objects_frozen():
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0


def test_a_freeze_made_by_the_process_itself_is_left_as_it_is():
    gc.freeze()
    frozen = gc.get_freeze_count()
    # Frozen objects still go when their last reference does, so the count can only fall.
    with existing_objects_frozen():
        made = Node()
        assert 0 < gc.get_freeze_count() <= frozen
        held = weakref.ref(made)
        del made
        gc.collect()
        assert held() is None
    assert 0 < gc.get_freeze_count() <= frozen


def test_an_asset_works_with_the_earlier_objects_frozen(tmp_path):
    with open_warehouse(duckdb_resource(str(tmp_path / "w.duckdb"))) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
