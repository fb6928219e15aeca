"""Frame writing off the acquisition path: backpressure, never drops; a full disk fails fast.

- A writer slowed on purpose (the camera's frame encoder sleeps) makes the camera wait
  for room in the writer's bounded queue: every frame is on disk and announced.
- A write error ends the run promptly with the write error (not a TimeoutError after
  the exposure timeout), a stop document says why, and the frames written are intact.
- A real full disk: the frames directory is a tiny tmpfs.
"""

from __future__ import annotations

import errno
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pytest
import tifffile
from bluesky.utils import FailedStatus
from plate_harness import fast_config
from storage_support import plate_sequence, storage_session

from frame_rows import frame_rows, images_announced
from hcs_devices.camera.writer import write_tiff
from hcs_devices.config import MicroscopeConfig
from hcs_plans.acquire import acquire_plate
from hcs_plans.specs import spec_from_data

# A system test (real RunEngine, real Tiled catalog): part of the full suite only.
pytestmark = pytest.mark.slow

CAPACITY = 2
#: One well x 2 x 2 fields x 2 channels.
SEQUENCE = plate_sequence([[1], [1]])
IMAGES = 8
#: Images per field of view (the two channels): a field's images are announced together.
PER_FIELD = 2


@pytest.fixture(scope="module")
def config(profile_config: MicroscopeConfig) -> MicroscopeConfig:
    return fast_config(profile_config)


@pytest.fixture(scope="module")
def harness(config: MicroscopeConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with storage_session(config, tmp_path_factory.mktemp("frames"), writer_capacity=CAPACITY) as h:
        yield h


@pytest.fixture
def encoder(harness: Any) -> Iterator[Any]:
    camera = harness.microscope.camera
    yield camera.data
    camera.data.encode = write_tiff


def spec(hardware: bool) -> Any:
    return spec_from_data({"sequence": SEQUENCE, "hardware_sequencing": hardware})


def frame_files(docs: list[tuple[str, dict[str, Any]]]) -> list[Path]:
    from plate_harness import frame_file

    (resource,) = [d for n, d in docs if n == "stream_resource"]
    return sorted(frame_file(resource, 0).parent.glob("*"))


@pytest.mark.parametrize("hardware", [False, True], ids=["software", "burst"])
def test_slow_disk_slows_acquisition_down_and_drops_no_frame(
    harness: Any, encoder: Any, hardware: bool
) -> None:
    writer_state = {"written": 0}
    exposed_ahead: list[int] = []
    camera = harness.microscope.camera
    source = camera.source
    real_expose = source.expose

    def slow_encode(fh: BinaryIO, frame: np.ndarray) -> None:
        threading.Event().wait(0.03)  # a disk much slower than the camera
        write_tiff(fh, frame)
        writer_state["written"] += 1

    async def counting_expose(settings: Any) -> np.ndarray:
        exposed_ahead.append(len(exposed_ahead) - writer_state["written"])
        return await real_expose(settings)

    encoder.encode = slow_encode
    source.expose = counting_expose
    try:
        (uid,) = harness.RE(acquire_plate(harness.microscope, spec(hardware)))
    finally:
        source.expose = real_expose
    docs = harness.run_documents(uid)
    files = frame_files(docs)
    rows = frame_rows(docs)
    # Backpressure: the camera never ran further ahead of the disk than the queue allows
    # (the frames in the queue, one being written, one being handed over).
    assert max(exposed_ahead) <= CAPACITY + 2
    assert len(exposed_ahead) == IMAGES
    assert len(files) == len(rows) == images_announced(docs) == IMAGES
    assert all(f.suffix == ".tif" for f in files)
    assert harness.session.flush(60.0)
    assert harness.session.catalog[uid]["primary"]["camera"].shape[0] == IMAGES


@pytest.mark.parametrize("hardware", [False, True], ids=["software", "burst"])
def test_write_error_fails_the_run_promptly_with_the_write_error(
    harness: Any, encoder: Any, hardware: bool
) -> None:
    calls = {"n": 0}

    def failing_encode(fh: BinaryIO, frame: np.ndarray) -> None:
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        write_tiff(fh, frame)

    encoder.encode = failing_encode
    before = len(harness.documents)
    with pytest.raises(FailedStatus, match=r"FrameWriteError.*No space left on device"):
        harness.RE(acquire_plate(harness.microscope, spec(hardware)))
    docs = harness.documents[before:]
    stop = next(d for n, d in docs if n == "stop")
    assert stop["exit_status"] == "fail"
    assert "failed after 5 frames" in stop["reason"]
    files = frame_files(docs)
    assert [f.name for f in files] == [f"{i:06d}.tif" for i in range(5)]
    assert all(tifffile.imread(f).shape == (256, 256) for f in files)
    # The documents announce exactly the frames on disk (the interrupted field's too),
    # each with its row.
    rows = frame_rows(docs)
    assert images_announced(docs) == len(rows) == len(files) == 5
    fovs = [r["frame-fov"] for r in rows]  # two whole fields, then one frame of the third
    assert fovs[0] == fovs[1] != fovs[2] == fovs[3] and fovs[4] not in fovs[:4]
    assert harness.safe_state_problems() == []
    assert harness.session.flush(60.0)
    run = harness.session.catalog[stop["run_start"]]
    assert run.metadata["stop"]["exit_status"] == "fail"


@pytest.fixture
def tiny_frames_disk(tmp_path: Path) -> Iterator[Path]:
    data_dir = tmp_path / "data"
    frames = data_dir / "frames"
    frames.mkdir(parents=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(frames)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here: {result.stderr.strip()}")
    try:
        yield data_dir
    finally:
        subprocess.run(["umount", "-l", str(frames)], check=False)


@pytest.mark.slow
def test_full_disk_ends_the_run_cleanly_with_every_written_frame_readable(
    config: MicroscopeConfig, tiny_frames_disk: Path
) -> None:
    frames = tiny_frames_disk / "frames"

    def fill_the_disk(name: str, doc: dict[str, Any]) -> None:
        # The run passed its disk-space check; now something else fills the disk,
        # leaving room for about five frames.
        if name == "start":
            free = shutil.disk_usage(frames).free
            (frames / "ballast").write_bytes(b"\0" * (free - 700 * 1024))

    with storage_session(config, tiny_frames_disk, writer_capacity=CAPACITY) as h:
        h.RE.subscribe(fill_the_disk)
        with pytest.raises(FailedStatus, match=r"FrameWriteError.*No space left on device"):
            h.RE(acquire_plate(h.microscope, spec(False)))
        stop = next(d for n, d in h.documents if n == "stop")
        assert stop["exit_status"] == "fail"
        files = frame_files(h.documents)
        assert 0 < len(files) < IMAGES
        assert all(f.suffix == ".tif" for f in files)  # no half-written file
        for f in files:
            assert tifffile.imread(f).shape == (256, 256)
        # Every frame on disk is announced, with its row: the field the disk filled up
        # in too.
        announced = images_announced(h.documents)
        assert announced == len(files) == len(frame_rows(h.documents)) > 0
        assert h.session.flush(60.0)
        run = h.session.catalog[stop["run_start"]]
        assert run.metadata["stop"]["exit_status"] == "fail"
        images = run["primary"]["camera"]
        assert images.shape[0] == announced
        assert np.asarray(images[announced - 1]).shape == (1, 256, 256)
