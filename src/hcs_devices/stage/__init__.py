"""The XYZ stage and objective piezo.

Names are imported when first used (``lazy_loader``), so the motion profiles
(:mod:`hcs_devices.stage.kinematics`) load without ophyd-async.
"""

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from hcs_devices.stage.axis import Axis, SoftLimitError
    from hcs_devices.stage.backend import AxisBackend
    from hcs_devices.stage.stage import Stage

__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "axis": ["Axis", "SoftLimitError"],
        "backend": ["AxisBackend"],
        "stage": ["Stage"],
    },
)

__all__ = ["Axis", "AxisBackend", "SoftLimitError", "Stage"]
