"""The XYZ stage and objective piezo."""

from hcs_devices.stage.axis import Axis, SoftLimitError
from hcs_devices.stage.backend import AxisBackend
from hcs_devices.stage.stage import Stage

__all__ = ["Axis", "AxisBackend", "SoftLimitError", "Stage"]
