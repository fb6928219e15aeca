"""Open an hcs session: RunEngine, microscope devices, plans and catalog.

Environment: HCS_CONFIG (microscope YAML; default: the simulated microscope) and
HCS_DATA_DIR (default: ./hcs-data).
"""

import os

from hcs_orchestrator import open_session

session = open_session(
    os.environ.get("HCS_CONFIG") or None, os.environ.get("HCS_DATA_DIR", "hcs-data")
)
RE = session.RE
microscope = session.microscope
catalog = session.catalog
stage = microscope.stage_
camera = microscope.camera
illumination = microscope.illumination
filter_wheel = microscope.filter_wheel
laser_autofocus = microscope.laser_autofocus
fluidics = microscope.fluidics  # None unless the configuration has a fluidics: section
