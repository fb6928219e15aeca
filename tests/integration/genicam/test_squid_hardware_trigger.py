"""Hardware triggering through the Squid board: the board emulator (real serial I/O over
a pseudo-terminal, through the real driver) with its trigger output wired to the fake
GigE Vision camera's Line0 (:mod:`hcs_devices.camera.genicam.trigger_line`), a real
session and catalog.

A small plate on hardware trigger: every frame is started by one board pulse (the
emulator's count, the camera's Line0 count, the frames received, the images in the
catalog and the files all agree), the board strobes the channel's light for each
exposure (the light is never switched on by command), the stage position recorded in
each image's row is where the board's stage was at that image's pulse, and every pixel
is what the camera sent. With the trigger cable pulled mid-plate, the run fails naming
the camera's line, with every frame taken before on disk and recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import bluesky.plan_stubs as bps
import pytest
from plate_harness import SessionHarness, open_test_session
from test_genicam_camera import (
    GAIN,
    assert_frames_are_what_the_camera_sent,
    cause_of,
    safe_state_problems,
)
from test_squid_acquisition import SOURCES, squid_config

from frame_rows import frame_rows, images_announced
from hcs_devices.camera.genicam import FrameTimeout, GenicamFrameSource
from hcs_devices.camera.genicam.fake_camera import FakeCameraProcess
from hcs_devices.camera.genicam.trigger_line import LineCounts
from hcs_devices.config import MicroscopeConfig
from hcs_devices.squid.emulator import EmulatedSquid
from hcs_devices.squid.emulator_wire import UdpWire
from hcs_plans.acquire import acquire_plate
from hcs_plans.specs import spec_from_data

# A board, a camera process and a catalog: full suite only.
pytestmark = pytest.mark.slow

EXPOSURE_MS = 10.0
CHANNELS = ("DAPI", "GFP")


#: 2 wells x 2 fields x 2 channels x 2 planes.
PLATE = spec_from_data(
    {
        "experiment_id": "board-triggers",
        "sequence": {
            "stage_positions": {
                "plate": 96,
                "a1_center_xy": [14380, 11240],
                "selected_wells": [[0, 1], [0, 2]],
                "well_points_plan": {"rows": 1, "columns": 2, "overlap": 10},
            },
            "channels": [{"config": c, "exposure": EXPOSURE_MS} for c in CHANNELS],
            "z_plan": {"range": 2.0, "step": 2.0},
        },
    }
)


@pytest.fixture
def wired_board(fake_camera: FakeCameraProcess) -> Iterator[EmulatedSquid]:
    """The board emulator with trigger output 0 wired to the fake camera's Line0."""
    assert fake_camera.line_address is not None
    with EmulatedSquid(
        speed_factor=50.0,
        status_period_s=0.004,
        seed=3,
        trigger_wires={0: fake_camera.line_address},
    ) as board:
        yield board


def board_genicam_config(base: MicroscopeConfig, port: str) -> MicroscopeConfig:
    """The shipped microscope on a Squid board, with the fake camera on hardware trigger
    (a 256 x 256 region of its sensor)."""
    data = squid_config(base, Path(port)).model_dump(mode="json")
    data["camera"]["backend"] = {
        "kind": "genicam",
        "address": "127.0.0.1",
        "packet_size_bytes": 65000,
        "trigger": "hardware",
    }
    data["laser_autofocus"] = None
    return MicroscopeConfig.model_validate(data)


@pytest.fixture
def harness(
    wired_board: EmulatedSquid, profile_config: MicroscopeConfig, tmp_path: Path
) -> Iterator[SessionHarness]:
    config = board_genicam_config(profile_config, wired_board.path)
    with open_test_session(config, tmp_path / "data") as opened:
        yield opened


def test_acquire_plate_on_hardware_trigger_takes_each_frame_on_a_board_pulse_where_the_board_was(
    harness: SessionHarness, wired_board: EmulatedSquid, fake_camera: FakeCameraProcess
) -> None:
    m = harness.microscope
    source = m.camera.source
    assert isinstance(source, GenicamFrameSource)
    assert source.trigger_source() == ("On", "Line0") and m.camera.light_strobed
    harness.RE(bps.mv(m.camera.gain, float(GAIN), m.stage_.z, 3000.0))
    emulator = wired_board.emulator
    emulator.clear_log()
    (uid,) = harness.RE(acquire_plate(m, PLATE))
    frames = 2 * 2 * 2 * 2  # wells x fields x channels x planes

    # One board pulse per frame, each taken up by the camera's Line0 as one frame.
    docs = harness.run_documents(uid)
    rows = frame_rows(docs)
    files = harness.image_files(uid)
    pulses = emulator.trigger.pulses
    assert emulator.trigger.counts == [frames, 0, 0, 0]
    assert len(pulses) == len(rows) == images_announced(docs) == len(files) == frames
    assert all(p.wired for p in pulses)
    assert fake_camera.line_counts() == LineCounts(edges=frames, frames=frames, ignored=0)
    assert source.frames_exposed == frames
    assert sorted(files[0].parent.iterdir()) == files
    harness.session.flush(60.0)
    assert harness.session.catalog[uid]["primary"]["camera"].read().shape == (frames, 1, 256, 256)

    # The board strobed each channel's light for the exposure; nothing switched it on.
    config = m.config
    assert config.squid is not None
    for row, pulse in zip(rows, pulses, strict=True):
        source_code = SOURCES[config.channel(row["frame-channel"]).source]
        assert (pulse.control_illumination, pulse.on_time_us) == (True, EXPOSURE_MS * 1000)
        assert pulse.illumination_source == source_code
    assert "TURN_ON_ILLUMINATION" not in emulator.executed_opcodes()
    assert not emulator.light_on

    # Each image's row holds where the board's stage was at its pulse (one microstep).
    for k, (row, pulse) in enumerate(zip(rows, pulses, strict=True)):
        for i, axis in enumerate("xyz"):
            cfg = config.squid.axis(axis)
            board_um = cfg.usteps_to_um(pulse.position_usteps[i])
            assert abs(board_um - row[f"frame-{axis}_um"]) <= cfg.um_per_ustep, (k, axis)
    assert len({(r["frame-x_um"], r["frame-y_um"]) for r in rows}) == 4
    # Two planes, each channel at its own focus offset: four heights, as in the rows.
    assert len({p.position_usteps[2] for p in pulses}) == len({r["frame-z_um"] for r in rows}) == 4

    # Every pixel is what the camera sent, frame ids consecutive (none lost or repeated).
    assert_frames_are_what_the_camera_sent(files, source.frame_ids, [EXPOSURE_MS] * frames)
    assert safe_state_problems(harness) == []


def test_acquire_plate_records_the_frames_before_it_when_the_trigger_cable_is_pulled(
    harness: SessionHarness, wired_board: EmulatedSquid, fake_camera: FakeCameraProcess
) -> None:
    m = harness.microscope
    harness.RE(bps.mv(m.camera.gain, float(GAIN), m.stage_.z, 3000.0))
    assert fake_camera.line_address is not None
    cable = UdpWire(fake_camera.line_address)
    passed = 5

    def pulled_after_five() -> None:  # the cable comes out after five pulses
        if cable.pulses_sent < passed:
            cable()

    wired_board.emulator.wire_trigger(0, pulled_after_five)
    try:
        with pytest.raises(Exception) as raised:
            harness.RE(acquire_plate(m, PLATE))
    finally:
        cable.close()
    error = str(cause_of(raised.value, FrameTimeout))
    assert f"at 127.0.0.1): frame {passed + 1}: it did not arrive within" in error
    assert "(no rising edge on Line0?)" in error
    (start,) = [d for n, d in harness.documents if n == "start"]
    (stop,) = [d for n, d in harness.documents if n == "stop"]
    assert stop["exit_status"] == "fail"
    # The board pulsed once more; the camera took the five frames that reached it, and
    # each is on disk, announced, with its row.
    docs = harness.run_documents(start["uid"])
    files = harness.image_files(start["uid"])
    assert len(wired_board.emulator.trigger.pulses) == passed + 1
    assert fake_camera.line_counts() == LineCounts(edges=passed, frames=passed, ignored=0)
    assert len(frame_rows(docs)) == images_announced(docs) == len(files) == passed
    assert sorted(m.camera.data.frames_root.rglob("*.tif")) == files
    source = m.camera.source
    assert isinstance(source, GenicamFrameSource)
    assert_frames_are_what_the_camera_sent(files, source.frame_ids, [EXPOSURE_MS] * passed)
    assert safe_state_problems(harness) == []
    assert not wired_board.emulator.light_on
