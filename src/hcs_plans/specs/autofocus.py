"""How an acquisition finds focus: the ``autofocus`` section of an acquisition spec.

Every model refuses unknown keys (a misspelt key is an error naming the field) and
carries its units in the field names. The choices, as a facility would offer them:

- ``method: none``: every field of view at the run's start z (or the sequence's z).
- ``method: focus_map``: z predicted from a focus map (measured at the start of the
  run, or given as points).
- ``method: contrast`` / ``laser``: autofocus at every field of view
  (``every: fov``), every Nth (``every: nth``, ``every_n``) or the first of each
  well (``every: first_per_well``); the others follow the last result (shifted along
  the focus map, if there is one). With ``focus_map`` set too, each autofocus starts
  from the map's prediction (e.g. laser autofocus on top of a focus map).

A failed autofocus is a warning recorded in the run's ``autofocus`` stream; the field
falls back to the focus map, else its z at the previous time point, else the last good
z. After ``max_consecutive_warnings`` in a row the run pauses at the next checkpoint
(a deferred pause) for the operator.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hcs_devices.autofocus.measures import FocusMeasureName
from hcs_devices.config.errors import FieldError

#: Most planes a coarse sweep may take (half range / step on each side of the start).
MAX_SWEEP_PLANES = 1001


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ContrastAutofocusSettings(_Model):
    """Image-contrast autofocus: a coarse sweep, then a fine fit around the best plane.

    Attributes:
        channel: the channel preset imaged for focus (its z offset is taken out, so
            the field's z is the reference focus the stack's channel offsets apply to).
        exposure_ms: exposure of the focus frames (the channel's by default).
        measure: the focus measure.
        half_range_um: the coarse sweep covers start z +/- this.
        coarse_step_um: step of the coarse sweep.
        fine_step_um: the fine search samples the fitted peak +/- this.
        crop_px: side of the centre crop the measure is taken on (binned pixels).
        min_peak_contrast: a peak must rise this fraction above the curve's minimum;
            below that (an empty well, no features) the autofocus fails.
        overshoot_um: approach distance from below when the stage does not end
            moves upward by itself.
        max_extensions: when the curve rises to an edge of the range, sweep this many
            more half ranges beyond that edge before giving up.
    """

    channel: str = "DAPI"
    exposure_ms: float | None = Field(default=None, gt=0.0, le=3_600_000.0)
    measure: FocusMeasureName = "normalized_variance"
    half_range_um: float = Field(default=12.0, gt=0.0, le=500.0)
    coarse_step_um: float = Field(default=3.0, gt=0.0, le=500.0)
    fine_step_um: float = Field(default=1.0, gt=0.0, le=500.0)
    crop_px: int = Field(default=256, ge=16, le=4096)
    min_peak_contrast: float = Field(default=0.25, gt=0.0, le=1000.0)
    overshoot_um: float = Field(default=5.0, ge=0.0, le=1000.0)
    max_extensions: int = Field(default=1, ge=0, le=5)

    @model_validator(mode="after")
    def _steps(self) -> ContrastAutofocusSettings:
        if self.coarse_step_um > self.half_range_um:
            raise ValueError(
                f"coarse_step_um ({self.coarse_step_um}) must not exceed half_range_um "
                f"({self.half_range_um}): the sweep needs at least 3 planes"
            )
        _check_sweep("coarse_step_um", self.half_range_um, self.coarse_step_um)
        return self


def _check_sweep(step_name: str, half_range_um: float, step_um: float) -> None:
    """Refuse a sweep step so small that the sweep would take too many planes."""
    planes = 2 * round(half_range_um / step_um) + 1
    if planes > MAX_SWEEP_PLANES:
        smallest = 2 * half_range_um / (MAX_SWEEP_PLANES - 1)
        raise FieldError(
            (step_name,),
            f"{step_name} ({step_um}) is {planes:,} planes over the sweep; the most allowed "
            f"is {MAX_SWEEP_PLANES:,} (a step of at least {smallest:g} um)",
        )


class LaserAutofocusSettings(_Model):
    """Laser reflection autofocus: measure, move, verify (and undo a bad move).

    Attributes:
        actuator: ``auto`` moves the piezo when fitted (else the stage); in a plate
            acquisition the stack is taken with the stage, so ``stage`` is used there.
        tolerance_um: after the move, the spot must be this close to the reference.
        min_correlation: and its profile must correlate this well with the
            reference crop; otherwise the move is undone.
        max_moves: correction moves before verification (a second one takes up
            what the first left, e.g. actuator non-linearity).
        calibration_half_range_um: calibration moves z over +/- this; it becomes the
            calibrated range, beyond which a displacement is refused.
        calibration_points: z positions measured for the calibration.
        calibrate: ``if_needed`` calibrates at the first field of view of a plate
            (contrast autofocus there first) when the sensor has no calibration;
            ``never`` refuses to run uncalibrated.
    """

    actuator: Literal["auto", "piezo", "stage"] = "auto"
    tolerance_um: float = Field(default=0.5, gt=0.0, le=1000.0)
    min_correlation: float = Field(default=0.8, ge=-1.0, le=1.0)
    max_moves: int = Field(default=2, ge=1, le=5)
    calibration_half_range_um: float = Field(default=20.0, gt=0.0, le=500.0)
    calibration_points: int = Field(default=5, ge=2, le=41)
    calibrate: Literal["if_needed", "never"] = "if_needed"


class FocusMapSettings(_Model):
    """A focus map: measured at the start of the run, or given.

    Attributes:
        method: ``plane`` or ``thin_plate_spline``.
        scope: one surface for the ``plate``, or one per ``well``.
        grid_points: for a plate map, the points per side of a grid over the
            selected wells (3: nine wells, the nearest to a 3 x 3 grid over them).
        points_per_well: for a per-well map, points measured in each well (on a
            circle around its first field of view; 1 or 2 follow the plate surface
            plus the well's offset).
        point_radius_um: radius of that circle.
        measure_with: how each point is measured.
        search_half_range_um: contrast autofocus at a map point searches start z +/-
            this (the map points are far apart, so wider than at a field of view).
        search_step_um: coarse step of that search.
        smoothing: thin-plate spline smoothing (0 passes through every point).
        points_um: ``(x, y, z)`` points to use instead of measuring.
    """

    method: Literal["plane", "thin_plate_spline"] = "plane"
    scope: Literal["plate", "well"] = "plate"
    grid_points: int = Field(default=3, ge=2, le=16)
    points_per_well: int = Field(default=3, ge=1, le=25)
    point_radius_um: float = Field(default=500.0, ge=0.0, le=100_000.0)
    measure_with: Literal["contrast", "laser"] = "contrast"
    search_half_range_um: float = Field(default=40.0, gt=0.0, le=1000.0)
    search_step_um: float = Field(default=5.0, gt=0.0, le=1000.0)
    smoothing: float = Field(default=0.0, ge=0.0, le=1e6)
    points_um: tuple[tuple[float, float, float], ...] = Field((), max_length=10_000)

    @model_validator(mode="after")
    def _search(self) -> FocusMapSettings:
        _check_sweep("search_step_um", self.search_half_range_um, self.search_step_um)
        return self


class AutofocusPolicy(_Model):
    """The autofocus policy of an acquisition (see the module docstring).

    Attributes:
        method: ``none``, ``focus_map``, ``contrast`` or ``laser``.
        every: at which fields of view the autofocus runs.
        every_n: for ``every: nth``, run at fields 0, N, 2N, ...
        focus_map: the focus map (required for ``method: focus_map``).
        contrast: contrast autofocus settings.
        laser: laser autofocus settings.
        max_consecutive_warnings: failed autofocus in a row before the run pauses.
    """

    method: Literal["none", "focus_map", "contrast", "laser"] = "none"
    every: Literal["fov", "nth", "first_per_well"] = "fov"
    every_n: int = Field(default=1, ge=1, le=1_000_000)
    focus_map: FocusMapSettings | None = None
    contrast: ContrastAutofocusSettings = ContrastAutofocusSettings()
    laser: LaserAutofocusSettings = LaserAutofocusSettings()
    max_consecutive_warnings: int = Field(default=3, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _needs_map(self) -> AutofocusPolicy:
        if self.method == "focus_map" and self.focus_map is None:
            raise ValueError("method focus_map needs a focus_map section (how to make the map)")
        return self

    @property
    def enabled(self) -> bool:
        """Whether the policy does anything."""
        return self.method != "none" or self.focus_map is not None
