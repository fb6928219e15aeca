"""The Squid microcontroller: wire codec, driver, emulator and device backends.

Public API::

    from hcs_devices.squid import SquidConfig, AxisLimits, build_squid_backends

    backends = build_squid_backends(config, {"x": ..., "y": ..., "z": ...})
    await backends.connect()
    await backends.x.move_to(14380.0, timeout_s=None)
    await backends.close()

The emulator (:mod:`hcs_devices.squid.emulator`) speaks the same protocol on a
pseudo-terminal: ``hcs emulate squid``.

Its configuration and errors import no driver; the driver and backends are loaded on
first use, so loading a microscope configuration opens no serial code.
"""

from typing import TYPE_CHECKING

import lazy_loader

from hcs_devices.squid.config import (
    AxisLimits,
    FilterWheelConfig,
    PiezoConfig,
    SquidConfig,
    StageAxisConfig,
    TriggerConfig,
)
from hcs_devices.squid.errors import (
    SquidCommandError,
    SquidConnectionError,
    SquidError,
    SquidMoveStoppedError,
    SquidTimeoutError,
)

if TYPE_CHECKING:
    from hcs_devices.squid.backends import (
        SquidBackends,
        SquidCameraTrigger,
        SquidFilterWheel,
        SquidIllumination,
        SquidPiezo,
        SquidStageAxis,
        build_squid_backends,
    )
    from hcs_devices.squid.driver import SquidDriver

__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "backends": [
            "SquidBackends",
            "SquidCameraTrigger",
            "SquidFilterWheel",
            "SquidIllumination",
            "SquidPiezo",
            "SquidStageAxis",
            "build_squid_backends",
        ],
        "driver": ["SquidDriver"],
    },
)

__all__ = [
    "AxisLimits",
    "FilterWheelConfig",
    "PiezoConfig",
    "SquidBackends",
    "SquidCameraTrigger",
    "SquidCommandError",
    "SquidConfig",
    "SquidConnectionError",
    "SquidDriver",
    "SquidError",
    "SquidFilterWheel",
    "SquidIllumination",
    "SquidMoveStoppedError",
    "SquidPiezo",
    "SquidStageAxis",
    "SquidTimeoutError",
    "StageAxisConfig",
    "TriggerConfig",
    "build_squid_backends",
]
