"""The plate acquisition plan on a Squid-driven microscope: the real driver, over a real
pseudo-terminal, against the board emulator; the simulated camera images the specimen
at the positions the board reports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import bluesky.plan_stubs as bps
import numpy as np
import pytest

from hcs_devices.config import MicroscopeConfig
from hcs_devices.squid.emulator import EmulatedSquid
from hcs_orchestrator.session import Session, open_session
from hcs_plans.acquire import acquire_plate
from hcs_plans.specs import spec_from_data
from hcs_storage.query import frame_table

pytestmark = pytest.mark.slow

SOURCES = {"led_matrix_full": 0, "405": 11, "488": 12, "561": 14, "638": 13}


@pytest.fixture
def board() -> Iterator[EmulatedSquid]:
    with EmulatedSquid(speed_factor=50.0, status_period_s=0.004, seed=3) as emulated:
        yield emulated


def squid_config(base: MicroscopeConfig, port: Path) -> MicroscopeConfig:
    squid = {"kind": "squid"}
    data = base.model_dump(mode="json")
    data["camera"].update(sensor_width_px=256, sensor_height_px=256)
    for section in ("stage", "illumination", "filter_wheel"):
        data[section]["backend"] = squid
    data["squid"] = {
        "port": str(port),
        "illumination_sources": SOURCES,
        "reset_settle_s": 0.01,
        "min_move_timeout_s": 2.0,
        "resend_timeout_s": 0.2,
        "watchdog_timeout_s": 5.0,
    }
    return MicroscopeConfig.model_validate(data)


@pytest.fixture
def session(
    board: EmulatedSquid, profile_config: MicroscopeConfig, tmp_path: Path
) -> Iterator[Session]:
    opened = open_session(squid_config(profile_config, board.path), tmp_path)
    try:
        yield opened
    finally:
        opened.close()


def test_acquire_plate_on_squid_emulator_ends_on_target_positions_when_run_in_software_mode(
    session: Session, board: EmulatedSquid
) -> None:
    mic = session.microscope
    assert mic.camera.sequencer is None  # the board cannot step z x channel by itself
    session.RE(bps.mv(mic.stage_.z, 3000.0))
    spec = spec_from_data(
        {
            "experiment_id": "squid-emulated",
            "sequence": {
                "stage_positions": {
                    "plate": 96,
                    "a1_center_xy": [14380, 11240],
                    "selected_wells": [[0, 1], [0, 11]],
                    "well_points_plan": {"rows": 1, "columns": 2, "overlap": 10},
                },
                "channels": ["DAPI", "GFP"],
            },
        }
    )
    (uid,) = session.RE(acquire_plate(mic, spec))
    assert session.flush(60)
    run = session.catalog[uid]
    assert run.metadata["stop"]["exit_status"] == "success"
    table = frame_table(run)
    assert len(table["well"]) == 2 * 2 * 2
    assert sorted(set(table["well"].astype(str))) == ["A1", "B12"]

    # The last field of view's position, as the board reports it, within one microstep.
    last_x, last_y = float(table["x_um"][-1]), float(table["y_um"][-1])
    x_axis, y_axis = mic.stage_.x.backend, mic.stage_.y.backend
    assert abs(x_axis.position_now() - last_x) <= x_axis.um_per_ustep
    assert abs(y_axis.position_now() - last_y) <= y_axis.um_per_ustep

    # Light was switched by the board: fluorescence frames are well above a dark frame.
    images = np.asarray(run["primary"]["camera"].read())
    offset = mic.config.camera.offset_adu
    assert all(np.percentile(img, 99.9) > offset + 200 for img in images)
    assert not board.emulator.illumination_on
