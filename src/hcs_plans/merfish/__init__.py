"""MERFISH: the steps of a round, units of work, and the ``run_merfish`` plan."""

from hcs_plans.merfish.steps import (
    CleaveStep,
    CustomStep,
    FlowStep,
    ImageStep,
    IncubateStep,
    Step,
    StepKind,
)
from hcs_plans.merfish.units import FIDUCIAL, Unit, unit_id

__all__ = [
    "FIDUCIAL",
    "CleaveStep",
    "CustomStep",
    "FlowStep",
    "ImageStep",
    "IncubateStep",
    "Step",
    "StepKind",
    "Unit",
    "unit_id",
]
