"""Plan stubs for MERFISH fluidics: select a reagent, flow a volume, incubate.

Each stub checks its inputs before anything is sent to hardware, and records its
step as one event in the ``fluidics`` stream of the open run (reagent, ports,
volume, rate, start and end time, caller metadata). Outside a run the step is
done but not recorded. Any way a flow ends (done, error, stop, abort), the pump
is told to stop.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, TypeVar

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import FailedStatus, IllegalMessageSequence, MsgGenerator

from hcs_devices.fluidics import (
    Flow,
    Fluidics,
    FluidicsError,
    FluidicsValueError,
    Pump,
    ReagentPath,
)
from hcs_devices.ownership import BusyError
from hcs_plans.record_log import FieldSpec, RecordLog
from hcs_plans.stubs.read import rd

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Name of the event stream the steps are recorded in.
STEP_STREAM = "fluidics"


@dataclass(frozen=True)
class FluidicsStep:
    """One recorded fluidics step (NaN where a field does not apply).

    Attributes:
        step: ``"select_reagent"``, ``"flow"`` or ``"incubate"``.
        reagent: the reagent selected (or flowing; empty if unknown).
        ports: the valve ports, e.g. ``"1:3 2:8"`` (valve:port).
        volume_ul: volume asked, uL.
        rate_ul_min: flow rate asked, uL/min.
        duration_s: how long the step took, s.
        start_time: when the step started (Unix time, s).
        end_time: when the step ended (Unix time, s).
        metadata: the caller's metadata, as JSON.
    """

    step: str
    reagent: str
    ports: str
    volume_ul: float
    rate_ul_min: float
    duration_s: float
    start_time: float
    end_time: float
    metadata: str


_FIELDS: dict[str, FieldSpec] = {
    "step": ("string", None),
    "reagent": ("string", None),
    "ports": ("string", None),
    "volume_ul": ("number", "uL"),
    "rate_ul_min": ("number", "uL/min"),
    "duration_s": ("number", "s"),
    "start_time": ("number", "s"),
    "end_time": ("number", "s"),
    "metadata": ("string", None),
}


#: The step log every stub records into (one object for every event of the stream, as
#: Bluesky requires), fields ``fluidics_step-volume_ul``...
STEP_LOG = RecordLog("fluidics_step", "hcs_plans.stubs.fluidics", _FIELDS)


def _ports_text(path: ReagentPath) -> str:
    return " ".join(f"{valve}:{port}" for valve, port in path)


def _metadata_json(metadata: dict[str, Any] | None) -> str:
    return json.dumps(metadata or {}, sort_keys=True, default=str)


def _record(step: FluidicsStep) -> MsgGenerator[None]:
    """Emit ``step`` as an event of the ``fluidics`` stream, if a run is open."""
    STEP_LOG.record(step)
    try:
        yield from bps.create(STEP_STREAM)
    except IllegalMessageSequence:
        logger.debug("no open run: fluidics step %s not recorded", step.step)
        return
    yield from bps.read(STEP_LOG)
    yield from bps.save()


def _pump_stopped_on_exit(plan: MsgGenerator[T], pump: Pump) -> MsgGenerator[T]:
    """Run ``plan``, then stop ``pump`` however the plan ended.

    When the plan failed, a failing stop is logged and the plan's own error is
    the one raised; when the plan succeeded, a failing stop raises.
    """
    finished = False

    def body() -> MsgGenerator[T]:
        nonlocal finished
        result = yield from plan
        finished = True
        return result

    def stop_pump() -> MsgGenerator[None]:
        try:
            yield from bps.stop(pump)
        except Exception as err:
            if finished:
                raise
            # the step already failed; its own error is the one reported
            logger.warning("while stopping %s after an interrupted flow: %s", pump.name, err)

    return (yield from bpp.finalize_wrapper(body(), stop_pump()))


def _unwrapped(plan: MsgGenerator[T]) -> MsgGenerator[T]:
    """Run ``plan``, raising a device's own error rather than Bluesky's FailedStatus.

    The device errors name the device and what was asked; that is what a failed
    step should report.
    """
    try:
        return (yield from plan)
    except FailedStatus as err:
        cause = err.__cause__
        if isinstance(cause, FluidicsError | FluidicsValueError | BusyError):
            raise cause from err
        raise


def _check_finite_positive(field: str, value: float, unit: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FluidicsValueError(f"{field} must be a number of {unit}, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise FluidicsValueError(f"{field} must be more than 0 {unit}, got {value:g}")


def select_reagent(
    fluidics: Fluidics, reagent: str, metadata: dict[str, Any] | None = None
) -> MsgGenerator[FluidicsStep]:
    """Set the valve chain to draw ``reagent``; every valve move is confirmed.

    Args:
        fluidics: the fluidics device.
        reagent: a name from the configuration's reagent map.
        metadata: recorded with the step (e.g. round, protocol step id).

    Returns:
        the recorded step.

    Raises:
        FluidicsValueError: unknown reagent (nothing sent).
        FluidicsError: a valve did not reach its port (names valve and ports).
    """
    path = fluidics.reagent_path(reagent)
    start = time.time()
    yield from _unwrapped(bps.mv(fluidics, reagent))
    end = time.time()
    step = FluidicsStep(
        step="select_reagent",
        reagent=reagent,
        ports=_ports_text(path),
        volume_ul=math.nan,
        rate_ul_min=math.nan,
        duration_s=end - start,
        start_time=start,
        end_time=end,
        metadata=_metadata_json(metadata),
    )
    yield from _record(step)
    return step


def _flow(
    fluidics: Fluidics, flow: Flow, metadata: dict[str, Any] | None
) -> MsgGenerator[FluidicsStep]:
    fluidics.pump.check_flow(flow)

    def run() -> MsgGenerator[FluidicsStep]:
        reagent = yield from rd(fluidics.reagent)
        path = fluidics.reagents.get(reagent, ())
        start = time.time()
        yield from _unwrapped(bps.abs_set(fluidics.pump, flow, wait=True))
        end = time.time()
        step = FluidicsStep(
            step="flow",
            reagent=str(reagent),
            ports=_ports_text(path),
            volume_ul=float(flow.volume_ul) if flow.volume_ul is not None else math.nan,
            rate_ul_min=float(flow.rate_ul_min),
            duration_s=end - start,
            start_time=start,
            end_time=end,
            metadata=_metadata_json(metadata),
        )
        yield from _record(step)
        return step

    return (yield from _pump_stopped_on_exit(run(), fluidics.pump))


def flow_volume(
    fluidics: Fluidics,
    volume_ul: float,
    rate_ul_min: float,
    metadata: dict[str, Any] | None = None,
) -> MsgGenerator[FluidicsStep]:
    """Pump ``volume_ul`` of the selected reagent at ``rate_ul_min``, then stop.

    Args:
        fluidics: the fluidics device.
        volume_ul: volume to deliver, uL (more than 0).
        rate_ul_min: flow rate, uL/min (within the pump's range: its speed range
            times the tube calibration).
        metadata: recorded with the step.

    Returns:
        the recorded step.

    Raises:
        FluidicsValueError: volume or rate out of range (nothing sent).
        PumpStoppedError: the pump stopped early (overload, stop, abort).
        FluidicsError: the pump did not answer or refused.
    """
    _check_finite_positive("volume_ul", volume_ul, "uL")
    _check_finite_positive("rate_ul_min", rate_ul_min, "uL/min")
    return (
        yield from _flow(fluidics, Flow(rate_ul_min=rate_ul_min, volume_ul=volume_ul), metadata)
    )


def flow_for_time(
    fluidics: Fluidics,
    duration_s: float,
    rate_ul_min: float,
    metadata: dict[str, Any] | None = None,
) -> MsgGenerator[FluidicsStep]:
    """Pump the selected reagent at ``rate_ul_min`` for ``duration_s``, then stop.

    Args:
        fluidics: the fluidics device.
        duration_s: how long to pump, s (more than 0).
        rate_ul_min: flow rate, uL/min (within the pump's range).
        metadata: recorded with the step.

    Returns:
        the recorded step.

    Raises:
        FluidicsValueError: duration or rate out of range (nothing sent).
        PumpStoppedError: the pump stopped early.
        FluidicsError: the pump did not answer or refused.
    """
    _check_finite_positive("duration_s", duration_s, "s")
    _check_finite_positive("rate_ul_min", rate_ul_min, "uL/min")
    return (
        yield from _flow(fluidics, Flow(rate_ul_min=rate_ul_min, duration_s=duration_s), metadata)
    )


def incubate(
    duration_s: float, metadata: dict[str, Any] | None = None
) -> MsgGenerator[FluidicsStep]:
    """Wait ``duration_s`` with the pump stopped (the sample incubates).

    Args:
        duration_s: how long to wait, s (0 or more).
        metadata: recorded with the step.

    Returns:
        the recorded step.

    Raises:
        FluidicsValueError: negative or non-finite duration.
    """
    if isinstance(duration_s, bool) or not isinstance(duration_s, int | float):
        raise FluidicsValueError(f"duration_s must be a number of s, got {duration_s!r}")
    if not math.isfinite(duration_s) or duration_s < 0:
        raise FluidicsValueError(f"duration_s must be 0 s or more, got {duration_s:g}")
    start = time.time()
    yield from bps.sleep(duration_s)
    end = time.time()
    step = FluidicsStep(
        step="incubate",
        reagent="",
        ports="",
        volume_ul=math.nan,
        rate_ul_min=math.nan,
        duration_s=end - start,
        start_time=start,
        end_time=end,
        metadata=_metadata_json(metadata),
    )
    yield from _record(step)
    return step
