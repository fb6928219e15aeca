"""The steps of a MERFISH round, as a protocol file writes them (pydantic models).

A round is a list of steps, each one of five kinds told apart by ``kind``: ``flow`` a
volume of a reagent, ``incubate``, ``image`` the fields of view, ``cleave`` (a flow that
removes the readout dyes: not safe to repeat), ``custom`` (a named plan). These models
are what the ``run_merfish`` plan carries out; the protocol file around them lives in
:mod:`hcs_orchestrator.merfish.protocol`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from hcs_plans.specs.acquisition import AcquisitionSpec

_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _positive(unit: str) -> Any:
    def check(value: float) -> float:
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"must be more than 0 {unit}, got {value:g}")
        return value

    return AfterValidator(check)


VolumeUl = Annotated[float, _positive("uL")]
RateUlMin = Annotated[float, _positive("uL/min")]


class FlowStep(BaseModel):
    """Flow a volume of one reagent over the sample.

    Attributes:
        reagent: a reagent of the protocol, or ``{name}`` for the round's reagent of
            that name (``{readout}``: see the protocol's ``rounds``).
        volume_ul: volume to deliver, uL.
        rate_ul_min: flow rate, uL/min.
        repeat_safe: whether the step may run again after a crash without asking;
            by default the protocol's ``repeat_safe`` for its kind.
    """

    model_config = _STRICT

    kind: Literal["flow"]
    reagent: str = Field(min_length=1)
    volume_ul: VolumeUl
    rate_ul_min: RateUlMin
    repeat_safe: bool | None = None


class CleaveStep(BaseModel):
    """Flow the cleavage buffer: removes every bound readout's dye (not safe to repeat).

    Attributes:
        reagent: the cleavage reagent.
        volume_ul: volume to deliver, uL.
        rate_ul_min: flow rate, uL/min.
        repeat_safe: by default the protocol's ``repeat_safe.cleave`` (false).
    """

    model_config = _STRICT

    kind: Literal["cleave"]
    reagent: str = Field(min_length=1)
    volume_ul: VolumeUl
    rate_ul_min: RateUlMin
    repeat_safe: bool | None = None


class IncubateStep(BaseModel):
    """Wait with the pump stopped.

    Attributes:
        duration_s: how long, s (0 or more).
        repeat_safe: by default the protocol's ``repeat_safe.incubate``.
    """

    model_config = _STRICT

    kind: Literal["incubate"]
    duration_s: float = Field(ge=0, le=7 * 24 * 3600)
    repeat_safe: bool | None = None


class ImageStep(BaseModel):
    """Image every field of view: the round's bits and the fiducial beads.

    Attributes:
        acquisition: an acquisition spec (a useq sequence and hcs's settings) giving
            positions, z plan and autofocus. Its sequence has no channels: the round's
            channels come from the protocol's ``bits`` and ``fiducial``.
        repeat_safe: by default the protocol's ``repeat_safe.image``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    kind: Literal["image"]
    acquisition: AcquisitionSpec
    repeat_safe: bool | None = None


class CustomStep(BaseModel):
    """Run a named plan of the session (e.g. a bleach or a focus check).

    Attributes:
        plan: the plan's name, as the session knows it.
        parameters: keyword arguments of the plan (plain data).
        repeat_safe: by default the protocol's ``repeat_safe.custom`` (false).
    """

    model_config = _STRICT

    kind: Literal["custom"]
    plan: str = Field(min_length=1)
    parameters: dict[str, Any] = Field(default_factory=dict)
    repeat_safe: bool | None = None


Step = Annotated[
    FlowStep | CleaveStep | IncubateStep | ImageStep | CustomStep, Field(discriminator="kind")
]
StepKind = Literal["flow", "cleave", "incubate", "image", "custom"]
