"""Units of work: the pieces a MERFISH experiment is done, journaled and resumed in.

A unit is one fluidics or incubate step of a round, or one field of view of a round's
image step. Its id is stable (it depends only on the protocol's content and where the
unit sits in it), so a restarted experiment recognises what it has already done:
``"<protocol hash[:12]>/r<round>/s<step index>"``, plus ``"/<well>-<fov>"`` for a field.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hcs_plans.merfish.steps import Step, StepKind
from hcs_schema import FIDUCIAL_BIT

#: The ``bit`` of a fiducial-bead image in its frame row.
FIDUCIAL = FIDUCIAL_BIT


def unit_id(protocol_hash: str, round_index: int, step_index: int, field: str = "") -> str:
    """The stable id of a unit (``field`` is ``"<well>-<fov>"`` for an image unit)."""
    base = f"{protocol_hash[:12]}/r{round_index}/s{step_index}"
    return f"{base}/{field}" if field else base


class Unit(BaseModel):
    """One unit of work, with everything the plan needs to carry it out.

    Attributes:
        id: the stable id (:func:`unit_id`).
        protocol_hash: the hash of the protocol it belongs to.
        round: the round, from 1.
        step_index: the step's index in the round template, from 0.
        kind: the step's kind.
        repeat_safe: whether it may run again after a crash without the operator's
            confirmation.
        step: the step, with the round's reagents substituted (an image step's
            acquisition carries the round's channels).
        well: an image unit's well (empty otherwise).
        fov: an image unit's field of view in its well (-1 otherwise).
        channel_bits: an image unit's channel -> bit name (or ``fiducial``).
        flow_parts: a flow or cleave is pumped in this many equal parts, each
            recorded as it ends, so a crash repeats at most one part.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    id: str
    protocol_hash: str
    round: int = Field(ge=1)
    step_index: int = Field(ge=0)
    kind: StepKind
    repeat_safe: bool
    step: Step
    well: str = ""
    fov: int = -1
    channel_bits: dict[str, str] = Field(default_factory=dict)
    flow_parts: int = Field(default=1, ge=1, le=1000)
