"""Every SBS plate format is well-formed; a well not on a plate is a clear error."""

from __future__ import annotations

import itertools
import math
import re

import pytest

from hcs_devices.config import MicroscopeConfig, PlateFormat, standard_plate_formats
from hcs_devices.config.plates import row_name

FORMATS = standard_plate_formats()


@pytest.mark.parametrize("key", sorted(FORMATS, key=int))
def test_plate_format_has_one_named_well_per_position_when_standard(key: str) -> None:
    plate = FORMATS[key]
    wells = plate.wells
    assert len(wells) == plate.rows * plate.columns == int(key)
    assert len(set(wells)) == len(wells)
    assert wells[0] == "A1"
    assert wells[-1] == f"{row_name(plate.rows - 1)}{plate.columns}"
    assert all(re.fullmatch(r"[A-Z]{1,2}[1-9][0-9]?", w) for w in wells)
    # Names and indices round-trip, row-major.
    for i, well in enumerate(wells):
        assert plate.well_index(well) == divmod(i, plate.columns)


@pytest.mark.parametrize("key", sorted(FORMATS, key=int))
def test_plate_format_wells_lie_inside_the_footprint_when_standard(key: str) -> None:
    plate = FORMATS[key]
    half = plate.well_size_um / 2
    for well in plate.wells:
        x, y = plate.well_center_um(well)
        assert half <= x <= plate.width_um - half, well
        assert half <= y <= plate.height_um - half, well


@pytest.mark.parametrize("key", sorted(FORMATS, key=int))
def test_plate_format_wells_do_not_overlap_when_standard(key: str) -> None:
    plate = FORMATS[key]
    centres = [plate.well_center_um(w) for w in plate.wells]
    # No two wells' areas intersect (the first two rows hold every kind of neighbour).
    size = plate.well_size_um
    for (xa, ya), (xb, yb) in itertools.combinations(centres[: 2 * plate.columns], 2):
        if plate.well_shape == "round":
            assert math.hypot(xa - xb, ya - yb) > size
        else:
            assert max(abs(xa - xb), abs(ya - yb)) > size
    # A point between two neighbouring wells belongs to neither.
    if plate.columns > 1:
        gap_x = (centres[0][0] + centres[1][0]) / 2 - plate.a1_x_um
        assert not plate.contains("A1", gap_x, 0.0)


def test_plate_formats_of_the_profile_are_the_standard_ones_when_not_overridden(
    profile_config: MicroscopeConfig,
) -> None:
    assert profile_config.plate_formats == FORMATS
    assert profile_config.plate() == FORMATS["96"]


@pytest.mark.parametrize("well", ["I1", "A13", "A0", "", "1A", "AA1", "A-1", "B", "12"])
def test_plate_format_refuses_a_well_when_it_is_not_on_the_plate(well: str) -> None:
    with pytest.raises(
        ValueError, match=rf"well '{re.escape(well)}' is not on this plate \(wells A1\.\.H12\)"
    ):
        FORMATS["96"].well_center_um(well)


def test_plate_format_accepts_two_letter_rows_when_the_plate_has_32_rows() -> None:
    plate = FORMATS["1536"]
    assert plate.well_index("AF48") == (31, 47)
    assert plate.well_index("aa1") == (26, 0)
    with pytest.raises(ValueError, match=r"wells A1\.\.AF48"):
        plate.well_index("AG1")


def test_plate_format_is_refused_when_wells_would_overlap() -> None:
    with pytest.raises(ValueError, match="wells would overlap"):
        PlateFormat(
            rows=2, columns=2, well_spacing_um=1000, well_size_um=1200, a1_x_um=5000, a1_y_um=5000
        )


def test_microscope_config_names_the_formats_when_a_plate_is_unknown(
    profile_config: MicroscopeConfig,
) -> None:
    with pytest.raises(KeyError, match=r"unknown plate format '97'; formats are \['12', '1536'"):
        profile_config.plate("97")
