"""The simulated MERFISH sample: barcoded RNA molecules, fiducial beads, chemistry.

:class:`MerfishSpecimen` is the specimen a simulated camera images when the
configuration has a ``specimen.merfish`` section; its :class:`FlowCell` is fed by the
simulated fluidics (wired in :mod:`hcs_devices.factory`). Tests and QC read the ground
truth from it: ``specimen_of(microscope).molecules_in("B2")``.
"""

from hcs_devices.sim.merfish.chemistry import Chemistry, Drift, FlowCell, FlowEvent
from hcs_devices.sim.merfish.sample import (
    BEADS,
    MERFISH_CLASSES,
    READOUT_CY3,
    READOUT_CY5,
    SAMPLE_STATE_FILE,
    MerfishSpecimen,
    MerfishState,
    Molecules,
)

__all__ = [
    "BEADS",
    "MERFISH_CLASSES",
    "READOUT_CY3",
    "READOUT_CY5",
    "SAMPLE_STATE_FILE",
    "Chemistry",
    "Drift",
    "FlowCell",
    "FlowEvent",
    "MerfishSpecimen",
    "MerfishState",
    "Molecules",
]
