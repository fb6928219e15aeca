"""Focus maps: planes and thin-plate splines through measured points, with their error."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hcs_devices.config import load_config
from hcs_devices.sim.specimen import Specimen
from hcs_plans.patterns.focus_map import (
    FocusMapError,
    FocusPoint,
    fit_focus_map,
    fit_surface,
)

PROFILE_CONFIG_PATH = (
    Path(__file__).resolve().parents[3] / "src" / "hcs_orchestrator" / "data" / "microscope.yaml"
)


def plane(x: float, y: float) -> float:
    return 3000.0 + 0.002 * x - 0.0015 * y


def test_fit_surface_recovers_a_plane_exactly_when_three_points_define_it() -> None:
    points = [FocusPoint(x, y, plane(x, y)) for x, y in ((0, 0), (9000, 0), (0, 9000))]
    surface = fit_surface(points, "plane")
    assert surface.predict(50000, 30000) == pytest.approx(plane(50000, 30000), abs=1e-6)
    assert surface.residual_rms_um == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(surface.loo_rms_um)  # two points left cannot define a plane


@pytest.mark.parametrize(
    "xy",
    [
        ((0, 0), (1000, 1000), (2000, 2000), (5000, 5000)),  # on a diagonal line
        ((0, 0), (9000, 0), (18000, 0.001)),  # nearly on a line
        ((5, 5), (5, 5), (5, 5)),  # one spot
    ],
)
def test_fit_surface_refuses_points_on_one_line_when_fitting_a_plane(
    xy: tuple[tuple[float, float], ...],
) -> None:
    points = [FocusPoint(x, y, 3000.0) for x, y in xy]
    with pytest.raises(FocusMapError, match="one line"):
        fit_surface(points, "plane")
    with pytest.raises(FocusMapError, match="one line"):
        fit_surface(points, "thin_plate_spline")


def test_fit_surface_refuses_fewer_than_three_points_when_fitting() -> None:
    with pytest.raises(FocusMapError, match="at least 3 points"):
        fit_surface([FocusPoint(0, 0, 1), FocusPoint(1, 1, 2)], "plane")


def test_thin_plate_spline_follows_curvature_a_plane_cannot_when_the_surface_is_curved() -> None:
    def bowl(x: float, y: float) -> float:
        return 3000.0 + 0.01 * ((x / 1000 - 50) ** 2 + (y / 1000 - 35) ** 2)

    grid = [(x, y) for x in (15000, 50000, 85000) for y in (12000, 35000, 58000)]
    points = [FocusPoint(x, y, bowl(x, y)) for x, y in grid]
    test = [(x, y) for x in np.linspace(20000, 80000, 7) for y in np.linspace(15000, 55000, 5)]
    errors = {}
    for method in ("plane", "thin_plate_spline"):
        surface = fit_surface(points, method)  # type: ignore[arg-type]
        errors[method] = max(abs(surface.predict(x, y) - bowl(x, y)) for x, y in test)
        assert surface.report()["points"] == 9
    assert errors["thin_plate_spline"] < 0.25 * errors["plane"], errors
    # The plane's leave-one-out error reports that it misses the curvature.
    assert fit_surface(points, "plane").loo_rms_um > 1.0


def test_focus_map_reports_its_fit_error_when_the_points_are_noisy() -> None:
    rng = np.random.default_rng(0)
    grid = [(x, y) for x in (10000, 40000, 70000, 100000) for y in (10000, 40000, 70000)]
    points = [FocusPoint(x, y, plane(x, y) + rng.normal(0, 0.5)) for x, y in grid]
    fmap = fit_focus_map(points, "plane")
    report = fmap.report()
    assert 0.2 < report["plate"]["residual_rms_um"] < 1.0
    assert 0.2 < report["fit_error_um"] < 1.5
    assert fmap.predict(55000, 25000) == pytest.approx(plane(55000, 25000), abs=1.0)


def test_per_well_focus_map_uses_each_wells_plane_and_offsets_wells_with_few_points() -> None:
    offsets = {"B2": 3.0, "B3": -2.0, "C2": 1.0}
    centres = {"B2": (23380.0, 20240.0), "B3": (32380.0, 20240.0), "C2": (23380.0, 29240.0)}
    points: list[FocusPoint] = []
    for well in ("B2", "B3"):
        cx, cy = centres[well]
        for dx, dy in ((0, 500), (-433, -250), (433, -250)):
            x, y = cx + dx, cy + dy
            points.append(FocusPoint(x, y, plane(x, y) + offsets[well], well))
    cx, cy = centres["C2"]
    points.append(FocusPoint(cx, cy, plane(cx, cy) + offsets["C2"], "C2"))
    fmap = fit_focus_map(points, "plane", scope="well")
    assert set(fmap.well_surfaces) == {"B2", "B3"}
    for well in ("B2", "B3"):
        cx, cy = centres[well]
        assert fmap.predict(cx + 200, cy - 100, well) == pytest.approx(
            plane(cx + 200, cy - 100) + offsets[well], abs=1e-6
        )
    # C2 has one point: the plate surface plus its mean residual there.
    cx, cy = centres["C2"]
    assert fmap.predict(cx, cy, "C2") == pytest.approx(plane(cx, cy) + offsets["C2"], abs=1e-6)


@pytest.mark.parametrize(("well_offset_rms_um", "tolerance_um"), [(0.0, 3.0), (2.0, 8.0)])
def test_nine_point_map_predicts_the_specimen_surface_within_tolerance_when_fitted(
    well_offset_rms_um: float, tolerance_um: float
) -> None:
    """9 wells in a 3 x 3 grid, z measured exactly, predict all 96 wells' surface.

    Stated tolerances: the smooth surface (tilt 0.5/-0.4 um/mm, curvature
    0.006 um/mm^2: ~60 um of relief) within 3 um with a thin-plate spline; with
    per-well offsets (rms 2 um), which a map cannot know between its points, within
    4 sigma of them (8 um). A plane cannot follow the curvature.
    """
    config = load_config(PROFILE_CONFIG_PATH)
    specimen_cfg = config.specimen.model_copy(
        update={
            "tilt_x_um_per_mm": 0.5,
            "tilt_y_um_per_mm": -0.4,
            "curvature_um_per_mm2": 0.006,
            "well_offset_rms_um": well_offset_rms_um,
        }
    )
    plate = config.plate()
    specimen = Specimen(specimen_cfg, plate)
    grid = [f"{r}{c}" for r in "AEH" for c in (1, 6, 12)]
    points = [
        FocusPoint(*plate.well_center_um(w), specimen.surface_z_um(*plate.well_center_um(w)), w)
        for w in grid
    ]
    worst = {}
    for method in ("plane", "thin_plate_spline"):
        fmap = fit_focus_map(points, method)  # type: ignore[arg-type]
        worst[method] = max(
            abs(
                fmap.predict(*plate.well_center_um(w))
                - specimen.surface_z_um(*plate.well_center_um(w))
            )
            for w in plate.wells
        )
    assert worst["thin_plate_spline"] <= tolerance_um, worst
    assert worst["plane"] > tolerance_um, worst
