"""Run the fluidics emulators on pseudo-terminals and point a configuration at them.

For tests, demos and trying a configuration without hardware::

    with EmulatedFluidics(n_valves=2, tube_ul_per_rev=50.0) as rig:
        config = rig.config(reagents={"wash": ((1, 8),)})
        fluidics = build_fluidics(config)
        ...
        rig.pump.delivered_ul      # what the emulated pump really delivered
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hcs_devices.fluidics.config import FluidicsConfig
from hcs_devices.fluidics.mvp.emulator import MvpChainEmulator
from hcs_devices.fluidics.pump.emulator import Minipuls3Emulator
from hcs_devices.serial.pty_server import PtyServer


class EmulatedFluidics:
    """An emulated MVP chain and Minipuls 3 pump, each on its own pseudo-terminal.

    Args:
        ports_per_valve: ports of each valve (its length is the number of valves).
        tube_ul_per_rev: the emulated tube's real calibration, uL/rev.
        unit_id: the pump's GSIOC unit id.
        seconds_per_port: valve turning time per port step at speed factor 1.
        init_s: valve initialisation time at speed factor 1.
        speed_factor: divides valve turning times.
        directory: where the device symlinks go (a temporary directory if None).
    """

    def __init__(
        self,
        ports_per_valve: Sequence[int] = (8,),
        *,
        tube_ul_per_rev: float = 10.0,
        unit_id: int = 30,
        seconds_per_port: float = 0.25,
        init_s: float = 1.5,
        speed_factor: float = 1.0,
        directory: Path | None = None,
    ) -> None:
        self.valves = MvpChainEmulator(
            ports_per_valve,
            seconds_per_port=seconds_per_port,
            init_s=init_s,
            speed_factor=speed_factor,
        )
        self.pump = Minipuls3Emulator(tube_ul_per_rev=tube_ul_per_rev, unit_id=unit_id)
        self.unit_id = unit_id
        self.tube_ul_per_rev = tube_ul_per_rev
        self.ports_per_valve = tuple(ports_per_valve)
        self.valve_server = PtyServer(self.valves, link_name="mvp", directory=directory)
        try:
            self.pump_server = PtyServer(
                self.pump, link_name="pump", directory=self.valve_server.path.parent
            )
        except BaseException:
            self.valve_server.close()
            raise

    def config(
        self,
        reagents: Mapping[str, Sequence[tuple[int, int]]],
        *,
        valves: Mapping[str, Any] | None = None,
        pump: Mapping[str, Any] | None = None,
    ) -> FluidicsConfig:
        """A configuration whose valve chain and pump are these emulators.

        Args:
            reagents: reagent name -> path of (valve, port) pairs.
            valves: more ``valves:`` settings (timeouts...).
            pump: more ``pump:`` settings (``tube_ul_per_rev`` defaults to the
                emulated tube's).
        """
        return FluidicsConfig.model_validate(
            {
                "valves": {
                    "port": str(self.valve_server.path),
                    "n_valves": len(self.ports_per_valve),
                    "ports_per_valve": self.ports_per_valve,
                    **(valves or {}),
                },
                "pump": {
                    "kind": "gilson_minipuls3",
                    "port": str(self.pump_server.path),
                    "unit_id": self.unit_id,
                    "tube_ul_per_rev": self.tube_ul_per_rev,
                    **(pump or {}),
                },
                "reagents": {name: tuple(path) for name, path in reagents.items()},
            }
        )

    def clear_logs(self) -> None:
        """Forget what the emulators received so far."""
        self.valves.clear_log()
        self.pump.clear_log()

    @property
    def received(self) -> bytes:
        """Every byte both emulators received since the last :meth:`clear_logs`."""
        return self.valves.received + self.pump.received

    def close(self) -> None:
        """Stop both emulators and remove their device paths."""
        try:
            self.pump_server.close()
        finally:
            self.valve_server.close()

    def __enter__(self) -> EmulatedFluidics:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
