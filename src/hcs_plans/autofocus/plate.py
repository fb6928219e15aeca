"""The autofocus policy at work in a plate acquisition: the z of every field of view.

:class:`PlateFocus` is what ``acquire_plate`` asks, once per field of view (stage
already at its x, y), for the field's reference z (the stack's channel offsets and z
plan apply on top). It follows the spec's :class:`AutofocusPolicy`:

- a start z for each field: its z at the previous time point (time-lapse), else the
  focus map's prediction (plus the offset the last autofocus in the same well
  measured against it),
  else the last good z, else the run's start z;
- an autofocus where the policy says (every field, every Nth, first per well),
  starting from that z;
- on failure, the start z (focus map / previous time point / last good z): a warning
  recorded in the ``autofocus`` stream; after ``max_consecutive_warnings`` failures in
  a row, a deferred pause (the run pauses at the checkpoint that follows the field's
  focus decision, before the field is imaged).

Every decision is an event in the ``autofocus`` stream; the focus map's fit report
is an event in the ``focus_map`` stream.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass

import bluesky.plan_stubs as bps
import numpy as np
from bluesky.utils import MsgGenerator

from hcs_devices.microscope import Microscope
from hcs_plans.autofocus.contrast import contrast_autofocus_stub, move_z_ending_up
from hcs_plans.autofocus.laser import calibrate_laser_stub, is_calibrated, laser_autofocus_stub
from hcs_plans.autofocus.result import (
    AUTOFOCUS_STREAM,
    FOCUS_MAP_STREAM,
    AutofocusError,
    AutofocusRecord,
    AutofocusResult,
    FocusMapRecord,
)
from hcs_plans.patterns.focus_map import (
    FocusMap,
    FocusMapError,
    FocusPoint,
    fit_focus_map,
    fit_surface,
)
from hcs_plans.patterns.plate import FieldOfView
from hcs_plans.specs.autofocus import AutofocusPolicy, ContrastAutofocusSettings

log = logging.getLogger(__name__)
#: Neighbouring wells tried when a plate focus map point fails (e.g. an empty well).
MAP_POINT_RETRIES = 2


@dataclass(frozen=True)
class ZEnvelope:
    """How far a field's stack reaches below and above its reference z (um)."""

    below_um: float
    above_um: float


def _extrapolate(points: list[FocusPoint], x_um: float, y_um: float, default_um: float) -> float:
    """Where the next map point's focus probably is, from the points measured so far.

    A plane through three or more points (not on a line), a line through two, else the
    last point (or ``default_um``): map points are far apart, and the plate's tilt
    alone can move focus by more than a search range between them.
    """
    if not points:
        return default_um
    if len(points) >= 3:
        try:
            return fit_surface(points, "plane").predict(x_um, y_um)
        except FocusMapError:
            pass
    if len(points) >= 2:
        a, b = points[-2], points[-1]
        dx, dy = b.x_um - a.x_um, b.y_um - a.y_um
        length2 = dx * dx + dy * dy
        if length2 > 0:
            t = ((x_um - a.x_um) * dx + (y_um - a.y_um) * dy) / length2
            return a.z_um + t * (b.z_um - a.z_um)
    return points[-1].z_um


class PlateFocus:
    """Decides (and measures) the reference z of every field of view of a plate run.

    Args:
        microscope: the microscope.
        policy: the spec's autofocus policy.
        fields: the run's fields of view, in order.
        start_z_um: the run's start z (used until something better is known).
        envelope: the stack's reach around a field's z, for the z-limit check.
        use_field_z: take a field's own ``z_um`` (from the sequence) as its start z.
    """

    def __init__(
        self,
        microscope: Microscope,
        policy: AutofocusPolicy,
        fields: list[FieldOfView],
        start_z_um: float,
        envelope: ZEnvelope = ZEnvelope(0.0, 0.0),
        use_field_z: bool = False,
    ) -> None:
        self.microscope = microscope
        self.policy = policy
        self.fields = fields
        self.start_z_um = start_z_um
        self.envelope = envelope
        self.use_field_z = use_field_z
        self.focus_map: FocusMap | None = None
        self.previous_z: dict[tuple[str, int], float] = {}
        self.last_good_z: float | None = None
        self.map_offsets_um: dict[str, float] = {}
        self.consecutive_warnings = 0
        self.results: list[AutofocusResult] = []
        self.record = AutofocusRecord()
        self.map_record = FocusMapRecord()
        channels = {c.name: c for c in microscope.config.channels}
        af_channel = channels.get(policy.contrast.channel)
        self._af_channel_offset_um = af_channel.z_offset_um if af_channel is not None else 0.0

    # --- before the first field -------------------------------------------------------
    def prepare(self) -> MsgGenerator:
        """Calibrate the laser if needed and make the focus map (inside the run)."""
        needs_laser = self.policy.method == "laser" or (
            self.policy.focus_map is not None
            and self.policy.focus_map.measure_with == "laser"
            and not self.policy.focus_map.points_um
        )
        if needs_laser:
            yield from self._ensure_calibrated()
        if self.policy.focus_map is not None:
            yield from self._make_focus_map()

    def _ensure_calibrated(self) -> MsgGenerator:
        if (yield from is_calibrated(self.microscope)):
            return
        if self.policy.laser.calibrate == "never":
            raise AutofocusError(
                "autofocus.laser.calibrate is never but the laser autofocus is not "
                "calibrated: run calibrate_laser_autofocus first"
            )
        first = self.fields[0]
        stage = self.microscope.stage_
        yield from bps.mv(stage.x, first.x_um, stage.y, first.y_um)
        result = yield from self._contrast(self._base_z(first))
        yield from self._record_point(first.well, "laser_calibration", result, result.z_um)
        if not result.success:
            raise AutofocusError(
                f"laser autofocus calibration needs focus first, and contrast autofocus at "
                f"{first.well}#{first.fov} failed: {result.message}"
            )
        yield from move_z_ending_up(self.microscope, result.z_um, self.policy.contrast.overshoot_um)
        yield from calibrate_laser_stub(self.microscope, self.policy.laser)
        self.last_good_z = result.z_um

    def _map_positions(self) -> list[tuple[str, float, float]]:
        """(well, x, y) of every focus map point to measure."""
        settings = self.policy.focus_map
        assert settings is not None
        centres: dict[str, list[tuple[float, float]]] = {}
        for f in self.fields:
            centres.setdefault(f.well, []).append((f.x_um, f.y_um))
        wells = {w: (float(np.mean([p[0] for p in v])), float(np.mean([p[1] for p in v])))
                 for w, v in centres.items()}  # fmt: skip
        if settings.scope == "well":
            n = settings.points_per_well
            r = settings.point_radius_um if n > 1 else 0.0
            return [
                (w, x + r * math.cos(math.pi / 2 + 2 * math.pi * k / n),
                 y + r * math.sin(math.pi / 2 + 2 * math.pi * k / n))
                for w, (x, y) in wells.items()
                for k in range(n)
            ]  # fmt: skip
        xs = [p[0] for p in wells.values()]
        ys = [p[1] for p in wells.values()]
        g = settings.grid_points
        chosen: list[str] = []
        for gy in np.linspace(min(ys), max(ys), g):
            for gx in np.linspace(min(xs), max(xs), g):
                best = min(wells, key=lambda w: (wells[w][0] - gx) ** 2 + (wells[w][1] - gy) ** 2)
                if best not in chosen:
                    chosen.append(best)
        return [(w, *wells[w]) for w in chosen]

    def _map_alternatives(self, well: str, exclude: set[str]) -> list[str]:
        """Wells next to ``well`` (nearest first), to measure when ``well`` fails."""
        centres: dict[str, tuple[float, float]] = {}
        for f in self.fields:
            centres.setdefault(f.well, (f.x_um, f.y_um))
        x0, y0 = centres[well]
        others = [w for w in centres if w not in exclude]
        return sorted(others, key=lambda w: (centres[w][0] - x0) ** 2 + (centres[w][1] - y0) ** 2)

    def _make_focus_map(self) -> MsgGenerator:
        settings = self.policy.focus_map
        assert settings is not None
        points: list[FocusPoint] = []
        if settings.points_um:
            points = [FocusPoint(x, y, z) for x, y, z in settings.points_um]
        else:
            positions = self._map_positions()
            tried = {w for w, _, _ in positions}
            for well, x, y in positions:
                point = yield from self._measure_map_point(well, x, y, points)
                if point is None and settings.scope == "plate":
                    # An empty or featureless well: measure its nearest neighbour instead.
                    for other in self._map_alternatives(well, tried)[:MAP_POINT_RETRIES]:
                        tried.add(other)
                        ox, oy = next((f.x_um, f.y_um) for f in self.fields if f.well == other)
                        point = yield from self._measure_map_point(other, ox, oy, points)
                        if point is not None:
                            break
                if point is not None:
                    points.append(point)
        try:
            self.focus_map = fit_focus_map(
                points, settings.method, settings.scope, settings.smoothing
            )
        except FocusMapError as exc:
            raise AutofocusError(f"autofocus.focus_map: {exc}") from None
        report = self.focus_map.report()
        self.map_record.update(json.dumps(report), self.focus_map.fit_error_um, len(points))
        yield from bps.trigger_and_read([self.map_record], name=FOCUS_MAP_STREAM)

    def _measure_map_point(
        self, well: str, x: float, y: float, points: list[FocusPoint]
    ) -> MsgGenerator:
        """Measure one focus map point; the point, or None when the autofocus failed."""
        settings = self.policy.focus_map
        assert settings is not None
        stage = self.microscope.stage_
        yield from bps.mv(stage.x, x, stage.y, y)
        guess = _extrapolate(points, x, y, self.start_z_um)
        if settings.measure_with == "laser":
            yield from move_z_ending_up(self.microscope, guess, self.policy.contrast.overshoot_um)
            result = yield from laser_autofocus_stub(
                self.microscope, self.policy.laser, actuator="stage"
            )
        else:
            search = self.policy.contrast.model_copy(
                update={
                    "half_range_um": settings.search_half_range_um,
                    "coarse_step_um": min(settings.search_step_um, settings.search_half_range_um),
                }
            )
            result = yield from self._contrast(guess, search)
        yield from self._record_point(well, "focus_map_point", result, result.z_um)
        return FocusPoint(x, y, result.z_um, well) if result.success else None

    # --- every field ------------------------------------------------------------------
    def _base_z(self, fov: FieldOfView) -> float:
        if self.use_field_z and fov.z_um is not None:
            return float(fov.z_um)
        return self.start_z_um

    def _predicted(self, fov: FieldOfView) -> tuple[float, str]:
        """The field's start z and where it came from."""
        previous = self.previous_z.get((fov.well, fov.fov))
        if previous is not None:
            return previous, "previous_time_point"
        if self.focus_map is not None:
            return (
                self.focus_map.predict(fov.x_um, fov.y_um, fov.well)
                + self.map_offsets_um.get(fov.well, 0.0),
                "focus_map",
            )
        if self.last_good_z is not None:
            return self.last_good_z, "last_good"
        return self._base_z(fov), "start"

    def _due(self, index: int, fov: FieldOfView) -> bool:
        p = self.policy
        if p.method not in ("contrast", "laser"):
            return False
        if p.every == "fov":
            return True
        if p.every == "nth":
            return index % p.every_n == 0
        return fov.fov == 0 or index == 0 or self.fields[index - 1].well != fov.well

    def _contrast(
        self, reference_z: float, settings: ContrastAutofocusSettings | None = None
    ) -> MsgGenerator[AutofocusResult]:
        """Contrast autofocus around a reference z; the result's z is a reference z."""
        offset = self._af_channel_offset_um
        result = yield from contrast_autofocus_stub(
            self.microscope, settings or self.policy.contrast, start_z_um=reference_z + offset
        )
        self.results.append(result)
        if not result.success:
            return result
        return AutofocusResult(
            result.method, True, result.z_um - offset, result.start_z_um, result.frames,
            result.duration_s, result.message, result.details,
        )  # fmt: skip

    def _within_limits(self, z: float) -> bool:
        limits = self.microscope.config.stage.z
        return (
            limits.low_limit_um <= z - self.envelope.below_um
            and z + self.envelope.above_um <= limits.high_limit_um
        )

    def field_z(self, time_index: int, index: int, fov: FieldOfView) -> MsgGenerator:
        """The reference z of one field of view (stage at its x, y); records the decision.

        Returns:
            The z the field's stack is centred on.
        """
        guess, source = self._predicted(fov)
        if not self._within_limits(guess):
            log.warning(
                "predicted z %.2f um at %s#%d is outside the z limits", guess, fov.well, fov.fov
            )
            guess, source = self.last_good_z or self.start_z_um, "last_good"
        warning = ""
        z_used = guess
        z_found = math.nan
        frames = 0
        duration = 0.0
        attempted = self._due(index, fov)
        method = self.policy.method
        success = not attempted
        if attempted:
            if method == "laser":
                yield from move_z_ending_up(
                    self.microscope, guess, self.policy.contrast.overshoot_um
                )
                result = yield from laser_autofocus_stub(
                    self.microscope, self.policy.laser, actuator="stage"
                )
                self.results.append(result)
            else:
                result = yield from self._contrast(guess)
            frames, duration = result.frames, result.duration_s
            if result.success and not self._within_limits(result.z_um):
                result = AutofocusResult(
                    result.method, False, math.nan, result.start_z_um, result.frames,
                    result.duration_s,
                    f"focus found at {result.z_um:.2f} um, but the stack would leave the "
                    "z soft limits",
                )  # fmt: skip
            success = result.success
            if success:
                z_found = z_used = result.z_um
                self.last_good_z = result.z_um
                if self.focus_map is not None:
                    self.map_offsets_um[fov.well] = result.z_um - self.focus_map.predict(
                        fov.x_um, fov.y_um, fov.well
                    )
                self.consecutive_warnings = 0
                source = f"{method}_autofocus"
            else:
                warning = f"{method} autofocus failed at {fov.well}#{fov.fov}: {result.message}"
                warning += f"; using z {guess:.2f} um ({source})"
                self.consecutive_warnings += 1
                log.warning(warning)
        self.previous_z[(fov.well, fov.fov)] = z_used
        self.record.update(
            well=fov.well, fov=fov.fov, time_index=time_index, method=method,
            attempted=attempted, success=success, warning=warning, z_start_um=guess,
            z_found_um=z_found, z_used_um=z_used, z_source=source, frames=frames,
            duration_s=duration, consecutive_warnings=self.consecutive_warnings,
        )  # fmt: skip
        yield from bps.trigger_and_read([self.record], name=AUTOFOCUS_STREAM)
        if self.consecutive_warnings >= self.policy.max_consecutive_warnings:
            log.warning(
                "%d autofocus failures in a row: pausing at the next checkpoint",
                self.consecutive_warnings,
            )
            self.consecutive_warnings = 0
            yield from bps.deferred_pause()
        return z_used

    def _record_point(
        self, well: str, source: str, result: AutofocusResult, z: float
    ) -> MsgGenerator:
        """Record a measurement that is not a field (map point, calibration focus)."""
        self.record.update(
            well=well, fov=-1, time_index=-1, method=result.method, attempted=True,
            success=result.success, warning="" if result.success else result.message,
            z_start_um=result.start_z_um, z_found_um=z if result.success else math.nan,
            z_used_um=z if result.success else result.start_z_um, z_source=source,
            frames=result.frames, duration_s=result.duration_s,
            consecutive_warnings=self.consecutive_warnings,
        )  # fmt: skip
        yield from bps.trigger_and_read([self.record], name=AUTOFOCUS_STREAM)
