"""Start, find and stop the lab's service processes, by pid file.

Each service runs in a session (and process group) of its own, its output appended to
its log file. Its pid file holds the pid and the process's start time, so a pid that
the system has since given to another process is never taken for the service, and
never signalled. Stopping signals the service's process group: a service's children
(the RE Manager's worker) end with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil

#: How long a service has to end after SIGTERM before it is killed.
STOP_TIMEOUT_S = 20.0

#: The services this process started, by pid: kept so that stopping one here collects
#: its exit status (no zombie), and the process outlives the ``start_process`` call.
_STARTED: dict[int, subprocess.Popen[bytes]] = {}


def start_process(
    argv: Sequence[str], *, pid_file: Path, log_file: Path, env: Mapping[str, str]
) -> int:
    """Start ``argv`` in a new session, output appended to ``log_file``; returns its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {argv[0]}\n".encode())
        log.flush()
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
        )
    _STARTED[process.pid] = process
    created = psutil.Process(process.pid).create_time()
    pid_file.write_text(json.dumps({"pid": process.pid, "created": created}) + "\n")
    return process.pid


def running_pid(pid_file: Path) -> int | None:
    """The pid of the service ``pid_file`` names, if that very process still runs."""
    try:
        record = json.loads(pid_file.read_text())
        process = psutil.Process(int(record["pid"]))
        if abs(process.create_time() - float(record["created"])) > 0.01:
            return None  # the pid was reused
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.pid
    except (OSError, ValueError, KeyError, TypeError, psutil.Error):
        return None


def process_tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (empty if it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def stop_process(pid_file: Path, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """Stop the service of ``pid_file`` and its children: SIGTERM, then SIGKILL.

    Returns:
        True if it was running.
    """
    pid = running_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    tree = process_tree(pid)
    _signal_group(pid, signal.SIGTERM)
    alive = wait_ended(tree, timeout_s)
    if alive:
        _signal_group(pid, signal.SIGKILL)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        wait_ended(alive, timeout_s)
    _reap(pid)
    pid_file.unlink(missing_ok=True)
    return True


def has_ended(process: psutil.Process) -> bool:
    """True once ``process`` has exited, whether or not its parent has collected it yet.

    A service outlives the ``hcs lab up`` that started it, so its parent is the
    system's init process, which collects exited children in its own time (some
    container init processes only every few seconds): an exited, uncollected process
    (a zombie) has ended all the same.
    """
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def wait_ended(
    processes: Sequence[psutil.Process], timeout_s: float, interval_s: float = 0.02
) -> list[psutil.Process]:
    """Wait until every process has ended (see :func:`has_ended`); returns those still alive."""
    alive = list(processes)

    def all_ended() -> bool:
        alive[:] = [p for p in alive if not has_ended(p)]
        return not alive

    wait_for(all_ended, timeout_s, interval_s)
    return alive


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)  # the service leads its own process group


def _reap(pid: int) -> None:
    """Collect the exit status of a service this process started (else it stays a zombie)."""
    process = _STARTED.pop(pid, None)
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=1.0)


def reap_ended() -> list[int]:
    """Collect the exit status of every service this process started that has ended.

    A long-lived supervisor (the watcher) calls it, so that a service killed outside it
    does not stay a zombie. Returns the pids collected.
    """
    ended = [pid for pid, process in _STARTED.items() if process.poll() is not None]
    for pid in ended:
        del _STARTED[pid]
    return ended


def wait_for(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.2) -> bool:
    """Call ``condition()`` until it is true or ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        pause.wait(interval_s)
