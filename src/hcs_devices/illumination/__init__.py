"""Light sources."""

from hcs_devices.illumination.backend import IlluminationBackend
from hcs_devices.illumination.device import Illumination

__all__ = ["Illumination", "IlluminationBackend"]
