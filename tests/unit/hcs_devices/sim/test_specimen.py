"""The synthetic specimen: deterministic from its seed, empty where configured."""

from __future__ import annotations

import numpy as np
import pytest

from hcs_devices.config import MicroscopeConfig, SpecimenConfig
from hcs_devices.sim.render import Light, Renderer, View
from hcs_devices.sim.specimen import OBJECT_CLASSES, Specimen


def _specimen(config: MicroscopeConfig, **changes: object) -> Specimen:
    return Specimen(config.specimen.model_copy(update=changes), config.plate())


def _same_content(a: Specimen, b: Specimen, well: str) -> bool:
    ca, cb = a.well_content(well), b.well_content(well)
    return np.array_equal(ca.cell_x_um, cb.cell_x_um) and all(
        np.array_equal(ca.blobs[k].x_um, cb.blobs[k].x_um)
        and np.array_equal(ca.blobs[k].brightness, cb.blobs[k].brightness)
        for k in ca.blobs
    )


def test_specimen_well_content_is_identical_when_the_seed_is_the_same(
    profile_config: MicroscopeConfig,
) -> None:
    first = _specimen(profile_config)
    second = _specimen(profile_config)
    second.well_content("A1")  # a different order of first use changes nothing
    assert _same_content(first, second, "B3")
    assert first.surface_z_um(20000, 20000) == second.surface_z_um(20000, 20000)


def test_specimen_well_content_differs_when_the_seed_differs(
    profile_config: MicroscopeConfig,
) -> None:
    a = _specimen(profile_config, seed=0)
    b = _specimen(profile_config, seed=1)
    assert not _same_content(a, b, "B3")
    # Different wells of one specimen hold different cells too.
    assert not np.array_equal(a.well_content("B3").cell_x_um - 9000, a.well_content("B2").cell_x_um)


def test_specimen_cells_lie_inside_their_well_when_generated(
    profile_config: MicroscopeConfig,
) -> None:
    specimen = _specimen(profile_config)
    plate = specimen.plate
    content = specimen.well_content("C5")
    cx, cy = plate.well_center_um("C5")
    area_mm2 = np.pi * (plate.well_size_um / 2000) ** 2
    expected = profile_config.specimen.cells_per_mm2 * area_mm2
    assert content.cell_x_um.size == pytest.approx(expected, rel=0.1)
    assert all(
        plate.contains("C5", x - cx, y - cy)
        for x, y in zip(content.cell_x_um, content.cell_y_um, strict=True)
    )
    assert {
        specimen.well_at(x, y) for x, y in zip(content.cell_x_um, content.cell_y_um, strict=True)
    } == {"C5"}


def test_specimen_empty_well_holds_no_cells_when_listed_in_empty_wells(
    profile_config: MicroscopeConfig,
) -> None:
    assert "H12" in profile_config.specimen.empty_wells
    specimen = _specimen(profile_config)
    content = specimen.well_content("H12")
    assert content.cell_x_um.size == 0
    assert all(content.blobs[c.name].x_um.size == 0 for c in OBJECT_CLASSES)
    assert specimen.well_content("H11").cell_x_um.size > 0


def test_renderer_shows_only_background_when_the_well_is_empty(
    profile_config: MicroscopeConfig,
) -> None:
    """Empty and populated wells through the DAPI channel, noiselessly."""
    specimen = _specimen(profile_config)
    renderer = Renderer(specimen)
    light = Light(405.0, 1.0, 450.0, 50.0, 0.75)

    def frame(well: str) -> np.ndarray:
        x, y = specimen.plate.well_center_um(well)
        view = View(x, y, specimen.surface_z_um(x, y), 256, 256, 0.65)
        return renderer.expected(view, light)

    empty, populated = frame("H12"), frame("H11")
    assert float(empty.max() - empty.min()) < 1e-3 * float(empty.mean())
    assert float(populated.max()) > 10 * float(empty.max())


def test_specimen_surface_follows_the_configured_tilt_when_curvature_is_zero(
    profile_config: MicroscopeConfig,
) -> None:
    config = SpecimenConfig.model_validate(
        {
            "tilt_x_um_per_mm": 2.0,
            "tilt_y_um_per_mm": -1.5,
            "curvature_um_per_mm2": 0.0,
            "well_offset_rms_um": 3.0,
        }
    )
    specimen = Specimen(config, profile_config.plate())
    x, y = specimen.plate.well_center_um("D6")
    z = specimen.surface_z_um(x, y)
    # Within one well, only the tilt changes the height.
    assert specimen.surface_z_um(x + 1000, y) - z == pytest.approx(2.0)
    assert specimen.surface_z_um(x, y + 1000) - z == pytest.approx(-1.5)
    # Each well sits at its own offset from the tilted plane.
    x2, y2 = specimen.plate.well_center_um("D7")
    assert specimen.surface_z_um(x2, y2) - z != pytest.approx(2.0 * 9.0, abs=1e-6)


def test_specimen_builds_only_the_well_in_view_when_a_field_lies_inside_it(
    profile_config: MicroscopeConfig,
) -> None:
    specimen = _specimen(profile_config)
    cx, cy = specimen.plate.well_center_um("B2")
    assert specimen.wells_in(cx - 400, cx + 400, cy - 400, cy + 400) == ["B2"]
    specimen.blobs_in("nuclei", cx - 400, cx + 400, cy - 400, cy + 400)
    # Only B2's cells were built, not those of its eight neighbours.
    assert specimen._content.cache_info().currsize == 1  # pyright: ignore[reportFunctionMemberAccess]


@pytest.mark.slow
@pytest.mark.parametrize("name", [c.name for c in OBJECT_CLASSES])
def test_specimen_blobs_in_a_rectangle_are_every_well_s_blobs_there_when_it_spans_wells(
    profile_config: MicroscopeConfig, name: str
) -> None:
    specimen = _specimen(profile_config)
    plate = specimen.plate
    b2, c3 = plate.well_center_um("B2"), plate.well_center_um("C3")
    # From inside B2 across the gap into C3: every blob of every well near it.
    x0, x1, y0, y1 = b2[0] + 2000, c3[0] - 2000, b2[1] + 2000, c3[1] - 2000
    got = specimen.blobs_in(name, x0, x1, y0, y1)
    near = [
        specimen.well_content(w).blobs[name].within(x0, x1, y0, y1)
        for w in specimen.wells_near(x0, x1, y0, y1)
    ]
    expected = np.sort(np.concatenate([b.x_um for b in near]))
    assert got.x_um.size > 0
    assert np.array_equal(np.sort(got.x_um), expected)
