"""Bluesky plans: what the microscope does (plate acquisition, autofocus, MERFISH).

The public API is re-exported here::

    from hcs_plans import acquire_plate, load_spec

Names are imported when first used (``lazy_loader``, SPEC 1), so a module that only
reads or checks specs (a dry run) loads neither the RunEngine's plans nor SciPy.
"""

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from hcs_plans.acquire import acquire_plate
    from hcs_plans.autofocus import (
        AutofocusPolicy,
        calibrate_laser_autofocus,
        contrast_autofocus,
        laser_autofocus,
    )
    from hcs_plans.plate_calibration import calibrate_plate_a1
    from hcs_plans.specs import AcquisitionSpec, load_spec, spec_from_data
    from hcs_plans.stubs import flow_for_time, flow_volume, incubate, select_reagent
    from hcs_plans.table import AcquisitionError, AcquisitionTable, resolve

__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "acquire": ["acquire_plate"],
        "autofocus": [
            "AutofocusPolicy",
            "calibrate_laser_autofocus",
            "contrast_autofocus",
            "laser_autofocus",
        ],
        "plate_calibration": ["calibrate_plate_a1"],
        "specs": ["AcquisitionSpec", "load_spec", "spec_from_data"],
        "stubs": ["flow_for_time", "flow_volume", "incubate", "select_reagent"],
        "table": ["AcquisitionError", "AcquisitionTable", "resolve"],
    },
)

__all__ = [
    "AcquisitionError",
    "AcquisitionSpec",
    "AcquisitionTable",
    "AutofocusPolicy",
    "acquire_plate",
    "calibrate_laser_autofocus",
    "calibrate_plate_a1",
    "contrast_autofocus",
    "flow_for_time",
    "flow_volume",
    "incubate",
    "laser_autofocus",
    "load_spec",
    "resolve",
    "select_reagent",
    "spec_from_data",
]
