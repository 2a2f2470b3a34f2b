"""Keeping Python's cyclic garbage collector off the objects a process already holds."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def existing_objects_frozen() -> Iterator[None]:
    """Within the block, full collections skip every object alive when it started.

    A Dagster process holds a large heap of long-lived objects (its modules, definitions,
    instance and run), and each full collection walks all of it: long enough to show in a
    sync's timings. Objects made within the block are collected as usual, and at its end
    the frozen ones are handed back to the collector. If something in the process froze
    objects already (``gc.freeze`` is the host's to decide), the block changes nothing."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
