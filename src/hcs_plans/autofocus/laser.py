"""Laser reflection autofocus: calibrate, then measure, move and verify.

Calibration (:func:`calibrate_laser_autofocus`) starts with the sample in focus: it
steps z through ``+/- calibration_half_range_um`` (a known distance), fits the spot
position against z (micrometres per pixel of spot shift), stores the in-focus spot
position and its profile (the reference crop) in the sensor, and returns z where it
was. The calibrated range is the range it measured over.

:func:`laser_autofocus` measures the spot, converts its shift from the reference into
a displacement, refuses a displacement outside the calibrated range (nothing moves),
moves the piezo (when fitted) or the stage by that much, then verifies: the spot must
be back at the reference within a tolerance and its profile must correlate with the
reference crop. When verification fails the move is undone.
"""

# No postponed annotations: the queue server reads these plans' signatures as objects.
import math
import time
from typing import Any

import bluesky.plan_stubs as bps
import numpy as np
from bluesky.preprocessors import run_wrapper
from bluesky.utils import MsgGenerator

from hcs_devices.autofocus.calibration import LaserAutofocusCalibration, fit_calibration
from hcs_devices.autofocus.sensor import LaserAutofocusSensor
from hcs_devices.microscope import Microscope
from hcs_devices.stage.axis import Axis
from hcs_plans.autofocus.result import (
    LASER_CALIBRATION_STREAM,
    LASER_STREAM,
    AutofocusError,
    AutofocusResult,
)
from hcs_plans.specs.autofocus import LaserAutofocusSettings
from hcs_plans.specs.settings import as_settings
from hcs_plans.stubs.read import rd


def require_sensor(microscope: Microscope) -> LaserAutofocusSensor:
    """The microscope's laser autofocus sensor.

    Raises:
        AutofocusError: the microscope has none.
    """
    if microscope.laser_autofocus is None:
        raise AutofocusError(
            "this microscope has no laser autofocus sensor (laser_autofocus in its "
            "configuration); use contrast autofocus"
        )
    return microscope.laser_autofocus


def focal_plane_z(microscope: Microscope) -> MsgGenerator:
    """Focal plane z: stage z plus the piezo's travel from its centre (if fitted)."""
    stage = microscope.stage_
    z = float((yield from rd(stage.z)))
    piezo_cfg = microscope.config.stage.piezo
    if stage.has_piezo and piezo_cfg is not None:
        p = float((yield from rd(stage.piezo)))
        z += p - (piezo_cfg.low_limit_um + piezo_cfg.high_limit_um) / 2
    return z


def is_calibrated(microscope: Microscope) -> MsgGenerator:
    """Whether the sensor holds a calibration (reads only)."""
    sensor = require_sensor(microscope)
    um_per_px = float((yield from rd(sensor.um_per_px)))
    reference = float((yield from rd(sensor.reference_x_px)))
    range_um = float((yield from rd(sensor.calibrated_range_um)))
    return math.isfinite(um_per_px) and math.isfinite(reference) and range_um > 0


def calibrate_laser_stub(
    microscope: Microscope, settings: LaserAutofocusSettings | None = None
) -> MsgGenerator[LaserAutofocusCalibration]:
    """Calibrate the laser autofocus from the current (in-focus) z, inside an open run.

    Readings go to the ``laser_calibration`` stream; z ends where it started.

    Raises:
        AutofocusError: the spot was not seen, or did not move with z.
    """
    s = settings or LaserAutofocusSettings()
    sensor = require_sensor(microscope)
    axis = microscope.stage_.z
    z0 = float((yield from rd(axis)))
    half = s.calibration_half_range_um
    limits = microscope.config.stage.z
    zs = [
        float(z)
        for z in np.linspace(z0 - half, z0 + half, s.calibration_points)
        if limits.low_limit_um <= z <= limits.high_limit_um
    ]
    xs: list[float] = []
    for z in zs:
        yield from bps.mv(axis, z)
        yield from bps.trigger_and_read([sensor, axis], name=LASER_CALIBRATION_STREAM)
        xs.append(float((yield from rd(sensor.spot_x_px))))
    yield from bps.mv(axis, z0)
    try:
        um_per_px, reference_x, rms_um = fit_calibration(zs, xs, z0)
    except ValueError as exc:
        raise AutofocusError(str(exc)) from None
    yield from bps.mv(
        sensor.um_per_px, um_per_px, sensor.reference_x_px, reference_x,
        sensor.calibrated_range_um, half, sensor.reference_profile, np.zeros(0),
    )  # fmt: skip
    # The reference crop: the in-focus spot's profile around the reference position.
    yield from bps.trigger_and_read([sensor, axis], name=LASER_CALIBRATION_STREAM)
    profile = np.asarray((yield from rd(sensor.spot_profile)), np.float64)
    yield from bps.mv(sensor.reference_profile, profile)
    return LaserAutofocusCalibration(
        um_per_px=um_per_px,
        reference_x_px=reference_x,
        range_um=half,
        residual_rms_um=rms_um,
        reference_profile=tuple(float(v) for v in profile),
        half_width_px=(profile.size - 1) // 2,
    )


def calibrate_laser_autofocus(
    microscope: Microscope,
    settings: LaserAutofocusSettings | dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> MsgGenerator[LaserAutofocusCalibration]:
    """Calibrate the laser autofocus, in a run of its own; focus the sample first.

    Args:
        microscope: the microscope, with the sample in focus.
        settings: calibration range and points.
        metadata: extra start-document metadata.

    Returns:
        The calibration (also installed in the sensor).
    """
    s = as_settings(LaserAutofocusSettings, settings, "calibrate_laser_autofocus settings")
    md = {"plan_name": "calibrate_laser_autofocus", "plan_args": {"settings": s.model_dump()}}
    found: list[LaserAutofocusCalibration] = []

    def body() -> MsgGenerator:
        found.append((yield from calibrate_laser_stub(microscope, s)))

    yield from run_wrapper(body(), md=md | (metadata or {}))
    return found[0]


def _actuator(microscope: Microscope, choice: str) -> Axis:
    stage = microscope.stage_
    if choice == "piezo" and not stage.has_piezo:
        raise AutofocusError("actuator piezo: this microscope has no piezo")
    if choice in ("auto", "piezo") and stage.has_piezo:
        return stage.piezo
    return stage.z


def laser_autofocus_stub(
    microscope: Microscope,
    settings: LaserAutofocusSettings | None = None,
    *,
    target_offset_um: float = 0.0,
    actuator: str | None = None,
    stream: str = LASER_STREAM,
) -> MsgGenerator[AutofocusResult]:
    """Move to the calibrated focus (``move_to_target``), inside an open run.

    Measures the displacement, refuses one outside the calibrated range (nothing
    moves), moves by it (up to ``max_moves`` times), then verifies against the
    reference; a failed verification undoes every move.

    Args:
        microscope: the microscope (its sensor calibrated).
        settings: tolerance, correlation threshold, actuator.
        target_offset_um: where to go relative to the calibrated focus.
        actuator: overrides ``settings.actuator`` (``auto``, ``piezo``, ``stage``).
        stream: the event stream of the sensor readings.

    Returns:
        The result; ``z_um`` is the focal plane's z (stage z plus piezo travel).
    """
    s = settings or LaserAutofocusSettings()
    started = time.monotonic()
    sensor = require_sensor(microscope)
    axis = _actuator(microscope, actuator or s.actuator)
    z_start = float((yield from focal_plane_z(microscope)))
    frames = 0

    def fail(message: str, moved_from: float | None, **details: Any) -> MsgGenerator:
        if moved_from is not None:
            yield from bps.mv(axis, moved_from)
        return AutofocusResult(
            "laser", False, math.nan, z_start, frames, time.monotonic() - started,
            message, details,
        )  # fmt: skip

    if not (yield from is_calibrated(microscope)):
        return (yield from fail("the laser autofocus is not calibrated", None))
    range_um = float((yield from rd(sensor.calibrated_range_um)))

    def measure() -> MsgGenerator:
        nonlocal frames
        yield from bps.trigger_and_read([sensor, axis], name=stream)
        frames += 1
        x = float((yield from rd(sensor.spot_x_px)))
        displacement = float((yield from rd(sensor.displacement_um)))
        correlation = float((yield from rd(sensor.reference_correlation)))
        return x, displacement, correlation

    axis_start = float((yield from rd(axis)))
    x, displacement, correlation = yield from measure()
    if not math.isfinite(x):
        return (yield from fail("no laser spot on the sensor: the surface is out of range", None))
    if abs(displacement) > range_um:
        return (
            yield from fail(
                f"displacement {displacement:+.2f} um is outside the calibrated range "
                f"+/-{range_um:.1f} um: refused, nothing moved",
                None,
                displacement_um=displacement,
            )
        )
    low, high = (
        float((yield from rd(axis.low_limit_um))),
        float((yield from rd(axis.high_limit_um))),
    )
    moves = 0
    while True:
        error = displacement - target_offset_um
        if abs(error) <= s.tolerance_um and moves > 0:
            break
        if abs(error) <= s.tolerance_um and correlation >= s.min_correlation:
            break
        if moves >= s.max_moves:
            break
        target = float((yield from rd(axis))) - error
        if not low <= target <= high:
            return (
                yield from fail(
                    f"the move to {target:.2f} um leaves {axis.name}'s limits [{low}, {high}] um",
                    axis_start if moves else None,
                )
            )
        yield from bps.mv(axis, target)
        moves += 1
        x, displacement, correlation = yield from measure()
        if not math.isfinite(x) or abs(displacement) > range_um:
            return (
                yield from fail(
                    "verification failed: the spot left the calibrated range after the "
                    "move; move undone",
                    axis_start,
                )
            )
    residual = displacement - target_offset_um
    details = {"moves": moves, "correlation": correlation, "residual_um": residual}
    if abs(residual) > s.tolerance_um or correlation < s.min_correlation:
        return (
            yield from fail(
                f"verification failed (residual {residual:+.2f} um, tolerance "
                f"{s.tolerance_um} um; correlation with the reference {correlation:.2f}, "
                f"minimum {s.min_correlation}); " + ("move undone" if moves else "nothing moved"),
                axis_start if moves else None,
                **details,
            )
        )
    z_found = float((yield from focal_plane_z(microscope)))
    return AutofocusResult(
        "laser", True, z_found, z_start, frames, time.monotonic() - started, "", details
    )


def laser_autofocus(
    microscope: Microscope,
    settings: LaserAutofocusSettings | dict[str, Any] | None = None,
    channel: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> MsgGenerator[AutofocusResult]:
    """Laser autofocus in a run of its own, then the channel's z offset.

    Args:
        microscope: the microscope (its sensor calibrated).
        settings: tolerance, correlation threshold, actuator.
        channel: a channel preset whose ``z_offset_um`` is applied after a
            successful autofocus (none by default).
        metadata: extra start-document metadata.

    Returns:
        The result (``z_um``: the calibrated focus, before the channel offset).

    Raises:
        AutofocusError: refused or failed; the focus is where it started.
    """
    s = as_settings(LaserAutofocusSettings, settings, "laser_autofocus settings")
    md = {
        "plan_name": "laser_autofocus",
        "plan_args": {"settings": s.model_dump(), "channel": channel},
    } | (metadata or {})
    offset_um = microscope.config.channel(channel).z_offset_um if channel else 0.0
    found: list[AutofocusResult] = []

    def body() -> MsgGenerator:
        result = yield from laser_autofocus_stub(microscope, s)
        found.append(result)
        if not result.success:
            raise AutofocusError(f"laser autofocus failed: {result.message}")
        if offset_um:
            axis = _actuator(microscope, s.actuator)
            now = float((yield from rd(axis)))
            yield from bps.mv(axis, now + offset_um)

    yield from run_wrapper(body(), md=md)
    return found[0]
