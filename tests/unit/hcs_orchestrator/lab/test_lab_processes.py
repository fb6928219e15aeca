"""Lab services' processes: started in their own group, found by pid file, stopped whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from hcs_orchestrator.lab.processes import (
    has_ended,
    running_pid,
    start_process,
    stop_process,
    wait_ended,
)

#: A service with a child of its own, as the RE Manager has its worker.
PARENT_AND_CHILD = [
    sys.executable,
    "-c",
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
    "print('started', flush=True); time.sleep(120)",
]


@pytest.mark.slow
def test_stop_process_ends_the_service_and_its_children_when_it_runs(tmp_path: Path) -> None:
    pid_file, log_file = tmp_path / "run" / "svc.pid", tmp_path / "logs" / "svc.log"
    pid = start_process(PARENT_AND_CHILD, pid_file=pid_file, log_file=log_file, env=os.environ)
    assert running_pid(pid_file) == pid
    assert os.getpgid(pid) == pid  # it leads a process group of its own
    parent = psutil.Process(pid)
    deadline_children: list[psutil.Process] = []
    for _ in range(100):
        deadline_children = parent.children(recursive=True)
        if deadline_children:
            break
        psutil.wait_procs([], timeout=0.05)
    assert deadline_children, "the service's child never started"
    assert stop_process(pid_file, timeout_s=10.0)
    _, alive = psutil.wait_procs([parent, *deadline_children], timeout=10)
    assert alive == []
    assert not pid_file.exists()
    assert running_pid(pid_file) is None
    assert "starting:" in log_file.read_text()
    assert not stop_process(pid_file)  # stopping it again is harmless


def test_running_pid_is_none_and_nothing_is_signalled_when_the_pid_was_reused(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "svc.pid"
    me = psutil.Process()
    pid_file.write_text(json.dumps({"pid": me.pid, "created": me.create_time() - 3600}))
    assert running_pid(pid_file) is None
    assert not stop_process(pid_file)  # this very process is still here to assert it
    assert not pid_file.exists()


def test_running_pid_is_none_when_the_pid_file_is_missing_or_garbled(tmp_path: Path) -> None:
    assert running_pid(tmp_path / "none.pid") is None
    garbled = tmp_path / "garbled.pid"
    garbled.write_text("12")
    assert running_pid(garbled) is None


def test_wait_ended_counts_an_exited_uncollected_process_as_ended_and_returns_the_living() -> None:
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        zombie = psutil.Process(exited.pid)
        for _ in range(500):  # until it has exited; nothing collects it meanwhile
            if zombie.status() == psutil.STATUS_ZOMBIE:
                break
            threading.Event().wait(0.01)
        assert zombie.status() == psutil.STATUS_ZOMBIE
        assert has_ended(zombie)
        living = psutil.Process(sleeper.pid)
        assert not has_ended(living)
        assert wait_ended([zombie, living], timeout_s=0.2) == [living]
        sleeper.terminate()
        assert wait_ended([zombie, living], timeout_s=10.0) == []
    finally:
        sleeper.kill()
        exited.wait()
        sleeper.wait()
