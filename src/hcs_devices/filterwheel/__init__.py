"""The emission filter wheel."""

from hcs_devices.filterwheel.backend import FilterWheelBackend
from hcs_devices.filterwheel.device import FilterWheel

__all__ = ["FilterWheel", "FilterWheelBackend"]
