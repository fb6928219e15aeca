"""Fluidics of a MERFISH rig: Hamilton MVP selector valves and a peristaltic pump.

Layers, bottom up:

* wire protocols and drivers (blocking, pyserial, one :class:`SerialTransport` per
  port): :mod:`.mvp.driver`, :mod:`.pump.minipuls3`;
* emulators speaking the same protocols on pseudo-terminals: :mod:`.mvp.emulator`,
  :mod:`.pump.emulator` (``hcs emulate mvp`` / ``hcs emulate pump``);
* backends (async seams; simulated or driver-backed): :mod:`.backends`;
* ophyd-async devices: :class:`SelectorValve`, :class:`Pump`, :class:`Fluidics`;
* configuration and factory: :class:`FluidicsConfig`, :func:`build_fluidics`.

Its configuration and errors import no driver; the rest is loaded on first use, so
loading a microscope configuration opens no serial code.
"""

from typing import TYPE_CHECKING

import lazy_loader

from hcs_devices.fluidics.config import SIM, FluidicsConfig, PumpConfig, ValveChainConfig
from hcs_devices.fluidics.errors import (
    FluidicsError,
    FluidicsValueError,
    ProtocolError,
    PumpStoppedError,
    RefusedError,
    SilentDeviceError,
    ValveMoveError,
)
from hcs_devices.fluidics.pump.base import FlowDirection, PumpStatus

if TYPE_CHECKING:
    from hcs_devices.fluidics.backends import (
        PumpBackend,
        SimPumpBackend,
        SimValveChainBackend,
        ValveChainBackend,
    )
    from hcs_devices.fluidics.composite import Fluidics, ReagentPath
    from hcs_devices.fluidics.factory import build_fluidics
    from hcs_devices.fluidics.peristaltic_pump import Flow, Pump
    from hcs_devices.fluidics.selector_valve import SelectorValve
    from hcs_devices.fluidics.transport import SerialSettings, SerialTransport

__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "backends": ["PumpBackend", "SimPumpBackend", "SimValveChainBackend", "ValveChainBackend"],
        "composite": ["Fluidics", "ReagentPath"],
        "factory": ["build_fluidics"],
        "peristaltic_pump": ["Flow", "Pump"],
        "selector_valve": ["SelectorValve"],
        "transport": ["SerialSettings", "SerialTransport"],
    },
)

__all__ = [
    "SIM",
    "Flow",
    "FlowDirection",
    "Fluidics",
    "FluidicsConfig",
    "FluidicsError",
    "FluidicsValueError",
    "ProtocolError",
    "Pump",
    "PumpBackend",
    "PumpConfig",
    "PumpStatus",
    "PumpStoppedError",
    "ReagentPath",
    "RefusedError",
    "SelectorValve",
    "SerialSettings",
    "SerialTransport",
    "SilentDeviceError",
    "SimPumpBackend",
    "SimValveChainBackend",
    "ValveChainBackend",
    "ValveChainConfig",
    "ValveMoveError",
    "build_fluidics",
]
