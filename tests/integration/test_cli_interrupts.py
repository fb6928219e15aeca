"""``hcs acquire`` ended by Ctrl-C or by a full disk, with real processes.

- Ctrl-C once (the run ends after the current field of view) or twice 0.2 s apart (it
  ends at once): the run is aborted, every frame file on disk is in the catalog with its
  row, the process prints a short summary and exits with 130, without a traceback.
- The frames' disk fills up (a tmpfs over ``frames/``, shrunk with ``remount`` once the
  run has written a chosen number of frames, root only): one line naming the full
  disk, a readable stop reason, every frame on disk recorded; once space is back the
  catalog still has images == rows == files, and the next run on the directory works.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plate_harness import spec_file
from storage_support import A1_XY_UM

from hcs_storage.catalog import close_catalog, open_catalog
from hcs_storage.query import frame_table, image_stack

pytestmark = pytest.mark.slow

HCS = Path(sys.executable).with_name("hcs")
CHANNELS = [("DAPI", 2.0), ("GFP", 3.0), ("Cy3", 2.0)]


def sequence(
    wells: list[list[int]], loops: int = 1, channels: int = 3, exposure_ms: float | None = None
) -> dict[str, Any]:
    """2 x 2 fields per well, ``channels`` images per field, ``loops`` time points.

    ``exposure_ms``, if given, replaces every channel's exposure.
    """
    seq: dict[str, Any] = {
        "axis_order": "tpgcz",
        "stage_positions": {
            "plate": 96,
            "a1_center_xy": list(A1_XY_UM),
            "selected_wells": wells,
            "well_points_plan": {"rows": 2, "columns": 2, "overlap": 25.0},
        },
        "channels": [{"config": n, "exposure": exposure_ms or e} for n, e in CHANNELS[:channels]],
    }
    if loops > 1:
        seq["time_plan"] = {"interval": 0.5, "loops": loops}
    return seq


def hcs_acquire(spec: Path, config: Path, data: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(HCS), "acquire", str(spec), "--config", str(config), "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def frame_files(data: Path) -> list[Path]:
    return sorted((data / "frames").glob("*/*.tif"))


def wait_for_frames(process: subprocess.Popen[str], data: Path, count: int) -> None:
    pause = threading.Event()
    deadline = time.monotonic() + 90
    while len(frame_files(data)) < count:
        assert process.poll() is None, f"hcs acquire exited early: {process.communicate()}"
        assert time.monotonic() < deadline, f"fewer than {count} frames after 90 s"
        pause.wait(0.01)


def finish(process: subprocess.Popen[str], timeout_s: float = 90) -> tuple[str, str]:
    try:
        return process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def run_uid(out: str) -> str:
    found = re.search(r"run uid:\s+(\S+)", out)
    assert found, out
    return found.group(1)


def recorded(data: Path, uid: str) -> tuple[dict[str, Any], int, list[tuple[Any, ...]]]:
    """The run's stop document, its image count and its rows' (well, fov, channel, z, t)."""
    catalog = open_catalog(data)
    try:
        run = catalog[uid]
        stop = dict(run.metadata["stop"] or {})
        try:
            images = int(image_stack(run).shape[0])
            table = frame_table(run)
        except KeyError:  # a run that recorded no image has no image array or rows
            images, table = 0, {}
        keys = ("well", "fov", "channel", "z_index", "time_index")
        rows = list(zip(*(table[k].tolist() for k in keys), strict=True)) if table else []
    finally:
        close_catalog(catalog)
    return stop, images, rows


@pytest.mark.timeout(120)
@pytest.mark.parametrize("presses", [1, 2], ids=["once", "twice"])
def test_hcs_acquire_ctrl_c_aborts_the_run_recording_every_frame_when_pressed(
    config_file: Path, tmp_path: Path, presses: int
) -> None:
    data = tmp_path / "hcs-data"
    # 2 wells x 4 fields x 3 channels x 20 time points: about a minute here.
    spec = spec_file(tmp_path, "ctrl-c", sequence([[1, 1], [1, 2]], loops=20))
    process = hcs_acquire(spec, config_file, data)
    try:
        wait_for_frames(process, data, 4)
        process.send_signal(signal.SIGINT)
        if presses == 2:
            threading.Event().wait(0.2)
            process.send_signal(signal.SIGINT)
        out, err = finish(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, (out, err)
    assert "Traceback" not in err, err
    assert "aborted by Ctrl-C" in out
    uid = run_uid(out)
    stop, images, rows = recorded(data, uid)
    assert stop["exit_status"] == "abort"
    assert stop["reason"] == "aborted by Ctrl-C"
    files = frame_files(data)
    announced = int(re.search(r"images:\s+(\d+)", out).group(1))  # type: ignore[union-attr]
    assert 4 <= announced == images == len(rows) == len(files) < 2 * 4 * 3 * 20
    assert len(set(rows)) == len(rows)
    if presses == 1:  # the run ended at the end of a field of view
        assert images % 3 == 0


@pytest.fixture
def frames_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A data directory whose ``frames/`` is a 64 MiB tmpfs (shrunk by the test)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    data = tmp_path / "hcs-data"
    frames = data / "frames"
    frames.mkdir(parents=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(frames)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here: {result.stderr.strip()}")
    try:
        yield data
    finally:
        subprocess.run(["umount", "-l", str(frames)], check=False)


def resize(frames: Path, size_k: int) -> None:
    subprocess.run(
        ["mount", "-o", f"remount,size={size_k}k", str(frames)], check=True, capture_output=True
    )


def shrink(frames: Path, size_k: int) -> bool:
    """Shrink the tmpfs to ``size_k`` KiB; False when more than that is in use."""
    args = ["mount", "-o", f"remount,size={size_k}k", str(frames)]
    return subprocess.run(args, capture_output=True).returncode == 0


#: Each frame's exposure in the full-disk runs: longer than the test takes to see a
#: frame file and shrink the disk, so that the disk fills before the run ends.
FULL_DISK_EXPOSURE_MS = 80.0
#: Frames written when the disk is made full: one well, 4 fields of 3 images (12).
MOMENTS = {
    "first-frame": 0,
    "mid-field": 1,
    "last-frame-of-a-field": 2,
    "between-fields": 3,
    "near-the-end": 10,
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("written", MOMENTS.values(), ids=MOMENTS.keys())
def test_hcs_acquire_full_disk_reports_one_line_and_records_every_frame_when_disk_fills(
    config_file: Path, frames_tmpfs: Path, tmp_path: Path, written: int
) -> None:
    data = frames_tmpfs
    frames = data / "frames"
    spec = spec_file(tmp_path, "full", sequence([[1], [1]], exposure_ms=FULL_DISK_EXPOSURE_MS))
    process = hcs_acquire(spec, config_file, data)
    try:
        if written == 0:  # as soon as the run's frame set exists
            deadline = time.monotonic() + 90
            while not any(frames.iterdir()):
                assert process.poll() is None and time.monotonic() < deadline
                threading.Event().wait(0.005)
        else:
            wait_for_frames(process, data, written)
        # Leave no room for one more frame (tmpfs refuses a size below what is in use,
        # which a frame being written can change: retry with the new figure).
        for _ in range(50):
            if shrink(frames, shutil.disk_usage(frames).used // 1024 + 64):
                break
        else:
            pytest.fail("could not shrink the frames tmpfs")
        out, err = finish(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, (out, err)
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert f"the disk holding {frames}" in errors[0] and "is full" in errors[0]
    uid = run_uid(out)
    files = frame_files(data)
    assert written <= len(files) < 12
    resize(frames, 64 * 1024)  # space is back
    stop, images, rows = recorded(data, uid)
    assert stop["exit_status"] == "fail"
    assert stop["reason"].startswith("FrameWriteError: the disk holding"), stop["reason"]
    assert "WatchableAsyncStatus" not in stop["reason"]
    assert images == len(rows) == len(files) == len(set(rows))
    if written != MOMENTS["mid-field"]:
        return
    # The next run on the same directory needs no hand fix (one moment is enough: what
    # is left behind is the same kind of partial frame set at each).
    again = hcs_acquire(
        spec_file(tmp_path, "again", sequence([[1], [1]], channels=1)), config_file, data
    )
    out2, err2 = finish(again)
    assert again.returncode == 0, (out2, err2)
    assert "exit status: success" in out2
