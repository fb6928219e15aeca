"""Pure geometry of a plate acquisition: which wells, which fields of view, in what order.

Nothing here moves hardware; these functions turn a sequence and a plate format into
stage positions (micrometres, hcs stage coordinates: y runs down the rows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import useq

from hcs_devices.config.plates import PlateFormat, row_name


@dataclass(frozen=True)
class FieldOfView:
    """One field of view: where the stage goes.

    Attributes:
        well: well name (``"B3"``), or the position's name outside plates.
        fov: index of the field of view within its well.
        x_um: stage x of the field's centre.
        y_um: stage y of the field's centre.
        z_um: stage z given by the sequence, or None to use the current focus.
    """

    well: str
    fov: int
    x_um: float
    y_um: float
    z_um: float | None = None


def plate_for(
    plan: useq.WellPlatePlan, formats: dict[str, PlateFormat], name: str | None
) -> tuple[str, PlateFormat]:
    """The configuration's plate format for a useq plate plan.

    Raises:
        ValueError: when no format matches, naming the formats there are.
    """
    if name is not None:
        if name not in formats:
            raise ValueError(f"plate_format {name!r} is not one of {sorted(formats)}")
        return name, formats[name]
    for key, fmt in formats.items():
        if fmt.rows == plan.plate.rows and fmt.columns == plan.plate.columns:
            return key, fmt
    raise ValueError(
        f"no plate format with {plan.plate.rows} rows x {plan.plate.columns} columns; "
        f"formats are {sorted(formats)}"
    )


def selected_wells(plan: useq.WellPlatePlan, plate: PlateFormat) -> list[tuple[int, int]]:
    """The (row, column) of every selected well, checked against the plate.

    Raises:
        ValueError: naming a well that is not on the plate.
    """
    wells = [(int(r), int(c)) for r, c in _indices(plan)]
    for r, c in wells:
        if not (0 <= r < plate.rows and 0 <= c < plate.columns):
            last = f"{row_name(plate.rows - 1)}{plate.columns}"
            raise ValueError(
                f"selected well (row {r}, column {c}) is not on the plate (wells A1..{last})"
            )
    return wells


def _indices(plan: useq.WellPlatePlan) -> list[tuple[int, int]]:
    selected = plan.selected_wells
    if selected is None:
        return [(r, c) for r in range(plan.plate.rows) for c in range(plan.plate.columns)]
    rows, cols = selected
    return list(zip(rows, cols, strict=True))


def order_wells(wells: list[tuple[int, int]], order: str) -> list[tuple[int, int]]:
    """Row by row; ``serpentine`` reverses every other row to shorten stage travel."""
    by_row: dict[int, list[int]] = {}
    for r, c in sorted(set(wells)):
        by_row.setdefault(r, []).append(c)
    ordered: list[tuple[int, int]] = []
    for i, r in enumerate(sorted(by_row)):
        cols = by_row[r]
        if order == "serpentine" and i % 2 == 1:
            cols = list(reversed(cols))
        ordered.extend((r, c) for c in cols)
    return ordered


def grid_offsets(
    grid: useq.GridRowsColumns | None, fov_width_um: float, fov_height_um: float, order: str
) -> list[tuple[float, float]]:
    """Offsets (dx, dy) of the fields of view of a well, in hcs stage coordinates.

    The grid's field size defaults to the camera's field of view.
    """
    if grid is None:
        return [(0.0, 0.0)]
    sized = grid.model_copy(
        update={
            "fov_width": grid.fov_width or fov_width_um,
            "fov_height": grid.fov_height or fov_height_um,
            "mode": useq.OrderMode.row_wise_snake
            if order == "serpentine"
            else useq.OrderMode.row_wise,
        }
    )
    # useq's y points up; the stage's y runs down the rows.
    return [(float(p.x or 0.0), -float(p.y or 0.0)) for p in sized]


def inside_well(
    plate: PlateFormat, dx_um: float, dy_um: float, fov_width_um: float, fov_height_um: float
) -> bool:
    """Whether a whole field of view (all four corners) lies inside a well."""
    hw, hh = fov_width_um / 2, fov_height_um / 2
    return all(
        plate.contains("A1", dx_um + sx * hw, dy_um + sy * hh) for sx in (-1, 1) for sy in (-1, 1)
    )


def plate_fields(
    plan: useq.WellPlatePlan,
    plate: PlateFormat,
    *,
    fov_width_um: float,
    fov_height_um: float,
    well_order: str,
    fov_order: str,
    clip_to_well: bool,
) -> list[FieldOfView]:
    """Every field of view of a plate plan, in acquisition order.

    The plan's ``a1_center_xy`` and ``rotation`` are the plate calibration: the stage
    position of A1's centre, and the plate's rotation on the stage (degrees,
    anticlockwise with useq's y pointing up, so clockwise in stage coordinates: the
    well centres are useq's, mirrored in y about A1). As in useq, the fields of view of
    a well stay aligned with the stage axes (and so with the camera).
    """
    wells = order_wells(selected_wells(plan, plate), well_order)
    points = plan.well_points_plan
    if isinstance(points, useq.RelativePosition):
        # useq's y points up; the stage's y runs down the rows.
        offsets = [(float(points.x or 0.0), -float(points.y or 0.0))]
    else:
        offsets = grid_offsets(_grid(plan), fov_width_um, fov_height_um, fov_order)
    angle = math.radians(float(plan.rotation or 0.0))
    cos, sin = math.cos(angle), math.sin(angle)
    a1x, a1y = (float(v) for v in plan.a1_center_xy)
    fields: list[FieldOfView] = []
    for r, c in wells:
        name = f"{row_name(r)}{c + 1}"
        kept = [
            (dx, dy)
            for dx, dy in offsets
            if not clip_to_well or inside_well(plate, dx, dy, fov_width_um, fov_height_um)
        ]
        px = c * plate.well_spacing_um
        py = r * plate.well_spacing_um
        well_x = a1x + cos * px + sin * py
        well_y = a1y - sin * px + cos * py
        for i, (dx, dy) in enumerate(kept):
            fields.append(FieldOfView(name, i, well_x + dx, well_y + dy))
    return fields


def _grid(plan: useq.WellPlatePlan) -> useq.GridRowsColumns:
    points = plan.well_points_plan
    if isinstance(points, useq.GridRowsColumns):
        return points
    raise ValueError(
        f"well_points_plan of type {type(points).__name__} is not supported; use "
        "GridRowsColumns (a grid of fields of view) or a single RelativePosition"
    )


def position_fields(
    positions: tuple[useq.Position, ...],
    grid: useq.GridRowsColumns | None,
    *,
    fov_width_um: float,
    fov_height_um: float,
    fov_order: str,
) -> list[FieldOfView]:
    """Fields of view of a list of stage positions (each with an optional grid around it)."""
    offsets = grid_offsets(grid, fov_width_um, fov_height_um, fov_order)
    fields: list[FieldOfView] = []
    for i, pos in enumerate(positions):
        if pos.x is None or pos.y is None:
            raise ValueError(f"stage_positions[{i}] needs both x and y")
        name = pos.name or f"P{i}"
        for j, (dx, dy) in enumerate(offsets):
            fields.append(FieldOfView(name, j, float(pos.x) + dx, float(pos.y) + dy, pos.z))
    return fields
