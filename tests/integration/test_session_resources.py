"""Opening and closing sessions leaves nothing behind: threads and file descriptors stay flat.

Each ``open_session()`` / ``close()`` cycle used to leave 3-4 threads (the RunEngine's
loop thread, the embedded catalog's portal and worker threads) and 6 file descriptors
(two event loops' epoll and wake-up sockets), plus the DuckDB connection of a directory.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

import bluesky.plans as bp
import pytest
from plate_harness import fast_config

from hcs_devices.config import MicroscopeConfig
from hcs_orchestrator.session import open_session

pytestmark = pytest.mark.slow

CYCLES = 50
WARM_UP = 2


def open_fds() -> dict[int, str]:
    """This process's open file descriptors and what each points at."""
    found: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the descriptor listdir itself used
            found[int(name)] = os.readlink(f"/proc/self/fd/{name}")
    return found


def settled_threads(limit: int, timeout_s: float = 5.0) -> list[str]:
    """Thread names once at most ``limit`` run (or after ``timeout_s``): a worker thread
    told to stop may take a moment to end."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while len(threading.enumerate()) > limit and time.monotonic() < deadline:
        pause.wait(0.02)
    return sorted(t.name for t in threading.enumerate())


@pytest.mark.timeout(900)
def test_session_open_close_cycles_leave_threads_and_fds_flat(
    profile_config: MicroscopeConfig, tmp_path: Path
) -> None:
    config = fast_config(profile_config)
    threads: list[list[str]] = []
    fds: list[dict[int, str]] = []
    for cycle in range(CYCLES):
        # Alternate two directories: a directory's DuckDB file must be closed too.
        session = open_session(config, tmp_path / f"data{cycle % 2}")
        if cycle % 10 == 0:  # now and then, use the camera (its render and writer threads)
            session.RE(bp.count([session.microscope.camera], num=2))
        session.close()
        threads.append(settled_threads(len(threads[WARM_UP - 1]) if cycle >= WARM_UP else 10**6))
        fds.append(open_fds())
    base_threads, base_fds = threads[WARM_UP - 1], fds[WARM_UP - 1]
    # Counted from the warm-up on: the first cycles may still see worker threads that an
    # earlier test in this process left to end on their idle timeout.
    grown_threads = [
        (i, t) for i, t in enumerate(threads) if i >= WARM_UP and len(t) > len(base_threads)
    ]
    assert not grown_threads, (
        f"threads after cycle {WARM_UP}: {base_threads}; grew: {grown_threads}"
    )
    new_fds = {
        i: sorted(set(f.values()) - set(base_fds.values()))
        for i, f in enumerate(fds)
        if i >= WARM_UP and len(f) > len(base_fds)
    }
    assert not new_fds, f"file descriptors grew: {new_fds}"
    print(
        f"threads: {len(threads[0])} after cycle 1, {len(threads[-1])} after {CYCLES}; "
        f"fds: {len(fds[0])} after cycle 1, {len(fds[-1])} after {CYCLES}"
    )
