"""Hardware of a Squid-class microscope as ophyd-async devices.

Each device has a simulated backend; serial hardware has a real driver and an
emulator that speaks the same wire protocol on a pseudo-terminal.

The public API is re-exported here::

    from hcs_devices import build_microscope, load_config

Loading a configuration imports no device, driver or control-system code: the names
that need them are loaded on first use (Scientific Python's SPEC 1 lazy loading, with
``lazy_loader``), so ``load_config`` checks a file in a light process.
``tests/unit/test_public_api.py`` imports each name in a fresh interpreter.
"""

from typing import TYPE_CHECKING

import lazy_loader

from hcs_devices.config import MicroscopeConfig, UserFileError, load_config

if TYPE_CHECKING:
    from hcs_devices.factory import build_microscope
    from hcs_devices.microscope import Microscope

__getattr__, __dir__, _ = lazy_loader.attach(
    __name__, submod_attrs={"factory": ["build_microscope"], "microscope": ["Microscope"]}
)

__all__ = ["Microscope", "MicroscopeConfig", "UserFileError", "build_microscope", "load_config"]
