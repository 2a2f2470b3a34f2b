"""Stopping a process together with everything it started.

The process must have been started with ``start_new_session=True``: it then leads
a process group that its children (for `dagster dev`: the webserver, the daemon,
the code server and the runs) join, and the group is stopped as one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import Any

_POLL_SECONDS = 0.1
# SIGKILL cannot be refused, but the kernel still takes a moment to tear processes down.
_KILLED_SECONDS = 10.0


def stop_process_group(
    process: subprocess.Popen[Any], signum: int = signal.SIGINT, grace_seconds: float = 30.0
) -> None:
    """Send ``signum`` to the whole group (SIGINT is what Ctrl-C in a terminal sends), wait
    until every member is gone, and SIGKILL the group after ``grace_seconds`` or at a second
    Ctrl-C. Returns once the leader is reaped."""
    group = process.pid
    with contextlib.suppress(ProcessLookupError):  # the group is gone already
        os.killpg(group, signum)
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C: kill at once
            _wait_for_group(process, grace_seconds)
        if _group_alive(group):
            os.killpg(group, signal.SIGKILL)
            _wait_for_group(process, _KILLED_SECONDS)
    process.wait()


def _wait_for_group(process: subprocess.Popen[Any], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while _group_alive(process.pid) and time.monotonic() < deadline:
        process.poll()  # reap the leader: a zombie still counts as a member
        time.sleep(_POLL_SECONDS)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
