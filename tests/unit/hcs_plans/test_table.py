"""``resolve``: every image of a spec, checked against the microscope before anything moves.

Each refusal must name the field a user would fix (as written in their file) and
what is allowed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from hcs_devices.config import MicroscopeConfig
from hcs_plans.specs import spec_from_data
from hcs_plans.table import AcquisitionError, check_disk_space, resolve

A1 = [14380.0, 11240.0]
FOCUS_Z_UM = 3000.0


def plate(**points: Any) -> dict[str, Any]:
    return {
        "plate": 96,
        "a1_center_xy": A1,
        "selected_wells": [[1, 2], [1, 3]],
        "well_points_plan": {"rows": 2, "columns": 2, "overlap": 10, **points},
    }


def spec_data(**sequence: Any) -> dict[str, Any]:
    seq: dict[str, Any] = {"stage_positions": plate(), "channels": [{"config": "DAPI"}]}
    seq.update(sequence)
    return {"sequence": seq}


def resolved(config: MicroscopeConfig, data: dict[str, Any], **kwargs: Any):
    return resolve(config, spec_from_data(data), focus_z_um=FOCUS_Z_UM, **kwargs)


# --- what a spec resolves to ---------------------------------------------------------


def test_resolve_counts_wells_fields_planes_channels_and_times_when_all_are_given(
    profile_config: MicroscopeConfig,
) -> None:
    data = spec_data(
        channels=[{"config": "DAPI"}, {"config": "GFP", "exposure": 12}],
        z_plan={"range": 4, "step": 1},
        time_plan={"interval": 1, "loops": 3},
    )
    table = resolved(profile_config, data)
    assert len(table.fields) == 2 * 4
    assert table.z_offsets_um == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert table.time_points_s == [0.0, 1.0, 2.0]
    assert table.images == 3 * 8 * 5 * 2
    assert table.total_bytes == table.images * 2048 * 2048 * 2
    assert table.plate_format == "96"
    assert [(c.name, c.exposure_ms) for c in table.channels] == [("DAPI", 20.0), ("GFP", 12.0)]


def test_resolve_takes_the_preset_and_adds_the_sequence_offset_when_a_channel_has_one(
    profile_config: MicroscopeConfig,
) -> None:
    table = resolved(profile_config, spec_data(channels=[{"config": "GFP", "z_offset": 0.25}]))
    (gfp,) = table.channels
    preset = profile_config.channel("GFP")
    assert (gfp.source, gfp.filter_position, gfp.intensity_percent) == (
        preset.source, preset.filter_position, preset.intensity_percent,
    )  # fmt: skip
    assert gfp.z_offset_um == pytest.approx(preset.z_offset_um + 0.25)


def test_stack_puts_channels_inside_z_when_z_comes_first_in_the_axis_order(
    profile_config: MicroscopeConfig,
) -> None:
    data = spec_data(
        axis_order="tpgzc",
        channels=[{"config": "DAPI"}, {"config": "GFP"}],
        z_plan={"range": 1, "step": 1},
    )
    stack = resolved(profile_config, data).stack(0)
    assert [(f.z_index, f.channel.name) for f in stack] == [
        (0, "DAPI"), (0, "GFP"), (1, "DAPI"), (1, "GFP"),
    ]  # fmt: skip


def test_stack_puts_z_inside_channels_when_channels_come_first_in_the_axis_order(
    profile_config: MicroscopeConfig,
) -> None:
    data = spec_data(
        axis_order="tpgcz",
        channels=[{"config": "DAPI"}, {"config": "GFP"}],
        z_plan={"range": 1, "step": 1},
    )
    stack = resolved(profile_config, data).stack(0)
    assert [(f.z_index, f.channel.name) for f in stack] == [
        (0, "DAPI"), (1, "DAPI"), (0, "GFP"), (1, "GFP"),
    ]  # fmt: skip
    assert [f.z_rel_um for f in stack] == [-0.5, 0.5, -0.5, 0.5]


def test_stack_takes_only_the_middle_plane_when_a_channel_does_not_stack(
    profile_config: MicroscopeConfig,
) -> None:
    data = spec_data(
        channels=[{"config": "DAPI"}, {"config": "BF", "do_stack": False}],
        z_plan={"range": 2, "step": 1},
    )
    stack = resolved(profile_config, data).stack(0)
    assert [(f.channel.name, f.z_index) for f in stack if f.channel.name == "BF"] == [("BF", 1)]
    assert len(stack) == 3 + 1


def test_stack_skips_a_channel_at_other_time_points_when_it_is_acquired_every_second(
    profile_config: MicroscopeConfig,
) -> None:
    data = spec_data(
        channels=[{"config": "DAPI"}, {"config": "GFP", "acquire_every": 2}],
        time_plan={"interval": 0, "loops": 3},
    )
    table = resolved(profile_config, data)
    assert [[f.channel.name for f in table.stack(t)] for t in range(3)] == [
        ["DAPI", "GFP"], ["DAPI"], ["DAPI", "GFP"],
    ]  # fmt: skip
    assert table.images == 8 * 5


def test_resolve_places_positions_without_a_plate_when_given_a_position_list(
    profile_config: MicroscopeConfig,
) -> None:
    data = spec_data(stage_positions=[{"x": 20000, "y": 20000, "z": 3100, "name": "p"}])
    table = resolved(profile_config, data)
    assert table.plate_format is None
    assert [(f.well, f.x_um, f.y_um, f.z_um) for f in table.fields] == [("p", 20000, 20000, 3100)]


# --- refusals, each naming its field ---------------------------------------------------


def test_resolve_names_the_channel_and_lists_the_presets_when_the_channel_is_unknown(
    profile_config: MicroscopeConfig,
) -> None:
    data = spec_data(channels=[{"config": "DAPI"}, {"config": "FITC"}])
    with pytest.raises(
        AcquisitionError, match=r"^sequence\.channels\[1\]\.config: unknown channel 'FITC'.*'GFP'"
    ):
        resolved(profile_config, data)


@pytest.mark.parametrize("exposure", [0.01, 20000.0])
def test_resolve_names_the_exposure_and_the_range_when_the_camera_cannot_do_it(
    profile_config: MicroscopeConfig, exposure: float
) -> None:
    data = spec_data(channels=[{"config": "DAPI", "exposure": exposure}])
    with pytest.raises(
        AcquisitionError, match=r"^sequence\.channels\[0\]\.exposure: .*\[0\.1, 10000\.0\] ms"
    ):
        resolved(profile_config, data)


def test_resolve_names_the_channels_when_there_are_none(profile_config: MicroscopeConfig) -> None:
    with pytest.raises(AcquisitionError, match=r"^sequence\.channels: at least one channel"):
        resolved(profile_config, spec_data(channels=[]))


def test_resolve_names_the_field_and_the_limits_when_a_field_is_off_the_stage(
    profile_config: MicroscopeConfig,
) -> None:
    data = spec_data(stage_positions={**plate(), "a1_center_xy": [30000.0, 11240.0],
                                      "selected_wells": [[0], [11]]})  # fmt: skip
    with pytest.raises(
        AcquisitionError,
        match=r"^sequence\.stage_positions: field of view A12#0 at x=.* outside the stage's "
        r"soft limits \[0\.0, 120000\.0\] um",
    ):
        resolved(profile_config, data)


def test_resolve_names_the_z_plan_when_the_stack_leaves_the_z_limits(
    profile_config: MicroscopeConfig,
) -> None:
    data = spec_data(z_plan={"range": 6000, "step": 3000})
    with pytest.raises(
        AcquisitionError, match=r"^sequence\.z_plan: .*z soft limits \[50\.0, 7000\.0\]"
    ):
        resolved(profile_config, data)


def test_resolve_names_the_binning_and_the_allowed_values_when_the_camera_cannot_bin(
    profile_config: MicroscopeConfig,
) -> None:
    with pytest.raises(
        AcquisitionError, match=r"^binning: 8 is not one the camera allows \[1, 2, 4\]"
    ):
        resolve(
            profile_config, spec_from_data({**spec_data(), "binning": 8}), focus_z_um=FOCUS_Z_UM
        )


def test_resolve_names_the_well_when_it_is_not_on_the_configured_plate(
    profile_config: MicroscopeConfig,
) -> None:
    data = {**spec_data(stage_positions={**plate(), "selected_wells": [[5], [1]]}),
            "plate_format": "24"}  # fmt: skip
    with pytest.raises(
        AcquisitionError, match=r"^sequence\.stage_positions: selected well \(row 5"
    ):
        resolved(profile_config, data)


def test_resolve_names_the_grid_when_no_field_fits_in_a_well(
    profile_config: MicroscopeConfig,
) -> None:
    # Two fields 7 mm apart: both centres lie outside the 6.4 mm well.
    data = spec_data(stage_positions=plate(fov_width=7000.0, fov_height=7000.0, rows=1, columns=2))
    with pytest.raises(
        AcquisitionError, match=r"^sequence\.stage_positions\.well_points_plan: no field"
    ):
        resolved(profile_config, data)


def test_resolve_names_the_grid_plan_when_it_is_not_rows_and_columns(
    profile_config: MicroscopeConfig,
) -> None:
    data = spec_data(
        stage_positions=[{"x": 20000, "y": 20000}],
        grid_plan={"width": 100, "height": 100},
    )
    with pytest.raises(AcquisitionError, match=r"^sequence\.grid_plan: only GridRowsColumns"):
        resolved(profile_config, data)


def test_resolve_names_the_data_directory_when_the_disk_is_too_small(
    profile_config: MicroscopeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    free = 10**9
    monkeypatch.setattr(
        "hcs_plans.table.shutil.disk_usage",
        lambda path: shutil._ntuple_diskusage(2 * free, free, free),
    )
    fits = spec_data(time_plan={"interval": 0, "loops": 10})  # 10 x 8 x 8 MiB = 0.67 GB
    resolved(profile_config, fits, data_dir=tmp_path)
    too_big = spec_data(time_plan={"interval": 0, "loops": 20})  # 1.34 GB
    with pytest.raises(
        AcquisitionError,
        match=r"^data_dir: the run needs 1\.34 GB \(plus 10 %\) but .* has 1\.00 GB free",
    ):
        resolved(profile_config, too_big, data_dir=tmp_path / "not" / "yet")


def test_check_disk_space_passes_when_the_run_fits(tmp_path: Path) -> None:
    check_disk_space(tmp_path / "missing", needed_bytes=1)
