"""How much a sequence may ask for, and which numbers it may hold, checked before useq expands it.

useq-schema expands a sequence when it validates one (every position of a plate plan
is built to check the axis order) and when it is iterated (``np.arange`` over a z
range, one ``timedelta`` per time point). A 1000 x 1000 grid, ``loops: 1e9`` or a z
step of 1e-9 um would take minutes and gigabytes before anything could refuse it. So
:func:`check_sequence_data` first validates the sequence with its axis order left out
(which expands nothing), then counts what it asks for arithmetically and refuses,
naming the field and the limit:

- more than :data:`MAX_FIELDS` fields of view (wells x grid points, or positions x grid);
- more than :data:`MAX_Z_PLANES` z planes, more than :data:`MAX_TIME_POINTS` time
  points, or a last time point after :data:`MAX_DURATION_S`;
- more than :data:`MAX_IMAGES` images (fields x time points x z planes x channels);
- a number that is not finite, a z step or time interval that is zero or negative, an
  empty or inverted z range, a grid overlap outside [0, 100) %.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import useq
from pydantic import ValidationError

from hcs_devices.config.errors import FieldError

#: Most fields of view in one acquisition (a 1536-well plate with 3 x 3 fields is 13,824).
MAX_FIELDS = 20_000
#: Most z planes in a stack.
MAX_Z_PLANES = 1_000
#: Most time points.
MAX_TIME_POINTS = 100_000
#: Latest time point, seconds (31 days).
MAX_DURATION_S = 31 * 24 * 3600.0
#: Most images in one acquisition.
MAX_IMAGES = 10_000_000
#: Largest grid overlap, percent (at 100 % every field is at the same place).
MAX_OVERLAP_PERCENT = 100.0
#: Largest plate rotation either way, degrees.
MAX_ROTATION_DEG = 360.0

Loc = tuple[int | str, ...]


def check_sequence_data(data: dict[str, Any]) -> None:
    """Check the numbers and the size of a sequence given as plain data.

    Does nothing when the sequence does not validate at all: useq's own validation
    then reports what is wrong (and expands nothing, having failed on a field).

    Raises:
        FieldError: naming the field (relative to the sequence) and the allowed range.
    """
    written = data.get("stage_positions")
    if isinstance(written, list | tuple) and len(written) > MAX_FIELDS:
        raise FieldError(
            ("stage_positions",),
            f"the sequence asks for {len(written):,} positions; the most allowed is "
            f"{MAX_FIELDS:,} fields of view",
        )
    try:
        sequence = useq.MDASequence.model_validate({**data, "axis_order": ()})
    except (ValidationError, TypeError, ValueError):
        return
    _refuse_unsupported(sequence)
    positions = sequence.stage_positions
    if isinstance(positions, useq.WellPlatePlan):
        _check_finite(positions.model_dump(mode="python"), ("stage_positions",))
    else:  # many positions, and only these numbers in each (sub-sequences are refused)
        for i, position in enumerate(positions):
            for key in ("x", "y", "z"):
                _check_finite(getattr(position, key), ("stage_positions", i, key))
    _check_finite(sequence.model_dump(mode="python", exclude={"metadata", "stage_positions"}), ())
    planes = _z_planes(sequence.z_plan)
    times = _time_points(sequence.time_plan)
    fields = _fields(sequence)
    channels = max(1, len(sequence.channels))
    images = fields * times * planes * channels
    if images > MAX_IMAGES:
        raise FieldError(
            (),
            f"the sequence asks for {images:,} images ({fields:,} fields of view x "
            f"{times:,} time points x {planes:,} z planes x {channels} channels); the most "
            f"allowed is {MAX_IMAGES:,}",
        )


def _refuse_unsupported(sequence: useq.MDASequence) -> None:
    """Refuse the useq fields hcs does not carry out, rather than ignore them."""
    if sequence.autofocus_plan is not None:
        raise FieldError(
            ("autofocus_plan",),
            "useq autofocus plans are not run by hcs; remove it and give the spec's "
            "autofocus section instead (docs/how-to/choose-an-autofocus-policy.md)",
        )
    if sequence.setup is not None:
        raise FieldError(
            ("setup",),
            "useq setup events are not run by hcs; give the binning in the spec's binning "
            "and each channel's exposure in channels",
        )
    if sequence.keep_shutter_open_across:
        raise FieldError(
            ("keep_shutter_open_across",),
            "not supported: hcs switches the light for each frame itself; remove it",
        )


def _check_finite(value: Any, loc: Loc) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldError(loc, f"must be a finite number (got {value})")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, (*loc, str(key)))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_finite(item, (*loc, i))


def _z_planes(plan: useq.AnyZPlan | None) -> int:
    """Planes of a z plan, counted without building them."""
    if plan is None:
        return 1
    if isinstance(plan, useq.ZRelativePositions | useq.ZAbsolutePositions):
        count = len(plan.positions())
        if count == 0:
            key = "relative" if isinstance(plan, useq.ZRelativePositions) else "absolute"
            raise FieldError(("z_plan", key), "give at least one z position")
    else:
        if plan.step <= 0:
            raise FieldError(
                ("z_plan", "step"),
                f"step must be greater than 0 um (got {plan.step}); for one plane leave out z_plan",
            )
        if isinstance(plan, useq.ZRangeAround) and plan.range < 0:
            raise FieldError(("z_plan", "range"), f"range must be 0 um or more (got {plan.range})")
        if isinstance(plan, useq.ZTopBottom) and plan.top < plan.bottom:
            raise FieldError(
                ("z_plan", "top"),
                f"top ({plan.top} um) must not be below bottom ({plan.bottom} um)",
            )
        if isinstance(plan, useq.ZRangeAround):
            start, stop = -plan.range / 2, plan.range / 2
        elif isinstance(plan, useq.ZAboveBelow):
            start, stop = -abs(plan.below), abs(plan.above)
        else:
            start, stop = plan.bottom, plan.top
        if 0 < stop - start < plan.step:
            raise FieldError(
                ("z_plan", "step"),
                f"step ({plan.step} um) is larger than the z range ({stop - start:g} um): "
                f"the stack would be one plane at {start:+g} um; make the step at most the "
                "range, or leave out z_plan for one plane",
            )
        count = plan.num_positions()
    if count > MAX_Z_PLANES:
        raise FieldError(
            ("z_plan",),
            f"the z plan has {count:,} planes; the most allowed is {MAX_Z_PLANES:,} "
            "(make the step larger or the range smaller)",
        )
    return count


def _time_points(plan: useq.AnyTimePlan | None) -> int:
    """Time points of a time plan, counted without building them."""
    if plan is None:
        return 1
    if isinstance(plan, useq.MultiPhaseTimePlan):
        phases = [(("time_plan", "phases", i), p) for i, p in enumerate(plan.phases)]
        if not phases:
            raise FieldError(("time_plan", "phases"), "give at least one phase")
    else:
        phases = [(("time_plan",), plan)]
    counts: list[int] = []
    last_s = 0.0
    for loc, phase in phases:
        loops, span_s = _phase(loc, phase)
        counts.append(loops)
        last_s += span_s
    count = sum(counts) - (len(counts) - 1)
    if count > MAX_TIME_POINTS:
        raise FieldError(
            ("time_plan",),
            f"the time plan has {count:,} time points; the most allowed is {MAX_TIME_POINTS:,}",
        )
    if last_s > MAX_DURATION_S:
        raise FieldError(
            ("time_plan",),
            f"the last time point is {last_s:,.0f} s after the first; the most allowed is "
            f"{MAX_DURATION_S:,.0f} s (31 days)",
        )
    return count


def _phase(
    loc: Loc, phase: useq.TIntervalLoops | useq.TDurationLoops | useq.TIntervalDuration
) -> tuple[int, float]:
    """Loops of one time-plan phase and the time from its first to its last point."""
    if isinstance(phase, useq.TIntervalLoops):
        interval_s = _seconds((*loc, "interval"), phase.interval, allow_zero=True)
        return phase.loops, interval_s * (phase.loops - 1)
    if isinstance(phase, useq.TDurationLoops):
        duration_s = _seconds((*loc, "duration"), phase.duration, allow_zero=True)
        if phase.loops < 2:
            raise FieldError(
                (*loc, "loops"),
                f"loops must be at least 2 with a duration (got {phase.loops}): the first "
                "and the last time point",
            )
        return phase.loops, duration_s
    interval_s = _seconds((*loc, "interval"), phase.interval, allow_zero=False)
    duration_s = _seconds((*loc, "duration"), phase.duration, allow_zero=True)
    loops = math.floor(duration_s / interval_s) + 1
    if loops > MAX_TIME_POINTS:
        raise FieldError(
            loc,
            f"an interval of {interval_s} s over {duration_s} s is {loops:,} time points; "
            f"the most allowed is {MAX_TIME_POINTS:,}",
        )
    return loops, interval_s * (loops - 1)


def _seconds(loc: Loc, value: timedelta, *, allow_zero: bool) -> float:
    seconds = value.total_seconds()
    if seconds < 0 or (seconds == 0 and not allow_zero):
        bound = "0 s or more" if allow_zero else "greater than 0 s"
        raise FieldError(loc, f"must be {bound} (got {seconds} s)")
    return seconds


def _fields(sequence: useq.MDASequence) -> int:
    """Fields of view the sequence visits (before wells clip them), counted."""
    positions = sequence.stage_positions
    if isinstance(positions, useq.WellPlatePlan):
        rotation = positions.rotation or 0.0
        if not -MAX_ROTATION_DEG <= rotation <= MAX_ROTATION_DEG:
            raise FieldError(
                ("stage_positions", "rotation"),
                f"must be in [-{MAX_ROTATION_DEG:g}, {MAX_ROTATION_DEG:g}] degrees "
                f"(got {rotation})",
            )
        loc: Loc = ("stage_positions", "well_points_plan")
        selected = positions.selected_wells
        wells = (
            positions.plate.rows * positions.plate.columns if selected is None else len(selected[0])
        )
        points = positions.well_points_plan
        if isinstance(points, useq.GridRowsColumns):
            per_well = _grid_points(loc, points)
        elif isinstance(points, useq.RelativePosition):
            per_well = 1
        else:
            raise FieldError(
                loc,
                f"well_points_plan of type {type(points).__name__} is not supported; use "
                "GridRowsColumns (rows, columns: a grid of fields of view) or a single "
                "RelativePosition",
            )
        count = wells * per_well
        where = f"{wells:,} wells x {per_well:,} fields of view"
    else:
        for i, position in enumerate(positions):
            if position.sequence is not None:
                raise FieldError(
                    ("stage_positions", i, "sequence"),
                    "a sequence per position is not supported here; give the z plan, grid "
                    "and channels once for the whole sequence",
                )
        grid = sequence.grid_plan
        per_position = (
            _grid_points(("grid_plan",), grid) if isinstance(grid, useq.GridRowsColumns) else 1
        )
        count = max(1, len(positions)) * per_position
        where = f"{len(positions):,} positions x {per_position:,} grid points"
    if count > MAX_FIELDS:
        raise FieldError(
            ("stage_positions",),
            f"the sequence asks for {count:,} fields of view ({where}); the most allowed "
            f"is {MAX_FIELDS:,}",
        )
    return count


def _grid_points(loc: Loc, grid: useq.GridRowsColumns) -> int:
    for axis, overlap in zip("xy", grid.overlap, strict=True):
        if not 0.0 <= overlap < MAX_OVERLAP_PERCENT:
            raise FieldError(
                (*loc, "overlap"),
                f"overlap in {axis} must be in [0, {MAX_OVERLAP_PERCENT:g}) % (got {overlap})",
            )
    for key in ("fov_width", "fov_height"):
        size = getattr(grid, key)
        if size is not None and not 0.0 < size <= 100_000.0:
            raise FieldError((*loc, key), f"must be in (0, 100000] um (got {size})")
    count = grid.rows * grid.columns
    if count > MAX_FIELDS:
        raise FieldError(
            loc,
            f"a {grid.rows:,} x {grid.columns:,} grid is {count:,} fields of view; the most "
            f"allowed is {MAX_FIELDS:,}",
        )
    return count


__all__ = [
    "MAX_DURATION_S",
    "MAX_FIELDS",
    "MAX_IMAGES",
    "MAX_OVERLAP_PERCENT",
    "MAX_ROTATION_DEG",
    "MAX_TIME_POINTS",
    "MAX_Z_PLANES",
    "check_sequence_data",
]
