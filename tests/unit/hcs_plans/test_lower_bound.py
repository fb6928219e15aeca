"""The instrument's lower bound, against hand-computed cases on a microscope of round numbers.

The microscope below is the shipped one with speeds chosen so that every move's time
can be worked out by hand:

- X and Y: 10 000 um/s, 100 000 um/s^2: 0.1 s to reach top speed over 500 um, so a
  3 000 um move takes 0.1 + 0.2 + 0.1 = 0.4 s and a 9 000 um move 1.0 s;
- Z: 1 000 um/s, 10 000 um/s^2: a 1 um move never reaches top speed (a triangle),
  2 * sqrt(1 / 10 000) = 0.02 s;
- the filter wheel: 0.05 s per position; the camera: 20 frames/s, a 0.05 s readout.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from hcs_devices.config import MicroscopeConfig
from hcs_plans.lower_bound import LowerBound, lower_bound
from hcs_plans.specs import spec_from_data
from hcs_plans.table import AcquisitionTable, resolve

HOME_UM = 10_000.0
READOUT_S = 0.05
Z_1UM_S = 0.02


@pytest.fixture
def config(profile_config: MicroscopeConfig) -> MicroscopeConfig:
    """The shipped microscope with round-number speeds (see the module's docstring)."""
    stage = profile_config.stage
    xy = {"max_velocity_um_s": 10_000.0, "max_acceleration_um_s2": 100_000.0}
    return profile_config.model_copy(
        update={
            "camera": profile_config.camera.model_copy(update={"max_fps": 1 / READOUT_S}),
            "filter_wheel": profile_config.filter_wheel.model_copy(
                update={"move_time_per_position_s": 0.05}
            ),
            "stage": stage.model_copy(
                update={
                    "x": stage.x.model_copy(update={**xy, "home_um": HOME_UM}),
                    "y": stage.y.model_copy(update={**xy, "home_um": HOME_UM}),
                    "z": stage.z.model_copy(
                        update={"max_velocity_um_s": 1_000.0, "max_acceleration_um_s2": 10_000.0}
                    ),
                    "z_backlash": "none",
                }
            ),
        }
    )


def with_camera(config: MicroscopeConfig, **camera: Any) -> MicroscopeConfig:
    return config.model_copy(update={"camera": config.camera.model_copy(update=camera)})


def table_of(config: MicroscopeConfig, **sequence: Any) -> AcquisitionTable:
    data = {"stage_positions": [{"x": HOME_UM, "y": HOME_UM}], **sequence}
    return resolve(config, spec_from_data({"sequence": data}), focus_z_um=3000.0)


def parts_of(bound: LowerBound) -> dict[str, float]:
    return {k: round(v, 9) for k, v in bound.parts().items() if v}


# The bright-field channel's filter is in position 1, where the wheel starts: no turn.
BF_100MS = {"config": "BF", "exposure": 100.0}


def test_lower_bound_of_one_move_is_the_move_the_exposure_and_the_readout(
    config: MicroscopeConfig,
) -> None:
    table = table_of(
        config,
        stage_positions=[{"x": HOME_UM + 3000.0, "y": HOME_UM}],
        channels=[{"config": "DAPI", "exposure": 100.0}],  # filter 2: one position, 0.05 s
    )
    bound = lower_bound(config, table, hardware_timed=True)
    # The 0.4 s move hides the filter's turn; the last frame's readout ends the run.
    assert parts_of(bound) == {"exposures": 0.1, "stage": 0.4, "readout": READOUT_S}
    assert bound.total_s == pytest.approx(0.55)


def test_lower_bound_of_a_2x2_plate_follows_the_plans_serpentine_path(
    config: MicroscopeConfig,
) -> None:
    plate = {
        "plate": 96,
        "a1_center_xy": [HOME_UM, HOME_UM],
        "selected_wells": [[0, 0, 1, 1], [0, 1, 0, 1]],  # A1, A2, B1, B2
    }
    table = table_of(config, stage_positions=plate, channels=[BF_100MS])
    # The plan's order (the table's): A1, A2, then back along row B; 9 000 um pitch.
    assert [f.well for f in table.fields] == ["A1", "A2", "B2", "B1"]
    assert [(f.x_um - HOME_UM, f.y_um - HOME_UM) for f in table.fields] == [
        (0.0, 0.0),
        (9000.0, 0.0),
        (9000.0, 9000.0),
        (0.0, 9000.0),
    ]
    bound = lower_bound(config, table, hardware_timed=True)
    # Three 9 000 um moves of 1.0 s, four exposures, the last readout.
    assert parts_of(bound) == {"exposures": 0.4, "stage": 3.0, "readout": READOUT_S}
    assert bound.total_s == pytest.approx(3.45)


def test_lower_bound_of_a_z_stack_counts_each_focus_move_between_exposures(
    config: MicroscopeConfig,
) -> None:
    table = table_of(config, channels=[BF_100MS], z_plan={"range": 2.0, "step": 1.0})
    bound = lower_bound(config, table, hardware_timed=True)
    # 0 -> -1, -1 -> 0, 0 -> +1, each before an exposure; the last readout hides the
    # return to 0.
    assert parts_of(bound) == {"exposures": 0.3, "focus": 3 * Z_1UM_S, "readout": READOUT_S}
    assert bound.total_s == pytest.approx(0.41)


def test_lower_bound_of_a_z_stack_adds_the_backlash_leg_to_downward_moves_in_software(
    config: MicroscopeConfig,
) -> None:
    stage = config.stage.model_copy(
        update={"z_backlash": "end_moving_up", "z_backlash_overshoot_um": 3.0}
    )
    config = config.model_copy(update={"stage": stage})
    table = table_of(config, channels=[BF_100MS], z_plan={"range": 2.0, "step": 1.0})
    # A downward move of 1 um is 4 um down, 3 um up: 2 sqrt(4 / 1e4) + 2 sqrt(3 / 1e4).
    down_s = 0.04 + 2 * math.sqrt(3 / 10_000)
    software = lower_bound(config, table, hardware_timed=False)
    assert software.focus_s == pytest.approx(down_s + 2 * Z_1UM_S + down_s)
    # The burst's sequencer steps the focus directly: no backlash leg; the plan's return
    # to focus at the end has one.
    burst = lower_bound(config, table, hardware_timed=True)
    assert burst.focus_s == pytest.approx(3 * Z_1UM_S + down_s)


def test_lower_bound_of_a_burst_overlaps_readout_and_software_triggers_do_not(
    config: MicroscopeConfig,
) -> None:
    # Three 10 ms exposures 1 um apart; the readout (50 ms) is the longest step.
    sequence = {"channels": [{"config": "BF", "exposure": 10.0}], "z_plan": {"range": 2, "step": 1}}
    table = table_of(config, **sequence)
    overlapped = lower_bound(config, table, hardware_timed=True)
    # Frames start 50 ms apart (the focus moves within the readouts); the last readout.
    assert parts_of(overlapped) == {"exposures": 0.03, "focus": Z_1UM_S, "readout": 0.13}
    assert overlapped.total_s == pytest.approx(0.18)

    serial = with_camera(config, overlapped_readout=False)
    # Frames start exposure + readout = 60 ms apart.
    assert lower_bound(serial, table, hardware_timed=True).total_s == pytest.approx(0.20)

    software = lower_bound(config, table, hardware_timed=False)
    # Each frame: its focus move, exposure, readout, one after the other; then back.
    assert parts_of(software) == {"exposures": 0.03, "focus": 4 * Z_1UM_S, "readout": 0.15}
    assert software.total_s == pytest.approx(0.26)


def test_lower_bound_counts_filter_turns_hidden_only_under_longer_moves(
    config: MicroscopeConfig,
) -> None:
    # DAPI (filter 2) then Cy5 (filter 5): turns of 1 and 3 positions; Cy5 sits 1 um up.
    channels = [{"config": "DAPI", "exposure": 100.0}, {"config": "Cy5", "exposure": 100.0}]
    table = table_of(config, channels=channels)
    assert config.channel("Cy5").z_offset_um == 1.0
    bound = lower_bound(config, table, hardware_timed=True)
    # 0.05 s to DAPI, 0.15 s to Cy5 (hiding the 1 um focus move), the last readout
    # (hiding the focus's return).
    assert parts_of(bound) == {"exposures": 0.2, "filters": 0.2, "readout": READOUT_S}


def test_lower_bound_waits_for_time_points_and_is_below_the_estimate(
    config: MicroscopeConfig,
) -> None:
    from hcs_plans.estimate import estimate_duration

    table = table_of(config, channels=[BF_100MS], time_plan={"interval": 2.0, "loops": 3})
    bound = lower_bound(config, table, hardware_timed=True)
    # Each time point is one 0.1 s exposure: the run waits 1.9 s twice, then reads out.
    assert parts_of(bound) == {"exposures": 0.3, "waits": 3.8, "readout": READOUT_S}
    for hardware_timed in (True, False):
        estimate = estimate_duration(config, table, hardware_timed=hardware_timed)
        assert lower_bound(config, table, hardware_timed=hardware_timed).total_s < (
            estimate.total_s
        )
