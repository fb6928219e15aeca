"""The camera device with a GenICam camera: Aravis's fake GigE Vision camera on 127.0.0.1,
through the real driver (GVCP control, GVSP frames over loopback), the same TIFF writer
and StreamResource/StreamDatum documents as the simulated camera, and a real Tiled
catalog for plates.

Every pixel written is compared with what the fake camera sent: its frames are a
diagonal ramp that moves with the camera's frame id (``mono16_pattern``), so frame ``k``
on disk must be the pattern of the ``k``-th frame id the driver received, and the ids
must follow each other (no frame lost, none repeated).

Tests of bursts here use the camera's software trigger (one TriggerSoftware command per
frame); hardware triggering is checked here as configuration (the camera reports the
line) and as the error when no edge comes, and with the Squid board's trigger pulses
in ``test_squid_hardware_trigger.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import numpy as np
import pytest
import tifffile
from bluesky import RunEngine
from plate_harness import SessionHarness, fast_config, frame_file, open_test_session

from frame_rows import frame_rows, images_announced
from hcs_devices import Microscope
from hcs_devices.camera.genicam import CameraVanished, FrameTimeout, GenicamFrameSource
from hcs_devices.camera.genicam.fake_camera import FakeCameraProcess, mono16_pattern
from hcs_devices.camera.settings import ExposureSettings, Roi
from hcs_devices.config import MicroscopeConfig
from hcs_devices.config.models import GenicamBackend
from hcs_plans.acquire import acquire_plate
from hcs_plans.specs import spec_from_data

# Each test talks to a GigE Vision camera process: full suite only.
pytestmark = pytest.mark.slow

#: Fake-camera settings whose pattern scale is exact (see ``mono16_pattern``).
GAIN = 1


def genicam_config(base: MicroscopeConfig, sensor_px: int, **backend: Any) -> MicroscopeConfig:
    """``base`` (made quick to test) with the fake camera at 127.0.0.1 as its camera."""
    config = fast_config(base, sensor_px)
    data = config.model_dump(mode="json")
    data["camera"]["backend"] = {
        "kind": "genicam",
        "address": "127.0.0.1",
        "packet_size_bytes": 65000,
        **backend,
    }
    return MicroscopeConfig.model_validate(data)


def source_of(microscope: Microscope) -> GenicamFrameSource:
    source = microscope.camera.source
    assert isinstance(source, GenicamFrameSource)
    return source


def assert_frames_are_what_the_camera_sent(
    files: list[Path], frame_ids: list[int], exposures_ms: list[float]
) -> None:
    """File k holds exactly the pattern of the k-th frame received; ids consecutive."""
    assert len(files) == len(frame_ids) == len(exposures_ms)
    for k, (path, frame_id, exposure_ms) in enumerate(
        zip(files, frame_ids, exposures_ms, strict=True)
    ):
        pixels = tifffile.imread(path)
        expected = mono16_pattern(
            frame_id, pixels.shape[1], pixels.shape[0], exposure_ms=exposure_ms, gain=GAIN
        )
        assert np.array_equal(pixels, expected), f"frame {k} ({path.name}) differs"
    steps = np.diff(np.array(frame_ids)) % 65536  # 16-bit ids (0 is skipped on wrap)
    assert set(steps.tolist()) <= {1, 2}, f"frame ids skip or repeat: {frame_ids}"


def test_genicam_camera_writes_the_frame_the_camera_sent_when_snapped(
    fake_camera: FakeCameraProcess,
    small_config: MicroscopeConfig,
    make_microscope: Callable[..., Microscope],
    RE: RunEngine,
    documents: list[tuple[str, dict[str, Any]]],
) -> None:
    m = make_microscope(genicam_config(small_config, 512))
    source = source_of(m)
    assert source.trigger_source() == ("On", "Software")
    RE(bps.mv(m.camera.exposure_ms, 10.0, m.camera.gain, float(GAIN)))
    RE(bp.count([m.camera], num=3))
    resources = [d for n, d in documents if n == "stream_resource"]
    datums = [d for n, d in documents if n == "stream_datum"]
    assert sum(d["indices"]["stop"] - d["indices"]["start"] for d in datums) == 3
    files = [frame_file(resources[0], i) for i in range(3)]
    assert sorted(files[0].parent.iterdir()) == files
    assert_frames_are_what_the_camera_sent(files, source.frame_ids, [10.0] * 3)


def test_genicam_camera_refuses_a_gain_outside_the_cameras_range_when_set(
    fake_camera: FakeCameraProcess,
    small_config: MicroscopeConfig,
    make_microscope: Callable[..., Microscope],
    RE: RunEngine,
) -> None:
    m = make_microscope(genicam_config(small_config, 512))
    RE(bps.mv(m.camera.exposure_ms, 10.0, m.camera.gain, 11.0))
    with pytest.raises(Exception, match=r"gain 11.0 is outside the camera's range \[0.0, 10.0\]"):
        RE(bp.count([m.camera]))
    assert source_of(m).frames_exposed == 0
    assert not list(m.camera.data.frames_root.rglob("*.tif"))


async def test_genicam_source_on_hardware_trigger_names_the_line_when_no_edge_comes(
    fake_camera: FakeCameraProcess,
) -> None:
    # No trigger backend: an external source should send the edges, and none does.
    source = GenicamFrameSource(
        GenicamBackend(
            address="127.0.0.1", packet_size_bytes=65000, trigger="hardware", frame_timeout_s=0.5
        )
    )
    await source.connect()
    try:
        assert source.trigger_source() == ("On", "Line0")
        with pytest.raises(FrameTimeout) as raised:
            await source.expose(ExposureSettings(10.0, float(GAIN), 1, Roi(0, 0, 256, 256)))
    finally:
        source.close()
    error = str(raised.value)
    assert "camera (GenICam Fake" in error and "at 127.0.0.1): frame 1:" in error
    assert "no rising edge on Line0?" in error


def cause_of(error: BaseException, kind: type[BaseException]) -> BaseException:
    """``error`` or the first error of type ``kind`` in its chain."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    raise AssertionError(f"no {kind.__name__} in {error!r}")


@pytest.fixture
def genicam_session(
    fake_camera: FakeCameraProcess, profile_config: MicroscopeConfig, tmp_path: Path
) -> Iterator[SessionHarness]:
    with open_test_session(genicam_config(profile_config, 2048), tmp_path / "data") as harness:
        yield harness


def safe_state_problems(harness: SessionHarness) -> list[str]:
    """What is not in the safe state (the light read through its device: the optics are
    simulated here but reached only through a simulated camera)."""
    m = harness.microscope
    problems = []
    if harness.on_loop(m.camera.acquiring.get_value):
        problems.append("camera still acquiring")
    if harness.on_loop(m.illumination.on.get_value):
        problems.append("illumination still on")
    if m.camera.data.directory is not None:
        problems.append(f"frame writer still open on {m.camera.data.directory}")
    if m.owner.owned:
        problems.append("the microscope is still owned by a run")
    if harness.RE.state != "idle":
        problems.append(f"RunEngine is {harness.RE.state}, not idle")
    return problems


def _plate_spec(channels: list[dict[str, Any]], planes: int) -> dict[str, Any]:
    sequence: dict[str, Any] = {
        "stage_positions": {
            "plate": 96,
            "a1_center_xy": [14380, 11240],
            "selected_wells": [[0], [0]],
        },
        "channels": channels,
    }
    if planes > 1:
        sequence["z_plan"] = {"range": 0.5 * (planes - 1), "step": 0.5}
    return {"experiment_id": "genicam", "sequence": sequence}


def _run_images(harness: SessionHarness, uid: str) -> tuple[list[Path], list[dict[str, Any]]]:
    docs = harness.run_documents(uid)
    rows = frame_rows(docs)
    files = harness.image_files(uid)
    assert images_announced(docs) == len(rows) == len(files)
    return files, rows


def test_acquire_plate_with_a_genicam_camera_snaps_each_channel_at_its_exposure(
    genicam_session: SessionHarness,
) -> None:
    harness = genicam_session
    m = harness.microscope
    harness.RE(bps.mv(m.camera.gain, float(GAIN)))
    channels = [
        {"config": "DAPI", "exposure": 10},
        {"config": "GFP", "exposure": 100},
        {"config": "Cy5", "exposure": 10},
    ]
    (uid,) = harness.RE(acquire_plate(m, spec_from_data(_plate_spec(channels, 1))))
    files, rows = _run_images(harness, uid)
    assert [r["frame-channel"] for r in rows] == ["DAPI", "GFP", "Cy5"]
    assert sorted(files[0].parent.iterdir()) == files
    assert_frames_are_what_the_camera_sent(files, source_of(m).frame_ids, [10.0, 100.0, 10.0])
    assert safe_state_problems(harness) == []
    # The run reached the catalog with its images readable.
    harness.session.flush(60.0)
    run = harness.session.catalog[uid]
    image = run["primary"]["camera"].read()
    assert image.shape == (3, 1, 2048, 2048)


def test_acquire_plate_records_every_frame_of_a_200_frame_burst_at_2048_mono16(
    genicam_session: SessionHarness,
) -> None:
    harness = genicam_session
    m = harness.microscope
    harness.RE(bps.mv(m.camera.gain, float(GAIN)))
    spec = spec_from_data(_plate_spec([{"config": "DAPI", "exposure": 10}], 200))
    (uid,) = harness.RE(acquire_plate(m, spec))
    files, rows = _run_images(harness, uid)
    assert len(files) == len(rows) == 200
    assert sorted(files[0].parent.iterdir()) == files
    assert len({r["frame-z_um"] for r in rows}) == 200
    assert_frames_are_what_the_camera_sent(files, source_of(m).frame_ids, [10.0] * 200)
    assert safe_state_problems(harness) == []


def test_acquire_plate_records_every_complete_frame_when_the_camera_dies_mid_burst(
    genicam_session: SessionHarness, fake_camera: FakeCameraProcess
) -> None:
    harness = genicam_session
    m = harness.microscope
    harness.RE(bps.mv(m.camera.gain, float(GAIN)))
    frames_dir = m.camera.data.frames_root
    kill_after = 60

    def kill_when_written() -> None:
        while len(list(frames_dir.rglob("*.tif"))) < kill_after:
            threading.Event().wait(0.01)
        fake_camera.kill()

    killer = threading.Thread(target=kill_when_written, daemon=True)
    killer.start()
    spec = spec_from_data(_plate_spec([{"config": "DAPI", "exposure": 10}], 200))
    with pytest.raises(Exception) as raised:
        harness.RE(acquire_plate(m, spec))
    killer.join(timeout=60)
    error = str(cause_of(raised.value, CameraVanished))
    assert "camera (GenICam Fake" in error and "at 127.0.0.1): frame " in error
    assert "the camera stopped answering" in error
    (start,) = [d for n, d in harness.documents if n == "start"]
    (stop,) = [d for n, d in harness.documents if n == "stop"]
    assert stop["exit_status"] == "fail"
    files, _ = _run_images(harness, start["uid"])  # rows == images == files
    # Every complete frame is on disk, announced, with its row; nothing else is.
    on_disk = sorted(frames_dir.rglob("*.tif"))
    assert on_disk == files
    assert kill_after <= len(files) < 200
    assert_frames_are_what_the_camera_sent(
        files, source_of(m).frame_ids[: len(files)], [10.0] * len(files)
    )
    assert safe_state_problems(harness) == []


async def test_genicam_source_in_free_run_returns_frames_as_the_camera_sends_them(
    fake_camera: FakeCameraProcess,
) -> None:
    source = GenicamFrameSource(
        GenicamBackend(address="127.0.0.1", packet_size_bytes=65000, trigger="free_run")
    )
    await source.connect()
    try:
        assert source.trigger_source()[0] == "Off"
        settings = ExposureSettings(10.0, float(GAIN), 1, Roi(64, 32, 256, 128))
        frames = [await source.expose(settings) for _ in range(3)]
    finally:
        source.close()
    assert [f.shape for f in frames] == [(128, 256)] * 3
    for frame, frame_id in zip(frames, source.frame_ids, strict=True):
        assert np.array_equal(frame, mono16_pattern(frame_id, 256, 128, gain=GAIN))
    assert source.frame_ids == sorted(source.frame_ids)
