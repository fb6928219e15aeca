"""The duration model: each part of the estimate from what takes time on the instrument."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from hcs_devices.config import MicroscopeConfig
from hcs_devices.stage.kinematics import move_duration_s
from hcs_plans.estimate import (
    FIELD_OVERHEAD_S,
    SOFTWARE_FRAME_S,
    FrameMoves,
    estimate_duration,
    frame_moves_s,
    xy_move_s,
)
from hcs_plans.specs import spec_from_data
from hcs_plans.table import AcquisitionTable, resolve

HERE = {"x": 20000.0, "y": 20000.0}


def table_of(config: MicroscopeConfig, **sequence: Any) -> AcquisitionTable:
    data = {"stage_positions": [HERE], "channels": ["DAPI"], **sequence}
    return resolve(config, spec_from_data({"sequence": data}), focus_z_um=3000.0)


def test_frames_take_the_longest_of_exposure_readout_and_rendering(
    profile_config: MicroscopeConfig,
) -> None:
    table = table_of(profile_config, channels=[{"config": "DAPI", "exposure": 30.0}])
    readout_s = 1 / profile_config.camera.max_fps
    exposed = estimate_duration(profile_config, table, hardware_timed=True)
    assert exposed.frames_s == pytest.approx(max(0.030, readout_s))
    rendered = estimate_duration(
        profile_config, table, hardware_timed=True, frame_render_s={"DAPI": 0.075}
    )
    assert rendered.frames_s == pytest.approx(0.075)


def test_filter_wheel_turns_are_counted_the_shorter_way_between_channels(
    profile_config: MicroscopeConfig,
) -> None:
    channels = ["DAPI", "Cy5", "DAPI"]
    table = table_of(profile_config, channels=channels)
    wheel = profile_config.filter_wheel
    positions = [1, *(profile_config.channel(c).filter_position for c in channels)]
    # The first turn happens while the stage travels to the field, which takes longer.
    turns = [wheel.move_time_s(a, b) for a, b in itertools.pairwise(positions)]
    estimate = estimate_duration(profile_config, table, hardware_timed=True)
    assert estimate.stage_s > turns[0] > 0
    assert estimate.filters_s == pytest.approx(sum(turns[1:]))


def test_focus_moves_follow_the_z_stack_and_return_to_focus(
    profile_config: MicroscopeConfig,
) -> None:
    table = table_of(profile_config, z_plan={"range": 4.0, "step": 2.0})
    z = profile_config.stage.z
    one = move_duration_s(2.0, z.max_velocity_um_s, z.max_acceleration_um_s2)
    # 0 -> -2 -> 0 -> +2, then back down to 0 at the end, through the stage: past it by
    # the backlash overshoot, and up again. The first move happens while the stage
    # travels to the field and the filter wheel turns to DAPI's filter: the stage's
    # travel takes longest, and counts for all three.
    overshoot = profile_config.stage.z_backlash_overshoot_um
    assert profile_config.stage.z_backlash == "end_moving_up" and overshoot > 0
    back = move_duration_s(2.0 + overshoot, z.max_velocity_um_s, z.max_acceleration_um_s2)
    back += move_duration_s(overshoot, z.max_velocity_um_s, z.max_acceleration_um_s2)
    wheel_s = profile_config.filter_wheel.move_time_s(
        1, profile_config.channel("DAPI").filter_position
    )
    burst = estimate_duration(profile_config, table, hardware_timed=True)
    assert burst.stage_s > wheel_s > one
    assert burst.focus_s == pytest.approx(2 * one + back)
    assert burst.filters_s == 0.0


def test_time_points_wait_for_their_start_and_software_frames_cost_messages(
    profile_config: MicroscopeConfig,
) -> None:
    table = table_of(profile_config, time_plan={"interval": 5.0, "loops": 3})
    burst = estimate_duration(profile_config, table, hardware_timed=True)
    software = estimate_duration(profile_config, table, hardware_timed=False)
    # Each time point takes far less than 5 s: the run waits for the second and third,
    # and ends one time point (a field, one frame: no moves, no turns) after 10 s.
    frame_s = max(
        profile_config.channel("DAPI").exposure_ms / 1000, 1 / profile_config.camera.max_fps
    )
    assert burst.total_s == pytest.approx(10.0 + FIELD_OVERHEAD_S + frame_s + burst.run_s)
    assert software.messages_s - burst.messages_s == pytest.approx(3 * SOFTWARE_FRAME_S)
    # The first time point's messages go out while the stage travels to the field.
    assert burst.messages_s == pytest.approx(2 * FIELD_OVERHEAD_S)


@pytest.mark.parametrize("dx_um", [0.0, 0.5, 5000.0])
def test_a_field_s_messages_overlap_the_moves_to_its_first_frame(
    profile_config: MicroscopeConfig, dx_um: float
) -> None:
    # A wheel that turns in no time: the stage's travel is the only move.
    wheel = profile_config.filter_wheel.model_copy(update={"move_time_per_position_s": 0.0})
    profile_config = profile_config.model_copy(update={"filter_wheel": wheel})
    start = profile_config.stage
    here = {"x": start.x.start_um + dx_um, "y": start.y.start_um}
    table = resolve(
        profile_config,
        spec_from_data({"sequence": {"stage_positions": [here], "channels": ["DAPI"]}}),
        focus_z_um=3000.0,
    )
    estimate = estimate_duration(profile_config, table, hardware_timed=True)
    moves = FrameMoves(profile_config, hardware_timed=True)(
        dxy_um=(dx_um, 0.0),
        dz_um=0.0,
        wheel_from=1,
        wheel_to=profile_config.channel("DAPI").filter_position,
    )
    travel_s = xy_move_s(start, dx_um, 0.0)
    assert max(moves.values()) == moves["stage"] == pytest.approx(travel_s)
    assert estimate.messages_s == pytest.approx(max(0.0, FIELD_OVERHEAD_S - travel_s))


def test_each_new_well_adds_its_first_view_and_the_run_its_warm_up_once(
    profile_config: MicroscopeConfig,
) -> None:
    plate = {
        "plate": 96,
        "a1_center_xy": [14380.0, 11240.0],
        "selected_wells": [[0, 0, 1], [0, 1, 1]],
        "well_points_plan": {"rows": 1, "columns": 2, "overlap": 10},
    }
    table = table_of(profile_config, stage_positions=plate)
    plain = estimate_duration(profile_config, table, hardware_timed=True)
    sim = estimate_duration(
        profile_config, table, hardware_timed=True, first_view_s=0.5, warmup_s=2.0
    )
    assert sim.frames_s - plain.frames_s == pytest.approx(2.0 + 0.5 * (3 - 1))


def test_images_rendered_ahead_hold_a_field_up_only_when_they_take_longer_than_its_hardware(
    profile_config: MicroscopeConfig,
) -> None:
    table = table_of(profile_config, z_plan={"range": 2.0, "step": 1.0})  # 3 frames
    plain = estimate_duration(profile_config, table, hardware_timed=True)
    assert plain.total_s - plain.run_s < 1.0

    def ahead(image_s: float, first_view_s: float = 0.0, of: AcquisitionTable = table) -> float:
        return estimate_duration(
            profile_config,
            of,
            hardware_timed=True,
            image_ahead_s={"DAPI": image_s},
            first_view_s=first_view_s,
        ).total_s

    # Quicker than the hardware: hidden. Slower: the field takes as long as its images.
    assert ahead(0.001) == pytest.approx(plain.total_s)
    assert ahead(1.0) > plain.total_s + 2.0
    assert ahead(2.0) - ahead(1.0) == pytest.approx(3 * 1.0)
    # A new well's cells are built with its first images: hidden or not the same way.
    plate = {
        "plate": 96,
        "a1_center_xy": [14380.0, 11240.0],
        "selected_wells": [[0, 0], [0, 1]],
        "well_points_plan": {"rows": 1, "columns": 1},
    }
    wells = table_of(profile_config, stage_positions=plate)
    assert ahead(1.0, 0.5, wells) - ahead(1.0, 0.0, wells) == pytest.approx(0.5)
    assert ahead(0.001, 0.001, wells) == pytest.approx(
        estimate_duration(profile_config, wells, hardware_timed=True).total_s
    )


def test_frame_moves_remembered_are_those_worked_out_and_each_a_new_dict(
    profile_config: MicroscopeConfig,
) -> None:
    moves = FrameMoves(profile_config, hardware_timed=False)
    for dxy in (None, (900.0, -4500.0)):
        for dz, wheel in itertools.product((-2.0, 0.0, 3.0), (1, 3)):
            asked = {"dxy_um": dxy, "dz_um": dz, "wheel_from": 1, "wheel_to": wheel}
            expected = frame_moves_s(profile_config, **asked, hardware_timed=False)
            first = moves(**asked)
            first.pop("stage")  # as the estimate does: the next lookup is unchanged
            assert moves(**asked) == expected
