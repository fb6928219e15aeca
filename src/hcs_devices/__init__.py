"""Hardware of a Squid-class microscope as ophyd-async devices.

Each device has a simulated backend; serial hardware has a real driver and an
emulator that speaks the same wire protocol on a pseudo-terminal.

The public API is re-exported here::

    from hcs_devices import build_microscope, load_config
"""

from hcs_devices.config import MicroscopeConfig, UserFileError, load_config
from hcs_devices.factory import Microscope, build_microscope

__all__ = ["Microscope", "MicroscopeConfig", "UserFileError", "build_microscope", "load_config"]
