"""Simulated backends and the synthetic specimen, and how to reach them in a microscope.

A simulated microscope is an ordinary :class:`~hcs_devices.microscope.Microscope`:
the simulation lives inside its devices' backends. :func:`optics_of` and
:func:`specimen_of` reach it, for tests, notebooks and the IPython profile; plans never
do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hcs_devices.sim.camera import SimFrameSource, SimOptics
from hcs_devices.sim.merfish import MerfishSpecimen
from hcs_devices.sim.specimen import Specimen

if TYPE_CHECKING:
    from hcs_devices.microscope import Microscope

__all__ = [
    "MerfishSpecimen",
    "SimFrameSource",
    "SimOptics",
    "Specimen",
    "merfish_specimen_of",
    "optics_of",
    "specimen_of",
]


def _source(microscope: Microscope) -> SimFrameSource:
    source = microscope.camera.source
    if not isinstance(source, SimFrameSource):
        raise TypeError(f"{microscope.name}'s camera is not simulated")
    return source


def optics_of(microscope: Microscope) -> SimOptics:
    """The simulated stage, light and filter wheel of a simulated microscope.

    Raises:
        TypeError: when real hardware (a Squid board) drives them.
    """
    optics = _source(microscope).optics
    if not isinstance(optics, SimOptics):
        raise TypeError(f"{microscope.name}'s stage, light and filter wheel are not simulated")
    return optics


def specimen_of(microscope: Microscope) -> Specimen:
    """The synthetic specimen a simulated camera images.

    Raises:
        TypeError: when the camera is not simulated.
    """
    return _source(microscope).specimen


def merfish_specimen_of(microscope: Microscope) -> MerfishSpecimen:
    """The MERFISH sample a simulated camera images: ground truth and flow cell.

    Raises:
        TypeError: when the camera is not simulated or the specimen has no MERFISH
            section.
    """
    specimen = specimen_of(microscope)
    if not isinstance(specimen, MerfishSpecimen):
        raise TypeError(
            f"{microscope.name}'s simulated specimen is not a MERFISH sample: its "
            "configuration has no specimen.merfish section"
        )
    return specimen
