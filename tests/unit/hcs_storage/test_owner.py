"""The owner lock of a data directory: one holder, named; released by close or death."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hcs_storage.owner import OWNER_FILE, DataDirInUseError, DataDirOwner, read_holder

HOLD = (
    "import sys; from hcs_storage.owner import DataDirOwner; "
    "DataDirOwner(sys.argv[1], command='hcs acquire plate.yaml').acquire(); "
    "print('held', flush=True); sys.stdin.read()"
)


def test_owner_second_acquire_is_refused_naming_the_holder_when_held(tmp_path: Path) -> None:
    with (
        DataDirOwner(tmp_path, command="hcs acquire plate.yaml"),
        pytest.raises(DataDirInUseError) as refused,
    ):
        DataDirOwner(tmp_path, command="hcs acquire other.yaml").acquire()
    message = str(refused.value)
    assert f"is in use by pid {os.getpid()} (hcs acquire plate.yaml)" in message
    assert " since " in message and "--data-dir" in message
    assert refused.value.holder is not None and refused.value.holder.pid == os.getpid()


def test_owner_is_free_again_and_described_by_nobody_when_released(tmp_path: Path) -> None:
    first = DataDirOwner(tmp_path).acquire()
    assert read_holder(tmp_path) is not None
    first.release()
    first.release()  # twice is fine
    assert read_holder(tmp_path) is None
    with DataDirOwner(tmp_path) as second:
        assert second.held
    assert (tmp_path / OWNER_FILE).exists()  # never deleted


@pytest.mark.timeout(60)
def test_owner_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "held"
            with pytest.raises(DataDirInUseError, match=f"pid {holder.pid} \\(hcs acquire"):
                DataDirOwner(tmp_path).acquire()
        finally:
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait(30)
    with DataDirOwner(tmp_path, command="next") as owner:  # no wait, no stale lock
        assert owner.held
        described = read_holder(tmp_path)
        assert described is not None and described.pid == os.getpid()


def test_owner_only_one_of_many_threads_gets_the_directory(tmp_path: Path) -> None:
    owners = [DataDirOwner(tmp_path) for _ in range(8)]
    won: list[DataDirOwner] = []
    start = threading.Barrier(len(owners))

    def take(owner: DataDirOwner) -> None:
        start.wait()
        with contextlib.suppress(DataDirInUseError):
            won.append(owner.acquire())

    threads = [threading.Thread(target=take, args=(o,)) for o in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(won) == 1
    won[0].release()
