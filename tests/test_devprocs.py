"""The process helper every tool starts its children with (devprocs)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from devprocs import Process, ProcessExited

# A leader whose child ignores SIGTERM, as a pool process stuck in a task would.
STUBBORN_CHILD = """
import signal, subprocess, sys, time
ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
child = subprocess.Popen([sys.executable, "-c", ignore + "time.sleep(600)"])
print(child.pid, flush=True)
time.sleep(600)
"""


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


def test_stop_leaves_no_child_behind(tmp_path, wait_for):
    log = tmp_path / "out.log"
    process = Process("stubborn", [sys.executable, "-c", STUBBORN_CHILD], log_path=log)
    process.start()
    assert wait_for(lambda: log.read_text().strip() != "")
    child = int(log.read_text())

    process.stop(timeout=1)

    assert not process.alive
    assert wait_for(lambda: not _running(child))


def test_waiting_ends_as_soon_as_the_child_exits(tmp_path):
    script = "import sys; print('no database'); sys.exit(3)"
    process = Process("server", [sys.executable, "-c", script], log_path=tmp_path / "l")

    with pytest.raises(ProcessExited) as exited:
        process.start().wait_ready(lambda: False, timeout=600)

    assert "server exited with code 3" in str(exited.value)
    assert "no database" in str(exited.value)
