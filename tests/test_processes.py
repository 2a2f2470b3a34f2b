"""Stopping a process group, as the demo stops `dagster dev` and the tests stop what they spawn."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys

import pytest

from gladly_assets.processes import stop_process_group

# A shell that starts a child in its group, which prints its pid, and waits. A shell's
# background child ignores SIGINT, so the obeying child restores the default first (and
# prints only then: the test cannot signal it too early); "ignore" makes both ignore it,
# as a hung process would (an ignored signal stays ignored across exec).
OBEYING_CHILD = shlex.join(
    [
        sys.executable,
        "-c",
        "import os, signal, time; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "print(os.getpid(), flush=True); time.sleep(600)",
    ]
)
FAMILY = {"obey": f"{OBEYING_CHILD} & wait", "ignore": "trap '' INT; sleep 600 & echo $!; wait"}


def spawn(mode: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        ["/bin/sh", "-c", FAMILY[mode]], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert process.stdout is not None
    child = int(process.stdout.readline())
    return process, child


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead already; its parent (or init) reaps it.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:  # reaped meanwhile
        return False


# A generous grace where the group obeys: the stopper returns as soon as the group is gone.
@pytest.mark.parametrize(
    ("mode", "signum", "grace", "returncode"),
    [
        ("obey", signal.SIGINT, 60.0, -signal.SIGINT),
        ("ignore", signal.SIGINT, 0.5, -signal.SIGKILL),  # killed once the grace period is over
        ("obey", signal.SIGKILL, 60.0, -signal.SIGKILL),  # a crash, as the CLI test simulates
    ],
)
def test_the_whole_group_is_stopped(mode: str, signum: int, grace: float, returncode: int) -> None:
    process, child = spawn(mode)
    try:
        stop_process_group(process, signum, grace_seconds=grace)
        assert process.returncode == returncode
        assert not alive(child)
    finally:
        with contextlib.suppress(ProcessLookupError):  # only if the stopper failed
            os.killpg(process.pid, signal.SIGKILL)


def test_an_exited_process_is_just_reaped() -> None:
    process = subprocess.Popen(["/bin/sh", "-c", "exit 0"], start_new_session=True)
    process.wait()
    stop_process_group(process)
    assert process.returncode == 0
