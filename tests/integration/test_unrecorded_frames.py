"""kill -9 of a plate acquisition at 20 seeded moments: every frame file accounted for.

Each moment forks an acquisition (``unrecorded_child.py``) on a fresh data directory
and kills it: 14 after a seeded delay from its first frame file (landing mid-field or
between fields), 6 inside the collect of a seeded field (its images announced, their
rows not yet). The directory is then taken (owner lock) and its crashed run closed as
``hcs runs`` and ``open_session`` do. For each moment:

- the run's stop document has exit status "fail";
- the frame files on disk are exactly the files the run's StreamDatum announce plus
  the files its stop document lists as unrecorded (each with a reason), the two sets
  disjoint, no file listed twice, and ``unrecorded.json`` holds the same list;
- the images announced equal the rows recorded, and no (well, fov, channel, z, t) twice.

Once, ``hcs runs`` closes a killed run and prints its unrecorded files.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

import pytest
from plate_harness import frame_file
from storage_support import plate_sequence

from frame_rows import frame_rows, images_announced
from hcs_storage.owner import DataDirOwner
from hcs_storage.recovery import UNRECORDED_FILE
from hcs_storage.spool import close_crashed_runs, read_journal, spool_dir

pytestmark = pytest.mark.slow

CHILD = Path(__file__).with_name("unrecorded_child.py")
HCS = Path(sys.executable).with_name("hcs")
#: One well, 4 x 4 fields x 2 channels: 16 fields, 32 images, over a second of frames.
SEQUENCE = plate_sequence([[1], [1]], rows=4, columns=4)
FIELDS = 16
SEED = 18
DELAYED_KILLS = 14
COLLECT_KILLS = 6
#: Latest kill after the first frame file (seconds): inside the run's ~1 s of frames.
MAX_DELAY_S = 0.6
#: Starts again of a moment whose process failed before its first frame (load).
RETRIES = 2


class Forker:
    """The forking parent of the acquisition processes."""

    def __init__(self, log: IO[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )

    def _reply(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "the forking parent exited"
        return json.loads(line)

    def start(self, data_dir: Path, **request: Any) -> int:
        assert self.process.stdin is not None
        payload = {"data_dir": str(data_dir), "sequence": SEQUENCE} | request
        self.process.stdin.write(json.dumps(payload) + "\n")
        self.process.stdin.flush()
        return int(self._reply()["pid"])

    def status(self) -> int:
        return int(self._reply()["status"])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def frame_files(data_dir: Path) -> set[str]:
    """Every file in the data directory's frame sets but the unrecorded lists."""
    return {
        path.relative_to(data_dir).as_posix()
        for path in (data_dir / "frames").glob("*/*")
        if not path.name.startswith(UNRECORDED_FILE)
    }


def wait_for_first_frame(data_dir: Path, pid: int, timeout_s: float = 120.0) -> bool:
    """Wait for the acquisition's first frame file; False if the process ended first."""
    pause = threading.Event()
    deadline = time.monotonic() + timeout_s
    while not any((data_dir / "frames").glob("*/*.tif")):
        assert time.monotonic() < deadline, "no frame file appeared"
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        pause.wait(0.002)
    return True


def announced_files(docs: list[tuple[str, dict[str, Any]]], data_dir: Path) -> list[str]:
    resources = {d["uid"]: d for n, d in docs if n == "stream_resource"}
    return [
        frame_file(resources[d["stream_resource"]], i).relative_to(data_dir).as_posix()
        for n, d in docs
        if n == "stream_datum"
        for i in range(d["indices"]["start"], d["indices"]["stop"])
    ]


def check_closed_run(data_dir: Path) -> dict[str, Any]:
    """Assert the moment's promises on a closed crashed run; what was found."""
    (journal,) = spool_dir(data_dir).glob("*.jsonl")
    docs = [(e.name, e.doc) for e in read_journal(journal)]
    (stop,) = [d for n, d in docs if n == "stop"]
    assert stop["exit_status"] == "fail"
    announced = announced_files(docs, data_dir.resolve())
    listed = [item["file"] for item in stop["unrecorded_frames"]]
    on_disk = frame_files(data_dir.resolve())
    assert len(set(announced)) == len(announced), "a file announced twice"
    assert len(set(listed)) == len(listed), "a file listed twice"
    assert not set(announced) & set(listed), "a file both recorded and listed"
    assert set(announced) | set(listed) == on_disk
    for item in stop["unrecorded_frames"]:
        assert "died" in item["reason"], item
        if item["file"].endswith(".partial"):
            assert "incomplete write" in item["reason"], item
    if listed:
        assert f"{len(listed)} frame file" in stop["reason"]
        (written,) = (data_dir / "frames").glob(f"*/{UNRECORDED_FILE}")
        assert json.loads(written.read_text())["unrecorded_frames"] == stop["unrecorded_frames"]
    rows = frame_rows(docs)
    assert images_announced(docs) == len(rows)
    keys = Counter(
        tuple(row[f"frame-{k}"] for k in ("well", "fov", "channel", "z_index", "time_index"))
        for row in rows
    )
    assert all(n == 1 for n in keys.values()), keys
    return {"announced": len(announced), "listed": listed, "rows": len(rows)}


def close_as_the_next_process(data_dir: Path) -> list[str]:
    """Take the directory and close its crashed runs, as ``hcs runs`` does first."""
    owner = DataDirOwner(data_dir).acquire()
    try:
        return close_crashed_runs(data_dir)
    finally:
        owner.release()


@pytest.mark.timeout(600)
def test_killed_acquisition_leaves_every_frame_file_recorded_or_listed_once_at_20_moments(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    moments: list[dict[str, Any]] = [
        {"delay_s": rng.uniform(0.0, MAX_DELAY_S)} for _ in range(DELAYED_KILLS)
    ] + [{"kill_on_datum": rng.randint(1, FIELDS - 1)} for _ in range(COLLECT_KILLS)]
    found: list[dict[str, Any]] = []
    shown_by_hcs_runs = False
    retried = 0
    with open(tmp_path / "children.log", "w") as log:
        forker = Forker(log)
        try:
            for i, moment in enumerate(moments):
                status, data_dir = 1, tmp_path
                for attempt in range(1 + RETRIES):
                    data_dir = tmp_path / f"moment-{i:02d}-{attempt}"
                    if "delay_s" in moment:
                        pid = forker.start(data_dir)
                        if wait_for_first_frame(data_dir, pid):
                            threading.Event().wait(moment["delay_s"])
                            os.kill(pid, signal.SIGKILL)  # the forker reaps it
                    else:
                        forker.start(data_dir, kill_on_datum=moment["kill_on_datum"])
                    status = forker.status()
                    if status != 1:
                        break
                    # The simulated camera's first frame timed out on the loaded machine
                    # (no frame file yet): that moment never happened; start it again.
                    assert not any((data_dir / "frames").glob("*/*.tif")), "failed mid-run"
                    retried += 1
                assert status == -signal.SIGKILL, f"moment {i}: the run ended ({status})"
                if not shown_by_hcs_runs and "delay_s" in moment and _has_unannounced(data_dir):
                    shown_by_hcs_runs = True
                    _check_hcs_runs(data_dir)
                else:
                    assert len(close_as_the_next_process(data_dir)) == 1
                result = check_closed_run(data_dir) | moment
                found.append(result)
        finally:
            forker.close()
    kinds = Counter(
        "collect" if "kill_on_datum" in r else ("mid-field" if r["listed"] else "between")
        for r in found
    )
    listed = sum(len(r["listed"]) for r in found)
    print(f"moments: {dict(kinds)}; unrecorded files listed: {listed}; retried: {retried}")
    # The collect kills: the killed field's images were announced to a dead process, so
    # they are listed, never recorded without their rows.
    for r in found:
        if "kill_on_datum" in r:
            assert r["announced"] == 2 * (r["kill_on_datum"] - 1)
            assert len(r["listed"]) == 2  # that field's two channels
    assert kinds["mid-field"] >= 1, kinds
    assert shown_by_hcs_runs


def _has_unannounced(data_dir: Path) -> bool:
    (journal,) = spool_dir(data_dir).glob("*.jsonl")
    docs = [(e.name, e.doc) for e in read_journal(journal)]
    return len(frame_files(data_dir.resolve())) > images_announced(docs)


def _check_hcs_runs(data_dir: Path) -> None:
    listing = subprocess.run(
        [str(HCS), "runs", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert listing.returncode == 0, listing.stderr[-3000:]
    (journal,) = spool_dir(data_dir).glob("*.jsonl")
    uid = journal.stem
    lines = [line for line in listing.stdout.splitlines() if f"run {uid[:8]}: " in line]
    assert len(lines) == 1, listing.stdout
    assert "closed as failed;" in lines[0]
    assert "not recorded: frames/" in lines[0], lines[0]
