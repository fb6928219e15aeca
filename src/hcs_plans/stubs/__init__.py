"""Typed plan stubs: small steps that plans compose (they open no run of their own)."""

from hcs_plans.stubs.fluidics import (
    STEP_STREAM,
    FluidicsStep,
    flow_for_time,
    flow_volume,
    incubate,
    select_reagent,
)

__all__ = [
    "STEP_STREAM",
    "FluidicsStep",
    "flow_for_time",
    "flow_volume",
    "incubate",
    "select_reagent",
]
