"""Contrast autofocus: a coarse sweep, then a fine fit around the best plane.

The coarse sweep steps z upward through ``start +/- half_range_um`` and measures the
focus of a centre crop at each plane. The focus curve of a real sample is close to a
Gaussian near its peak, so a parabola fitted to the logarithm of the measure around
the best plane locates the peak to a fraction of the step. Three fine frames around
that estimate (taken moving up) and a least-squares fit of every nearby point give
the final plane. Typically 9 coarse + 3 fine frames. When the curve rises to an
edge of the range, the sweep goes on beyond that edge (``max_extensions`` times).

The curve is recorded (one event per frame) in the ``focus_curve`` stream. When the
curve has no peak inside the range (an empty well, a featureless field, a focus
outside the range) the autofocus fails: the stage goes back to the start z and the
caller gets a result saying why (the plan :func:`contrast_autofocus` raises it).
"""

# No postponed annotations: the queue server reads these plans' signatures as objects.
import math
import time
from dataclasses import dataclass
from typing import Any

import bluesky.plan_stubs as bps
import numpy as np
from bluesky.preprocessors import finalize_wrapper, run_wrapper
from bluesky.utils import MsgGenerator

from hcs_devices.autofocus.contrast import ContrastFocusProbe, focus_probe_for
from hcs_devices.microscope import Microscope
from hcs_plans.autofocus.result import FOCUS_CURVE_STREAM, AutofocusError, AutofocusResult
from hcs_plans.specs.autofocus import ContrastAutofocusSettings
from hcs_plans.specs.settings import as_settings
from hcs_plans.stubs.channel import configure_channel
from hcs_plans.stubs.read import rd
from hcs_plans.table import ChannelSetting


@dataclass(frozen=True)
class PeakFit:
    """Where a focus curve peaks, or why it has no peak.

    Attributes:
        found: whether a peak lies inside the sampled range.
        z_um: the fitted peak position (NaN when not found).
        contrast: (max - min) / min of the measure over the curve.
        message: why no peak was found.
        at_edge: no peak because the measure is highest at an end of the range.
    """

    found: bool
    z_um: float
    contrast: float
    message: str = ""
    at_edge: bool = False


def log_parabola_peak(z_um: np.ndarray, measure: np.ndarray) -> float | None:
    """Vertex of a parabola fitted (least squares) to log(measure); None if not a maximum."""
    if z_um.size < 3 or np.any(measure <= 0):
        return None
    a, b, _ = np.polyfit(z_um, np.log(measure), 2)
    if a >= 0:
        return None
    return float(-b / (2 * a))


def find_focus_peak(
    z_um: list[float] | np.ndarray,
    measure: list[float] | np.ndarray,
    min_peak_contrast: float = 0.25,
) -> PeakFit:
    """Find the peak of a focus curve sampled at (not necessarily sorted) planes.

    The peak must rise ``min_peak_contrast`` above the curve's minimum and must not be
    at either end of the range; its position is the vertex of a log-parabola through
    the best plane and its neighbours (a Gaussian fit), kept between those neighbours.
    """
    z = np.asarray(z_um, np.float64)
    m = np.asarray(measure, np.float64)
    order = np.argsort(z)
    z, m = z[order], m[order]
    if z.size < 3:
        return PeakFit(False, math.nan, math.nan, f"only {z.size} planes sampled; 3 are needed")
    low = float(m.min())
    contrast = (float(m.max()) - low) / low if low > 0 else math.inf
    if not math.isfinite(float(m.max())) or contrast < min_peak_contrast:
        return PeakFit(
            False,
            math.nan,
            contrast,
            f"no focus peak: the focus measure varies by {100 * contrast:.1f} % over "
            f"z {z[0]:.1f}..{z[-1]:.1f} um (a peak needs {100 * min_peak_contrast:.0f} %); "
            "is the field empty or featureless?",
        )
    best = int(np.argmax(m))
    if best in (0, z.size - 1):
        return PeakFit(
            False,
            math.nan,
            contrast,
            f"no focus peak inside z {z[0]:.1f}..{z[-1]:.1f} um: the measure is highest at "
            f"the edge ({z[best]:.1f} um); the focus is outside the search range",
            at_edge=True,
        )
    around = slice(best - 1, best + 2)
    vertex = log_parabola_peak(z[around], m[around])
    if vertex is None:
        vertex = float(z[best])
    return PeakFit(True, float(np.clip(vertex, z[best - 1], z[best + 1])), contrast)


def refine_focus_peak(
    z_um: list[float] | np.ndarray,
    measure: list[float] | np.ndarray,
    centre_um: float,
    half_um: float,
) -> float:
    """Least-squares log-parabola peak of the points within ``half_um`` of ``centre_um``.

    Falls back to ``centre_um`` when those points do not make a maximum; the result is
    kept within ``centre_um +/- half_um``.
    """
    z = np.asarray(z_um, np.float64)
    m = np.asarray(measure, np.float64)
    near = np.abs(z - centre_um) <= half_um + 1e-9
    vertex = log_parabola_peak(z[near], m[near])
    if vertex is None:
        return centre_um
    return float(np.clip(vertex, centre_um - half_um, centre_um + half_um))


def channel_setting(
    microscope: Microscope, channel: str, exposure_ms: float | None = None
) -> ChannelSetting:
    """A channel preset as a :class:`ChannelSetting` (optionally another exposure).

    Raises:
        ValueError: naming the channels there are, for an unknown channel.
    """
    try:
        preset = microscope.config.channel(channel)
    except KeyError as exc:
        raise ValueError(str(exc.args[0])) from None
    return ChannelSetting(
        name=preset.name,
        source=preset.source,
        intensity_percent=preset.intensity_percent,
        exposure_ms=exposure_ms if exposure_ms is not None else preset.exposure_ms,
        filter_position=preset.filter_position,
        z_offset_um=preset.z_offset_um,
        do_stack=True,
        acquire_every=1,
    )


def move_z_ending_up(microscope: Microscope, z_um: float, overshoot_um: float) -> MsgGenerator:
    """Move the focus axis so the move ends moving up (the stage's backlash habit).

    A stage configured with ``z_backlash: end_moving_up`` does this itself; otherwise a
    downward move first goes ``overshoot_um`` below the target.
    """
    axis = microscope.stage_.z
    if microscope.config.stage.z_backlash != "end_moving_up" and overshoot_um > 0:
        now = float((yield from rd(axis)))
        if z_um < now - 1e-3:
            low = microscope.config.stage.z.low_limit_um
            yield from bps.mv(axis, max(low, z_um - overshoot_um))
    yield from bps.mv(axis, z_um)


def _probe(microscope: Microscope) -> ContrastFocusProbe:
    return focus_probe_for(microscope.camera, microscope.stage_.z, microscope.owner)


def contrast_autofocus_stub(
    microscope: Microscope,
    settings: ContrastAutofocusSettings | None = None,
    *,
    start_z_um: float | None = None,
    stream: str = FOCUS_CURVE_STREAM,
) -> MsgGenerator[AutofocusResult]:
    """Find focus by image contrast, inside an open run (no run of its own).

    Sets the focus channel up, sweeps, fits and leaves the stage at the focus (or, on
    failure, back at the z it started from); the light is off afterwards. The focus
    curve goes to ``stream``.

    Args:
        microscope: the microscope.
        settings: how to search (defaults: see :class:`ContrastAutofocusSettings`).
        start_z_um: centre of the search (the current z by default).
        stream: the event stream of the focus curve.

    Returns:
        The result; ``z_um`` is the stage z where the focus channel is sharpest.
    """
    s = settings or ContrastAutofocusSettings()
    started = time.monotonic()
    axis = microscope.stage_.z
    z0 = float((yield from rd(axis)))
    centre = z0 if start_z_um is None else float(start_z_um)
    limits = microscope.config.stage.z
    probe = _probe(microscope)
    probe.configure_probe(s.measure, s.crop_px)
    attempt = probe.new_attempt()
    frames_before = probe.frames
    yield from configure_channel(microscope, channel_setting(microscope, s.channel, s.exposure_ms))
    n_side = max(1, round(s.half_range_um / s.coarse_step_um))
    coarse = [
        z
        for z in (centre + i * s.coarse_step_um for i in range(-n_side, n_side + 1))
        if limits.low_limit_um <= z <= limits.high_limit_um
    ]
    zs: list[float] = []
    measures: list[float] = []

    def sample(z: float) -> MsgGenerator:
        yield from bps.mv(axis, z)
        yield from bps.trigger_and_read([probe], name=stream)
        zs.append(z)
        measures.append(probe.last_measure)

    yield from bps.mv(microscope.illumination.on, True)
    try:
        # Upward through the range: the first move may go down, every later one goes up.
        for z in coarse:
            yield from sample(z)
        peak = find_focus_peak(zs, measures, s.min_peak_contrast)
        for _ in range(s.max_extensions):
            if peak.found or not peak.at_edge:
                break
            # The curve rises to an edge: sweep another half range beyond it (upward).
            upper = measures[zs.index(max(zs))] >= measures[zs.index(min(zs))]
            start = max(zs) + s.coarse_step_um if upper else min(zs) - n_side * s.coarse_step_um
            extra = [
                z
                for z in (start + i * s.coarse_step_um for i in range(n_side))
                if limits.low_limit_um <= z <= limits.high_limit_um
            ]
            if not extra:
                break
            for z in extra:
                yield from sample(z)
            peak = find_focus_peak(zs, measures, s.min_peak_contrast)
        final = math.nan
        if peak.found:
            for z in sorted({peak.z_um - s.fine_step_um, peak.z_um, peak.z_um + s.fine_step_um}):
                if limits.low_limit_um <= z <= limits.high_limit_um:
                    yield from sample(z)
            final = refine_focus_peak(
                zs, measures, peak.z_um, min(s.coarse_step_um, 2 * s.fine_step_um)
            )
    finally:
        yield from bps.mv(microscope.illumination.on, False)
    details = {
        "attempt": attempt,
        "measure": s.measure,
        "peak_contrast": peak.contrast,
        "planes": len(zs),
    }
    if not peak.found:
        yield from move_z_ending_up(microscope, z0, s.overshoot_um)
        return AutofocusResult(
            "contrast",
            False,
            math.nan,
            z0,
            probe.frames - frames_before,
            time.monotonic() - started,
            peak.message,
            details,
        )
    yield from move_z_ending_up(microscope, final, s.overshoot_um)
    return AutofocusResult(
        "contrast", True, final, z0, probe.frames - frames_before, time.monotonic() - started,
        "", details,
    )  # fmt: skip


def contrast_autofocus(
    microscope: Microscope,
    settings: ContrastAutofocusSettings | dict[str, Any] | None = None,
    start_z_um: float | None = None,
    metadata: dict[str, Any] | None = None,
) -> MsgGenerator[AutofocusResult]:
    """Find focus by image contrast, in a run of its own (focus curve in ``focus_curve``).

    Args:
        microscope: the microscope.
        settings: how to search (channel, measure, range, steps, crop), as settings
            or their plain data.
        start_z_um: centre of the search, um (the current z by default).
        metadata: extra start-document metadata.

    Returns:
        The result (focus z in ``z_um``).

    Raises:
        AutofocusError: no focus peak in range; the stage is back at the start z.
    """
    s = as_settings(ContrastAutofocusSettings, settings, "contrast_autofocus settings")
    md = {
        "plan_name": "contrast_autofocus",
        "plan_args": {"settings": s.model_dump(), "start_z_um": start_z_um},
        "hints": {"dimensions": [([f"{_probe(microscope).name}-z_um"], FOCUS_CURVE_STREAM)]},
    } | (metadata or {})

    found: list[AutofocusResult] = []

    def body() -> MsgGenerator:
        result = yield from contrast_autofocus_stub(microscope, s, start_z_um=start_z_um)
        found.append(result)
        if not result.success:
            raise AutofocusError(f"contrast autofocus failed: {result.message}")

    def light_off() -> MsgGenerator:
        yield from bps.mv(microscope.illumination.on, False)

    yield from finalize_wrapper(run_wrapper(body(), md=md), light_off())
    return found[0]
