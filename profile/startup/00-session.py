"""Open the hcs session: the RunEngine and the microscope (and, at a prompt, the catalog).

The same file starts the IPython profile and the queue server's RE worker (lab mode):
see :mod:`hcs_orchestrator.lab.profile`. Environment: HCS_CONFIG (microscope YAML;
default: the simulated microscope) and HCS_DATA_DIR (default: ./hcs-data).
"""

from hcs_orchestrator.lab.profile import in_re_worker, open_profile_session

session = open_profile_session()
RE = session.RE
microscope = session.microscope

if not in_re_worker():
    # Short names for the prompt; queued plans name the devices through the microscope
    # ("microscope.stage_.x"), so the worker lists each device once.
    catalog = session.catalog
    stage = microscope.stage_
    camera = microscope.camera
    illumination = microscope.illumination
    filter_wheel = microscope.filter_wheel
    fluidics = microscope.fluidics  # None unless the configuration has a fluidics: section

    # A progress bar of each run's images at the prompt (rich, on the terminal).
    from hcs_orchestrator.progress import show_progress

    show_progress(RE)
