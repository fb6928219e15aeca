"""The watcher's test of a live RE worker: the data directory's owner lock and its holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from hcs_orchestrator.lab.layout import WORKER_COMMAND
from hcs_orchestrator.lab.watcher import worker_alive
from hcs_storage.owner import DataDirOwner

HOLD = f"""
import sys, threading
from hcs_storage.owner import DataDirOwner
DataDirOwner(sys.argv[1], command={WORKER_COMMAND!r}).acquire()
print("held", flush=True)
threading.Event().wait()
"""


def test_worker_alive_while_a_worker_holds_the_data_directory(tmp_path: Path) -> None:
    assert worker_alive(tmp_path) == (False, None)  # nobody ever held it
    with DataDirOwner(tmp_path, command=WORKER_COMMAND):
        assert worker_alive(tmp_path) == (True, os.getpid())
    assert worker_alive(tmp_path) == (False, None)  # released in order: nothing described


def test_worker_alive_is_false_when_another_command_holds_the_directory(tmp_path: Path) -> None:
    with DataDirOwner(tmp_path, command="hcs acquire plate.yaml"):
        assert worker_alive(tmp_path) == (False, None)


def test_worker_alive_is_false_naming_the_pid_when_the_worker_was_killed(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        assert worker_alive(tmp_path) == (True, child.pid)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        assert worker_alive(tmp_path) == (False, child.pid)  # the description stays
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
