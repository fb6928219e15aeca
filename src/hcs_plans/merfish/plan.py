"""``run_merfish``: a MERFISH experiment as Bluesky plans, one run per unit of work.

Each unit (:class:`~hcs_plans.merfish.units.Unit`) is one run whose start document
carries ``merfish: {protocol_hash, round, unit}`` (:data:`hcs_schema.MERFISH_KEY`), so
a journal fed by the documents knows which run did which unit, and a restarted
experiment can ask the catalog what a unit left behind:

- a flow or cleave selects its reagent, then pumps its volume in ``flow_parts`` equal
  parts, each recorded in the ``fluidics`` stream as it ends (with the unit and the
  part in the step's metadata); ``parts_done`` skips parts an earlier run recorded;
- an incubate waits (recorded in the ``fluidics`` stream);
- an image unit takes one field of view of the round with
  :func:`~hcs_plans.acquire.acquire_fields`, every row carrying the round and the bit
  of its channel; ``skip_frames`` leaves out images an earlier run recorded;
- a custom unit runs a plan the caller names, with the step's parameters (and the
  microscope, if the plan has a ``microscope`` parameter).

Every unit starts at a checkpoint; flows checkpoint between parts. Nothing here talks
to a device except through messages.
"""

# No postponed annotations: the queue server reads these plans' signatures as objects.
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import bluesky.plan_stubs as bps
from bluesky.preprocessors import run_wrapper
from bluesky.utils import MsgGenerator

from hcs_devices.fluidics import Fluidics
from hcs_devices.microscope import Microscope
from hcs_plans.acquire import FrameKey, acquire_fields
from hcs_plans.merfish.steps import CleaveStep, CustomStep, FlowStep, ImageStep, IncubateStep
from hcs_plans.merfish.units import Unit
from hcs_plans.stubs.fluidics import flow_volume, incubate, select_reagent
from hcs_plans.table import AcquisitionError
from hcs_schema import MERFISH_KEY

#: A custom step's plan: called with the step's parameters as keyword arguments (and
#: the microscope as ``microscope`` when it takes one).
CustomPlan = Callable[..., MsgGenerator]


def unit_metadata(unit: Unit) -> dict[str, Any]:
    """The start-document metadata that identifies a unit's run."""
    return {
        MERFISH_KEY: {"protocol_hash": unit.protocol_hash, "round": unit.round, "unit": unit.id},
        "merfish_step": unit.kind,
    }


def run_unit(
    microscope: Microscope,
    unit: Unit | dict[str, Any],
    *,
    parts_done: int = 0,
    skip_frames: Sequence[FrameKey] = (),
    custom_plans: Mapping[str, CustomPlan] | None = None,
    metadata: dict[str, Any] | None = None,
) -> MsgGenerator:
    """Carry out one unit of a MERFISH experiment, as one run.

    Args:
        microscope: the microscope (with fluidics for flow and cleave units).
        unit: the unit, or its plain data (as a remote client sends it).
        parts_done: parts of a flow or cleave an earlier run recorded (not pumped).
        skip_frames: images of the field an earlier run recorded (not taken), as
            (well, fov, channel, z index).
        custom_plans: the plans custom steps may name.
        metadata: extra start-document metadata.

    Returns:
        The run's uid.

    Raises:
        AcquisitionError: a flow unit on a microscope without fluidics, a custom
            plan nobody gave (before the run opens).
    """
    unit = unit if isinstance(unit, Unit) else Unit.model_validate(unit)
    md = {"plan_name": "run_merfish"} | unit_metadata(unit) | (metadata or {})
    step = unit.step
    yield from bps.checkpoint()
    if isinstance(step, ImageStep):
        rows = {c: {"round": unit.round, "bit": b} for c, b in unit.channel_bits.items()}
        return (
            yield from acquire_fields(
                microscope,
                step.acquisition,
                fields=[(unit.well, unit.fov)],
                # (well, fov, channel, z index); a remote client sends them as lists
                skip_frames=[(str(w), int(f), str(c), int(z)) for w, f, c, z in skip_frames],
                channel_rows=rows,
                metadata=md,
            )
        )
    if isinstance(step, FlowStep | CleaveStep):
        fluidics = _fluidics(microscope, unit)
        return (yield from run_wrapper(_flow(fluidics, unit, step, parts_done), md=md))
    if isinstance(step, IncubateStep):
        note = {"unit": unit.id}
        return (yield from run_wrapper(incubate(step.duration_s, metadata=note), md=md))
    assert isinstance(step, CustomStep)
    plan = (custom_plans or {}).get(step.plan)
    if plan is None:
        raise AcquisitionError(
            f"round_template[{unit.step_index}].plan: unknown plan {step.plan!r}; "
            f"the session's plans are {sorted(custom_plans or {})}"
        )
    parameters = dict(step.parameters)
    if "microscope" in inspect.signature(plan).parameters:
        parameters["microscope"] = microscope
    return (yield from run_wrapper(plan(**parameters), md=md))


def _fluidics(microscope: Microscope, unit: Unit) -> Fluidics:
    if microscope.fluidics is None:
        raise AcquisitionError(
            f"round_template[{unit.step_index}]: a {unit.kind} step needs fluidics; "
            f"the microscope configuration has no fluidics section"
        )
    return microscope.fluidics


def _flow(
    fluidics: Fluidics, unit: Unit, step: FlowStep | CleaveStep, parts_done: int
) -> MsgGenerator[None]:
    note = {"unit": unit.id}
    yield from select_reagent(fluidics, step.reagent, metadata=note)
    part_ul = step.volume_ul / unit.flow_parts
    for part in range(parts_done, unit.flow_parts):
        yield from bps.checkpoint()
        yield from flow_volume(fluidics, part_ul, step.rate_ul_min, metadata=note | {"part": part})


def run_merfish(
    microscope: Microscope,
    units: Sequence[Unit | dict[str, Any]],
    custom_plans: Mapping[str, CustomPlan] | None = None,
    metadata: dict[str, Any] | None = None,
) -> MsgGenerator:
    """Carry out a MERFISH experiment's units in order, one run each.

    The orchestrator (``hcs merfish run``) gives the units still to do; a unit a
    crash left half done is given with what is already recorded (see
    :func:`run_unit`), which this plan, taking whole units, does not handle.

    Args:
        microscope: the microscope.
        units: the units, in order (or their plain data).
        custom_plans: the plans custom steps may name.
        metadata: extra start-document metadata of every run.

    Returns:
        The uids of the runs, one per unit.
    """
    uids: list[str] = []
    for unit in units:
        uid = yield from run_unit(microscope, unit, custom_plans=custom_plans, metadata=metadata)
        uids.append(uid)
    return uids
