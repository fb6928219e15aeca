"""Pure geometry of a plate acquisition: wells, fields of view, orders, calibration.

Expected positions are computed here from the plate standard and the grid definition
(and, for rotation, from useq itself), never from the functions under test.
"""

from __future__ import annotations

import math

import pytest
import useq

from hcs_devices.config.plates import PlateFormat, standard_plate_formats
from hcs_plans.patterns.plate import (
    FieldOfView,
    grid_offsets,
    inside_well,
    order_wells,
    plate_fields,
    plate_for,
    position_fields,
    selected_wells,
)

PLATES = standard_plate_formats()
P96 = PLATES["96"]
A1 = (14380.0, 11240.0)


def plan(**kwargs: object) -> useq.WellPlatePlan:
    data: dict[str, object] = {"plate": 96, "a1_center_xy": A1}
    data.update(kwargs)
    return useq.WellPlatePlan.model_validate(data)


def fields(p: useq.WellPlatePlan, plate: PlateFormat = P96, **kwargs: object) -> list[FieldOfView]:
    options: dict[str, object] = {
        "fov_width_um": 100.0,
        "fov_height_um": 100.0,
        "well_order": "row",
        "fov_order": "row",
        "clip_to_well": True,
    }
    options.update(kwargs)
    return plate_fields(p, plate, **options)  # type: ignore[arg-type]


# --- well order ---------------------------------------------------------------------


def test_order_wells_reverses_every_other_row_when_serpentine() -> None:
    wells = [(1, 2), (0, 0), (1, 0), (0, 2), (0, 1), (1, 1), (2, 1)]
    assert order_wells(wells, "serpentine") == [
        (0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0), (2, 1),
    ]  # fmt: skip


def test_order_wells_goes_row_by_row_left_to_right_when_row_order() -> None:
    wells = [(1, 2), (0, 1), (1, 0), (0, 0)]
    assert order_wells(wells, "row") == [(0, 0), (0, 1), (1, 0), (1, 2)]


def test_order_wells_alternates_by_row_rank_when_rows_are_skipped() -> None:
    # Rows 0 and 5 only: the second row visited runs right to left, whatever its index.
    wells = [(0, 0), (0, 3), (5, 0), (5, 3)]
    assert order_wells(wells, "serpentine") == [(0, 0), (0, 3), (5, 3), (5, 0)]


def test_order_wells_visits_a_well_once_when_selected_twice() -> None:
    assert order_wells([(0, 1), (0, 1), (0, 0)], "row") == [(0, 0), (0, 1)]


# --- fields of view inside a well ---------------------------------------------------


def test_grid_offsets_run_serpentine_with_stage_y_down_when_useq_y_points_up() -> None:
    grid = useq.GridRowsColumns(rows=2, columns=3, overlap=0)
    offsets = grid_offsets(grid, fov_width_um=100.0, fov_height_um=50.0, order="serpentine")
    # Grid row 0 is the top row: smaller stage y (useq gives it the larger y).
    assert offsets == [
        (-100.0, -25.0), (0.0, -25.0), (100.0, -25.0),
        (100.0, 25.0), (0.0, 25.0), (-100.0, 25.0),
    ]  # fmt: skip
    useq_ys = [p.y for p in grid.model_copy(update={"fov_width": 100.0, "fov_height": 50.0})]
    assert max(useq_ys) == 25.0  # useq's first row is at +y: the mirror is real


def test_grid_offsets_step_by_the_field_less_the_overlap_when_fields_overlap() -> None:
    grid = useq.GridRowsColumns(rows=1, columns=3, overlap=(20, 0))
    offsets = grid_offsets(grid, fov_width_um=100.0, fov_height_um=100.0, order="row")
    assert [dx for dx, _ in offsets] == pytest.approx([-80.0, 0.0, 80.0])


def test_grid_offsets_use_the_grid_field_size_when_the_grid_gives_one() -> None:
    grid = useq.GridRowsColumns(rows=1, columns=2, overlap=0, fov_width=10.0, fov_height=10.0)
    offsets = grid_offsets(grid, fov_width_um=100.0, fov_height_um=100.0, order="row")
    assert offsets == [(-5.0, 0.0), (5.0, 0.0)]


def test_grid_offsets_are_the_well_centre_when_there_is_no_grid() -> None:
    assert grid_offsets(None, 100.0, 100.0, "serpentine") == [(0.0, 0.0)]


def test_plate_fields_drop_the_corner_fields_when_a_large_grid_meets_a_round_well() -> None:
    # 9 x 9 fields of 700 um span 6300 um: the grid fits the 6400 um well's width, not
    # its corners.
    p = plan(selected_wells=([0], [0]), well_points_plan={"rows": 9, "columns": 9, "overlap": 0})
    kept = fields(p, fov_width_um=700.0, fov_height_um=700.0)
    radius = P96.well_size_um / 2
    expected = [
        (A1[0] + dx, A1[1] + dy)
        for dy in (700.0 * (i - 4) for i in range(9))
        for dx in (700.0 * (j - 4) for j in range(9))
        if all(
            math.hypot(dx + sx * 350.0, dy + sy * 350.0) <= radius
            for sx in (-1, 1)
            for sy in (-1, 1)
        )
    ]
    assert 0 < len(kept) < 81
    assert [c for f in kept for c in (f.x_um, f.y_um)] == pytest.approx(
        [c for xy in expected for c in xy]
    )
    assert (A1[0] - 2800.0, A1[1] - 2800.0) not in [(f.x_um, f.y_um) for f in kept]
    assert [f.fov for f in kept] == list(range(len(kept)))  # renumbered, no gaps


def test_plate_fields_keep_every_field_when_clipping_is_off() -> None:
    p = plan(selected_wells=([0], [0]), well_points_plan={"rows": 9, "columns": 9, "overlap": 0})
    assert len(fields(p, fov_width_um=700.0, fov_height_um=700.0, clip_to_well=False)) == 81


def test_plate_fields_keep_the_corners_when_the_well_is_square() -> None:
    # 384-well: 3600 um square wells; a 5 x 5 grid of 700 um fields spans 3500 um.
    p = useq.WellPlatePlan(
        plate=384,
        a1_center_xy=(0.0, 0.0),
        selected_wells=([0], [0]),
        well_points_plan=useq.GridRowsColumns(rows=5, columns=5, overlap=0),
    )
    assert len(fields(p, PLATES["384"], fov_width_um=700.0, fov_height_um=700.0)) == 25


def test_inside_well_needs_all_four_corners_when_a_field_touches_the_wall() -> None:
    edge = P96.well_size_um / 2
    assert inside_well(P96, 0.0, 0.0, 100.0, 100.0)
    assert not inside_well(P96, edge - 40.0, 0.0, 100.0, 100.0)  # right edge sticks out
    assert inside_well(P96, edge - 60.0, 0.0, 100.0, 100.0)


# --- wells on the stage ---------------------------------------------------------------


def test_plate_fields_place_wells_by_pitch_from_a1_when_not_rotated() -> None:
    p = plan(selected_wells=([0, 1, 7], [0, 2, 11]))
    placed = {f.well: (f.x_um, f.y_um) for f in fields(p)}
    assert placed == {
        "A1": A1,
        "B3": (A1[0] + 2 * 9000.0, A1[1] + 9000.0),
        "H12": (A1[0] + 11 * 9000.0, A1[1] + 7 * 9000.0),
    }


def test_plate_fields_agree_with_useq_mirrored_in_y_when_the_plate_is_rotated() -> None:
    p = plan(selected_wells=([0, 0, 1, 7], [0, 11, 0, 11]), rotation=1.5)
    placed = {f.well: (f.x_um, f.y_um) for f in fields(p)}
    for well in p.selected_well_positions:
        x, y = placed[str(well.name)]
        assert x == pytest.approx(well.x)
        assert y - A1[1] == pytest.approx(-(well.y - A1[1]))  # stage y runs down the rows


def test_plate_fields_rotate_about_a1_and_keep_the_pitch_when_the_plate_is_rotated() -> None:
    p = plan(selected_wells=([0, 0, 1], [0, 1, 0]), rotation=2.0)
    placed = {f.well: (f.x_um, f.y_um) for f in fields(p)}
    assert placed["A1"] == pytest.approx(A1)
    for well in ("A2", "B1"):
        assert math.dist(placed["A1"], placed[well]) == pytest.approx(9000.0)
    angle = math.radians(2.0)
    # Clockwise in stage coordinates: the next column is higher up, the next row to the right.
    assert placed["A2"][1] - A1[1] == pytest.approx(-9000.0 * math.sin(angle))
    assert placed["B1"][0] - A1[0] == pytest.approx(9000.0 * math.sin(angle))


def test_plate_fields_keep_the_field_grid_on_the_stage_axes_when_the_plate_is_rotated() -> None:
    p = plan(selected_wells=([0], [0]), rotation=3.0,
             well_points_plan={"rows": 1, "columns": 2, "overlap": 0})  # fmt: skip
    left, right = fields(p)
    assert right.y_um == pytest.approx(left.y_um)
    assert right.x_um - left.x_um == pytest.approx(100.0)


def test_plate_fields_move_with_the_calibration_when_a1_is_offset() -> None:
    a = fields(plan(selected_wells=([2], [3])))
    b = fields(plan(selected_wells=([2], [3]), a1_center_xy=(A1[0] + 123.0, A1[1] - 45.0)))
    assert (b[0].x_um - a[0].x_um, b[0].y_um - a[0].y_um) == pytest.approx((123.0, -45.0))


def test_plate_fields_order_wells_then_fields_when_serpentine() -> None:
    p = plan(selected_wells=([0, 0, 1, 1], [0, 1, 0, 1]),
             well_points_plan={"rows": 2, "columns": 2, "overlap": 0})  # fmt: skip
    placed = fields(p, well_order="serpentine", fov_order="serpentine")
    assert [f.well for f in placed[::4]] == ["A1", "A2", "B2", "B1"]
    a1 = placed[:4]
    assert [(f.x_um - A1[0], f.y_um - A1[1]) for f in a1] == [
        (-50.0, -50.0), (50.0, -50.0), (50.0, 50.0), (-50.0, 50.0),
    ]  # fmt: skip


# --- errors and other inputs ---------------------------------------------------------


def test_selected_wells_refuse_a_well_naming_it_when_the_plate_is_smaller() -> None:
    p = plan(selected_wells=([5], [1]))  # valid on a 96-well plate, not on a 24-well one
    with pytest.raises(
        ValueError, match=r"\(row 5, column 1\) is not on the plate \(wells A1..D6\)"
    ):
        selected_wells(p, PLATES["24"])


def test_plate_for_matches_rows_and_columns_when_no_format_is_named() -> None:
    assert plate_for(plan(), PLATES, None) == ("96", P96)
    assert plate_for(useq.WellPlatePlan(plate=384, a1_center_xy=(0, 0)), PLATES, None)[0] == "384"


def test_plate_for_names_the_formats_when_the_named_one_is_unknown() -> None:
    with pytest.raises(ValueError, match=r"plate_format '97' is not one of \['12', '1536'"):
        plate_for(plan(), PLATES, "97")


def test_position_fields_put_a_grid_around_each_position_when_given_positions() -> None:
    positions = (useq.Position(x=100.0, y=200.0, z=3000.0, name="here"), useq.Position(x=0, y=0))
    grid = useq.GridRowsColumns(rows=1, columns=2, overlap=0)
    placed = position_fields(
        positions, grid, fov_width_um=10.0, fov_height_um=10.0, fov_order="row"
    )
    assert placed == [
        FieldOfView("here", 0, 95.0, 200.0, 3000.0),
        FieldOfView("here", 1, 105.0, 200.0, 3000.0),
        FieldOfView("P1", 0, -5.0, 0.0, None),
        FieldOfView("P1", 1, 5.0, 0.0, None),
    ]


def test_position_fields_name_the_position_when_it_lacks_x_or_y() -> None:
    with pytest.raises(ValueError, match=r"stage_positions\[1\] needs both x and y"):
        position_fields(
            (useq.Position(x=1.0, y=1.0), useq.Position(x=1.0)),
            None,
            fov_width_um=10.0,
            fov_height_um=10.0,
            fov_order="row",
        )
