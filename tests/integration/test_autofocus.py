"""Autofocus on the simulated microscope: contrast, laser reflection, focus maps, policies.

The specimen (``af_config``) is tilted, curved and has per-well focus offsets, so no
single z is in focus everywhere; it has empty wells, where contrast autofocus must
fail cleanly. The truth is computed here, never read from the code under test: the
specimen's surface height plus the DAPI label's chromatic focal shift, against the
objective's depth of field. "In focus" means within half the depth of field of the
sharpest plane (inside the in-focus slab).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import numpy as np
import pytest
from bluesky import RunEngine
from bluesky.run_engine import RunEngineInterrupted
from PIL import Image

from frame_rows import frame_rows
from hcs_devices.config import MicroscopeConfig
from hcs_devices.factory import Microscope
from hcs_devices.sim import optics_of, specimen_of
from hcs_devices.sim.render import FOCAL_SHIFT_UM_PER_NM
from hcs_devices.sim.specimen import DAPI
from hcs_plans.acquire import acquire_plate
from hcs_plans.autofocus import (
    AutofocusError,
    ContrastAutofocusSettings,
    LaserAutofocusSettings,
    calibrate_laser_autofocus,
    contrast_autofocus,
    focus_curves,
    laser_autofocus,
    plot_focus_curve,
)
from hcs_plans.specs import spec_from_data

# A system test (real RunEngine, real Tiled catalog): part of the full suite only.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
#: Where the how-to's figure lives (rewritten when HCS_UPDATE_DOCS=1).
DOCS_FIGURE = REPO / "docs" / "how-to" / "images" / "focus-curve.png"

#: Tilt, curvature and per-well offsets of the autofocus specimen.
TILT_X_UM_PER_MM = 0.5
TILT_Y_UM_PER_MM = -0.4
CURVATURE_UM_PER_MM2 = 0.006
WELL_OFFSET_RMS_UM = 2.5
#: Wells with no cells in ``af_config``.
EMPTY_WELLS = ("B4", "B5", "B6", "H12")
#: The 96-well plate's A1 centre on the stage and its pitch (SBS), in um.
A1_XY_UM = (14380.0, 11240.0)
PITCH_UM = 9000.0
Documents = list[tuple[str, dict[str, Any]]]


# --- the specimen and the truth -------------------------------------------------------


def af_config(
    base: MicroscopeConfig, sensor_px: int = 256, cells_per_mm2: float = 1500.0
) -> MicroscopeConfig:
    """``base`` with a specimen that needs autofocus, made quick to test.

    Dense cells without sub-resolution spots (every crop holds nuclei; spots only cost
    render time), a fast stage, an instant filter wheel and a 2 ms DAPI exposure.
    """
    cam = base.camera.model_copy(
        update={"sensor_width_px": sensor_px, "sensor_height_px": sensor_px}
    )
    wheel = base.filter_wheel.model_copy(update={"move_time_per_position_s": 0.0})
    specimen = base.specimen.model_copy(
        update={
            "tilt_x_um_per_mm": TILT_X_UM_PER_MM,
            "tilt_y_um_per_mm": TILT_Y_UM_PER_MM,
            "curvature_um_per_mm2": CURVATURE_UM_PER_MM2,
            "well_offset_rms_um": WELL_OFFSET_RMS_UM,
            "cells_per_mm2": cells_per_mm2,
            "spots_per_cell": 0,
            "empty_wells": EMPTY_WELLS,
        }
    )
    fast = {"max_velocity_um_s": 300000.0, "max_acceleration_um_s2": 5.0e6}
    stage = base.stage.model_copy(
        update={
            "x": base.stage.x.model_copy(update=fast),
            "y": base.stage.y.model_copy(update=fast),
            "z": base.stage.z.model_copy(
                update={"max_velocity_um_s": 20000.0, "max_acceleration_um_s2": 2.0e6}
            ),
        }
    )
    channels = tuple(
        c.model_copy(update={"exposure_ms": 2.0}) if c.name == "DAPI" else c for c in base.channels
    )
    return base.model_copy(
        update={
            "camera": cam,
            "filter_wheel": wheel,
            "specimen": specimen,
            "stage": stage,
            "channels": channels,
        }
    )


def dapi_focus_z(microscope: Microscope, x_um: float, y_um: float) -> float:
    """Where the DAPI image is sharpest: the surface plus DAPI's chromatic focal shift."""
    surface = specimen_of(microscope).surface_z_um(x_um, y_um)
    return surface + FOCAL_SHIFT_UM_PER_NM * (DAPI.emission_nm - 500.0)


def dapi_depth_of_field_um(config: MicroscopeConfig) -> float:
    """The objective's depth of field at DAPI's emission wavelength."""
    return config.active_objective.depth_of_field_um(DAPI.emission_nm, config.camera)


def well_xy(well: str) -> tuple[float, float]:
    """Stage position of a well's centre, from the SBS pitch (not from the code)."""
    row, col = ord(well[0]) - ord("A"), int(well[1:]) - 1
    return A1_XY_UM[0] + col * PITCH_UM, A1_XY_UM[1] + row * PITCH_UM


def stream_events(
    documents: Iterable[tuple[str, dict[str, Any]]], stream: str, run_uid: str | None = None
) -> list[dict[str, Any]]:
    """The ``data`` of every event of one stream (of one run, if given), in order."""
    descriptors: set[str] = set()
    found: list[dict[str, Any]] = []
    for name, doc in documents:
        if (
            name == "descriptor"
            and doc["name"] == stream
            and (run_uid is None or doc["run_start"] == run_uid)
        ):
            descriptors.add(doc["uid"])
        elif name == "event" and doc["descriptor"] in descriptors:
            found.append(doc["data"])
    return found


def go_to(RE: RunEngine, m: Microscope, x_um: float, y_um: float, z_um: float) -> None:
    RE(bps.mv(m.stage_.x, x_um, m.stage_.y, y_um, m.stage_.z, z_um))


def z_now(RE: RunEngine, m: Microscope) -> float:
    return float(RE(bps.rd(m.stage_.z)).plan_result)


def plate_spec(
    wells: list[str], autofocus: dict[str, Any], *, grid: int = 1, **spec: Any
) -> dict[str, Any]:
    rows = [ord(w[0]) - ord("A") for w in wells]
    cols = [int(w[1:]) - 1 for w in wells]
    sequence = {
        "stage_positions": {
            "plate": 96,
            "a1_center_xy": list(A1_XY_UM),
            "selected_wells": [rows, cols],
            "well_points_plan": {"rows": grid, "columns": grid, "overlap": 0},
        },
        "channels": [{"config": "DAPI", "exposure": 2.0}],
    }
    if "time_loops" in spec:
        sequence["time_plan"] = {"interval": 0, "loops": spec.pop("time_loops")}
    return {"sequence": sequence, "autofocus": autofocus, **spec}


def image_z(documents: Documents) -> list[tuple[str, int, int, float, float, float]]:
    """(well, fov, time index, x, y, z) of every image, from its row in the ``frames``
    stream, run after run in image order."""
    rows: list[dict[str, Any]] = []
    for uid in [d["uid"] for n, d in documents if n == "start"]:
        rows += frame_rows(
            (n, d) for n, d in documents if n != "descriptor" or d["run_start"] == uid
        )
    return [
        (e["frame-well"], e["frame-fov"], e["frame-time_index"], e["frame-x_um"],
         e["frame-y_um"], e["frame-z_um"])
        for e in rows
    ]  # fmt: skip


@pytest.fixture
def af_microscope(
    make_microscope: Callable[..., Microscope], profile_config: MicroscopeConfig
) -> Microscope:
    return make_microscope(af_config(profile_config))


SEARCH = ContrastAutofocusSettings(half_range_um=12.0, coarse_step_um=3.0, crop_px=256)
#: A wider search, for fields far from the last good z (after failures).
WIDE_SEARCH = ContrastAutofocusSettings(half_range_um=24.0, coarse_step_um=4.0, crop_px=256)


# --- contrast autofocus ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("measure", "well", "dz_um"),
    [
        ("normalized_variance", "C3", 7.3),
        ("brenner", "E9", -8.6),
        ("laplacian_variance", "F4", 5.1),
    ],
)
def test_contrast_autofocus_lands_within_the_depth_of_field_when_started_off_focus(
    RE: RunEngine,
    af_microscope: Microscope,
    documents: Documents,
    measure: str,
    well: str,
    dz_um: float,
) -> None:
    m = af_microscope
    dof = dapi_depth_of_field_um(m.config)
    x, y = well_xy(well)
    truth = dapi_focus_z(m, x, y)
    go_to(RE, m, x, y, truth + dz_um)
    result = RE(contrast_autofocus(m, SEARCH.model_copy(update={"measure": measure}))).plan_result
    assert result.success
    error = z_now(RE, m) - truth
    assert abs(error) <= dof / 2, (error, dof)
    assert result.z_um == pytest.approx(z_now(RE, m), abs=0.02)
    assert result.frames == 12  # 9 coarse planes + 3 fine
    assert len(stream_events(documents, "focus_curve")) == result.frames
    assert not optics_of(m).illumination.is_on


def test_contrast_autofocus_ends_moving_up_when_the_focus_is_below_the_last_plane(
    RE: RunEngine, af_microscope: Microscope
) -> None:
    m = af_microscope
    x, y = well_xy("C3")
    go_to(RE, m, x, y, dapi_focus_z(m, x, y) + 5.0)
    moves_before = optics_of(m).z.moves.count
    RE(contrast_autofocus(m, SEARCH))
    final_moves = optics_of(m).z.moves.since(moves_before)
    # The last plane sampled is above the focus: the last move overshoots down, then up.
    assert final_moves[-1] > final_moves[-2]


def test_contrast_autofocus_fails_cleanly_and_returns_to_the_start_z_when_the_well_is_empty(
    RE: RunEngine, af_microscope: Microscope, documents: Documents
) -> None:
    m = af_microscope
    x, y = well_xy("H12")
    start = dapi_focus_z(m, x, y) + 3.0
    go_to(RE, m, x, y, start)
    with pytest.raises(AutofocusError, match="no focus peak"):
        RE(contrast_autofocus(m, SEARCH))
    assert z_now(RE, m) == pytest.approx(start, abs=0.01)
    stops = [d for n, d in documents if n == "stop"]
    assert stops[-1]["exit_status"] == "fail"
    assert "no focus peak" in stops[-1]["reason"]
    assert not optics_of(m).illumination.is_on


def test_contrast_autofocus_fails_when_the_focus_is_outside_the_search_range(
    RE: RunEngine, af_microscope: Microscope
) -> None:
    m = af_microscope
    x, y = well_xy("C3")
    start = dapi_focus_z(m, x, y) + 25.0
    go_to(RE, m, x, y, start)
    with pytest.raises(AutofocusError, match="outside the search range"):
        RE(contrast_autofocus(m, SEARCH))
    assert z_now(RE, m) == pytest.approx(start, abs=0.01)


def test_contrast_autofocus_focus_curve_plot_is_written_when_drawn_from_the_documents(
    RE: RunEngine, af_microscope: Microscope, documents: Documents, tmp_path: Path
) -> None:
    m = af_microscope
    x, y = well_xy("D4")
    truth = dapi_focus_z(m, x, y)
    go_to(RE, m, x, y, truth - 4.4)
    result = RE(contrast_autofocus(m, SEARCH)).plan_result
    (curve,) = focus_curves(documents).values()
    assert len(curve) == result.frames
    targets = [tmp_path / "focus-curve.png"]
    if os.environ.get("HCS_UPDATE_DOCS") == "1":
        targets.append(DOCS_FIGURE)
    for target in targets:
        plot_focus_curve(curve, target, focus_z_um=result.z_um, true_z_um=truth)
        with Image.open(target) as image:
            assert image.format == "PNG"
            assert image.size == (720, 420)
            assert len(np.unique(np.asarray(image).reshape(-1, 3), axis=0)) > 3


# --- laser reflection autofocus -------------------------------------------------------


def calibrate_at(RE: RunEngine, m: Microscope, well: str) -> Any:
    x, y = well_xy(well)
    go_to(RE, m, x, y, specimen_of(m).surface_z_um(x, y))
    return RE(calibrate_laser_autofocus(m)).plan_result


def test_laser_autofocus_returns_to_the_surface_within_the_depth_of_field_after_calibration(
    RE: RunEngine, af_microscope: Microscope
) -> None:
    m = af_microscope
    assert m.laser_autofocus is not None
    calibration = calibrate_at(RE, m, "D5")
    shift = m.config.laser_autofocus.spot_shift_px_per_um  # type: ignore[union-attr]
    assert calibration.um_per_px == pytest.approx(1 / shift, rel=0.01)
    assert calibration.residual_rms_um < 0.1
    dof = dapi_depth_of_field_um(m.config)
    errors = []
    for well, dz in (("B2", 6.0), ("G11", -9.0), ("E7", 14.0)):
        x, y = well_xy(well)
        surface = specimen_of(m).surface_z_um(x, y)
        go_to(RE, m, x, y, surface + dz)
        result = RE(laser_autofocus(m, LaserAutofocusSettings(actuator="stage"))).plan_result
        assert result.success
        assert result.frames == 2 or result.frames == 3
        errors.append(z_now(RE, m) - surface)
    assert max(abs(e) for e in errors) <= dof / 2, errors


def test_laser_autofocus_moves_the_piezo_when_one_is_fitted(
    RE: RunEngine, af_microscope: Microscope
) -> None:
    m = af_microscope
    assert m.stage_.has_piezo
    calibrate_at(RE, m, "D5")
    x, y = well_xy("C6")
    surface = specimen_of(m).surface_z_um(x, y)
    go_to(RE, m, x, y, surface + 4.0)
    result = RE(laser_autofocus(m)).plan_result
    assert z_now(RE, m) == pytest.approx(surface + 4.0, abs=0.01)  # the stage stayed
    piezo = float(RE(bps.rd(m.stage_.piezo)).plan_result)
    assert piezo == pytest.approx(150.0 - 4.0, abs=0.5)
    assert result.z_um == pytest.approx(surface, abs=0.5)


def test_laser_autofocus_refuses_a_displacement_outside_the_calibrated_range(
    RE: RunEngine, af_microscope: Microscope
) -> None:
    m = af_microscope
    calibrate_at(RE, m, "D5")  # calibrated over +/- 20 um
    x, y = well_xy("C6")
    start = specimen_of(m).surface_z_um(x, y) + 30.0  # the spot is still on the sensor
    go_to(RE, m, x, y, start)
    moves_before = optics_of(m).z.moves.count
    with pytest.raises(AutofocusError, match="outside the calibrated range"):
        RE(laser_autofocus(m, LaserAutofocusSettings(actuator="stage")))
    assert optics_of(m).z.moves.count == moves_before
    assert z_now(RE, m) == pytest.approx(start, abs=1e-6)


def test_laser_autofocus_undoes_the_move_when_the_reference_is_corrupted(
    RE: RunEngine, af_microscope: Microscope, run_on_re_loop: Callable[..., Any]
) -> None:
    m = af_microscope
    assert m.laser_autofocus is not None
    calibration = calibrate_at(RE, m, "D5")
    # The stored reference crop no longer looks like the spot (e.g. a stale file).
    corrupted = calibration.model_copy(
        update={"reference_profile": tuple(np.random.default_rng(1).normal(0, 1, 25))}
    )
    run_on_re_loop(m.laser_autofocus.set_calibration(corrupted))
    x, y = well_xy("C6")
    start = specimen_of(m).surface_z_um(x, y) + 5.0
    go_to(RE, m, x, y, start)
    moves_before = optics_of(m).z.moves.count
    with pytest.raises(AutofocusError, match=r"verification failed.*move undone"):
        RE(laser_autofocus(m, LaserAutofocusSettings(actuator="stage")))
    assert optics_of(m).z.moves.count > moves_before  # it moved...
    assert z_now(RE, m) == pytest.approx(start, abs=0.01)  # ...and came back


def test_laser_calibration_round_trips_through_a_file_when_saved_and_loaded(
    RE: RunEngine, af_microscope: Microscope, tmp_path: Path, run_on_re_loop: Callable[..., Any]
) -> None:
    m = af_microscope
    assert m.laser_autofocus is not None
    calibration = calibrate_at(RE, m, "D5")
    calibration.save(tmp_path / "laser-af.json")
    run_on_re_loop(m.laser_autofocus.set_calibration(None))
    assert run_on_re_loop(m.laser_autofocus.calibration()) is None
    loaded = type(calibration).load(tmp_path / "laser-af.json")
    run_on_re_loop(m.laser_autofocus.set_calibration(loaded))
    assert run_on_re_loop(m.laser_autofocus.calibration()) == loaded.model_copy(
        update={"residual_rms_um": 0.0}
    )


# --- policies in a plate acquisition --------------------------------------------------


def test_acquire_plate_keeps_every_image_in_focus_when_laser_autofocus_runs_at_every_field(
    RE: RunEngine, af_microscope: Microscope, documents: Documents
) -> None:
    m = af_microscope
    wells = ["C2", "C3", "C4", "D4", "D3", "D2"]
    spec = spec_from_data(
        plate_spec(wells, {"method": "laser", "every": "fov"}, grid=2, hardware_sequencing=True)
    )
    x, y = well_xy("C2")  # the operator focuses roughly on the first well
    go_to(RE, m, x, y, dapi_focus_z(m, x, y) + 3.0)
    RE(acquire_plate(m, spec))
    images = image_z(documents)
    assert len(images) == len(wells) * 4
    dof = dapi_depth_of_field_um(m.config)
    errors = [z - dapi_focus_z(m, x, y) for _, _, _, x, y, z in images]
    assert max(abs(e) for e in errors) <= dof / 2, (max(map(abs, errors)), dof)
    records = [r for r in stream_events(documents, "autofocus") if r["af-fov"] >= 0]
    assert len(records) == len(images)
    assert all(r["af-success"] and r["af-method"] == "laser" for r in records)
    # One frame when already in focus (measure + verify in one), two with a move.
    assert all(r["af-frames"] in (1, 2, 3) for r in records)
    assert any(r["af-frames"] >= 2 for r in records)
    # The laser was calibrated at the first field, after a contrast autofocus there.
    assert len(stream_events(documents, "laser_calibration")) == 6


def test_acquire_plate_records_a_warning_and_falls_back_when_contrast_autofocus_fails(
    RE: RunEngine, af_microscope: Microscope, documents: Documents
) -> None:
    m = af_microscope
    spec = spec_from_data(
        plate_spec(
            ["B3", "B4", "B7"],
            {
                "method": "contrast",
                "contrast": WIDE_SEARCH.model_dump(),
                "max_consecutive_warnings": 3,
            },
            hardware_sequencing=False,
        )
    )
    x3, y3 = well_xy("B3")
    go_to(RE, m, x3, y3, dapi_focus_z(m, x3, y3) + 4.0)
    RE(acquire_plate(m, spec))
    records = {r["af-well"]: r for r in stream_events(documents, "autofocus")}
    assert records["B3"]["af-success"] and records["B7"]["af-success"]
    empty = records["B4"]
    assert not empty["af-success"]
    assert "no focus peak" in empty["af-warning"]
    assert empty["af-z_used_um"] == pytest.approx(records["B3"]["af-z_used_um"])  # last good
    assert empty["af-z_source"] == "last_good"
    images = {w: z for w, _, _, _, _, z in image_z(documents)}
    assert images["B4"] == pytest.approx(records["B3"]["af-z_used_um"], abs=0.05)  # no wild move


def test_acquire_plate_pauses_after_k_failures_in_a_row_and_resumes_without_duplicates(
    RE: RunEngine, af_microscope: Microscope, documents: Documents
) -> None:
    m = af_microscope
    wells = ["B3", "B4", "B5", "B6", "B7"]  # B4..B6 are empty
    spec = spec_from_data(
        plate_spec(
            wells,
            {
                "method": "contrast",
                "contrast": WIDE_SEARCH.model_dump(),
                "max_consecutive_warnings": 2,
            },
            hardware_sequencing=True,
        )
    )
    x3, y3 = well_xy("B3")
    go_to(RE, m, x3, y3, dapi_focus_z(m, x3, y3) + 2.0)
    with pytest.raises(RunEngineInterrupted):
        RE(acquire_plate(m, spec))
    assert RE.state == "paused"
    # Paused at the checkpoint that follows the second failure (B5's focus decision),
    # before B5 is imaged: B3 and B4 imaged.
    assert [w for w, *_ in image_z(documents)] == ["B3", "B4"]
    RE.resume()
    assert RE.state == "idle"
    assert [w for w, *_ in image_z(documents)] == wells
    records = [r for r in stream_events(documents, "autofocus")]
    assert [r["af-success"] for r in records] == [True, False, False, False, True]
    assert [r["af-consecutive_warnings"] for r in records] == [0, 1, 2, 1, 0]
    stop = next(d for n, d in documents if n == "stop")
    assert stop["exit_status"] == "success"


def test_acquire_plate_starts_each_field_from_its_previous_z_when_time_lapse(
    RE: RunEngine, af_microscope: Microscope, documents: Documents
) -> None:
    m = af_microscope
    spec = spec_from_data(
        plate_spec(
            ["C2", "C3"],
            {"method": "contrast", "every": "first_per_well", "contrast": SEARCH.model_dump()},
            grid=2,
            time_loops=2,
        )
    )
    x, y = well_xy("C2")
    go_to(RE, m, x, y, dapi_focus_z(m, x, y) + 3.0)
    RE(acquire_plate(m, spec))
    records = stream_events(documents, "autofocus")
    assert len(records) == 2 * 2 * 4
    first = {(r["af-well"], r["af-fov"]): r for r in records if r["af-time_index"] == 0}
    second = [r for r in records if r["af-time_index"] == 1]
    for r in second:
        assert r["af-z_source"] in ("previous_time_point", "contrast_autofocus")
        assert r["af-z_start_um"] == pytest.approx(
            first[(r["af-well"], r["af-fov"])]["af-z_used_um"]
        )
    # first_per_well: only field 0 of each well is autofocused, at every time point.
    assert [r["af-attempted"] for r in records] == [r["af-fov"] == 0 for r in records]


@pytest.mark.slow
def test_acquire_plate_predicts_focus_from_a_nine_point_map_within_tolerance(
    RE: RunEngine, af_microscope: Microscope, documents: Documents
) -> None:
    m = af_microscope
    wells = [f"{r}{c}" for r in "CEG" for c in (2, 5, 8, 11)]
    focus_map = {
        "method": "thin_plate_spline",
        "grid_points": 3,
        "search_half_range_um": 30.0,
        "search_step_um": 5.0,
    }
    spec = spec_from_data(
        plate_spec(
            wells,
            {"method": "focus_map", "focus_map": focus_map, "contrast": SEARCH.model_dump()},
        )
    )
    x, y = well_xy("E6")
    go_to(RE, m, x, y, dapi_focus_z(m, x, y))
    RE(acquire_plate(m, spec))
    (fit,) = stream_events(documents, "focus_map")
    assert fit["focus_map-points"] == 9
    points = [r for r in stream_events(documents, "autofocus") if r["af-fov"] < 0]
    assert len(points) == 9 and all(p["af-success"] for p in points)
    errors = [z - dapi_focus_z(m, x, y) for _, _, _, x, y, z in image_z(documents)]
    # Tolerance: the map sees the smooth surface; per-well offsets (rms 2.5 um) are
    # what it cannot know between its points: 3 sigma of them.
    tolerance = 3 * WELL_OFFSET_RMS_UM
    assert max(abs(e) for e in errors) <= tolerance, max(abs(e) for e in errors)
    assert fit["focus_map-fit_error_um"] <= tolerance
