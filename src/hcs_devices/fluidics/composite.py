"""``Fluidics``: the valve chain, the pump and the reagent map of a MERFISH rig.

``set(reagent)`` moves every valve on the reagent's path (in path order, each move
confirmed before the next) so the pump draws that reagent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from bluesky.protocols import Movable, Stoppable
from ophyd_async.core import (
    AsyncStatus,
    DeviceVector,
    StandardReadable,
    soft_signal_r_and_setter,
)
from ophyd_async.core import StandardReadableFormat as Format

from hcs_devices.fluidics.errors import FluidicsError, FluidicsValueError
from hcs_devices.fluidics.peristaltic_pump import Pump
from hcs_devices.fluidics.selector_valve import SelectorValve
from hcs_devices.ownership import DEFAULT_OWNER, HardwareOwner

logger = logging.getLogger(__name__)

#: A reagent's path through the chain: (valve index, port) pairs, valves from 1.
ReagentPath = tuple[tuple[int, int], ...]


class Fluidics(StandardReadable, Movable[str], Stoppable):
    """Valves, pump and reagent map.

    Args:
        valves: the valves in chain order (valve 1 first).
        pump: the pump.
        reagents: reagent name -> path of (valve index, port) pairs.
        owner: who may command the hardware now.
        name: device name.

    Raises:
        FluidicsValueError: a reagent path names a valve or port that does not exist.
    """

    def __init__(
        self,
        valves: Sequence[SelectorValve],
        pump: Pump,
        *,
        reagents: Mapping[str, Sequence[tuple[int, int]]],
        owner: HardwareOwner = DEFAULT_OWNER,
        name: str = "",
    ) -> None:
        self.owner = owner
        with self.add_children_as_readables():
            self.valves = DeviceVector(dict(enumerate(valves, start=1)))
            self.pump = pump
        with self.add_children_as_readables(Format.UNCACHED_SIGNAL):
            self.reagent, self._set_reagent = soft_signal_r_and_setter(str, "")
        self._reagents: dict[str, ReagentPath] = {
            reagent: tuple((int(v), int(p)) for v, p in path) for reagent, path in reagents.items()
        }
        for reagent, path in self._reagents.items():
            self._check_path(reagent, path)
        super().__init__(name=name)

    @property
    def reagents(self) -> Mapping[str, ReagentPath]:
        """Reagent name -> path of (valve index, port) pairs."""
        return dict(self._reagents)

    def _check_path(self, reagent: str, path: ReagentPath) -> None:
        if not path:
            raise FluidicsValueError(f"reagents.{reagent}: the path is empty")
        for valve_index, port in path:
            if valve_index not in self.valves:
                raise FluidicsValueError(
                    f"reagents.{reagent}: valve {valve_index} is outside 1..{len(self.valves)}"
                )
            try:
                self.valves[valve_index].check_port(port)
            except FluidicsValueError as err:
                raise FluidicsValueError(f"reagents.{reagent}: {err}") from None

    def reagent_path(self, reagent: str) -> ReagentPath:
        """The path of ``reagent``.

        Raises:
            FluidicsValueError: the reagent is not in the map (lists the known ones).
        """
        try:
            return self._reagents[reagent]
        except (KeyError, TypeError):
            known = ", ".join(sorted(self._reagents)) or "none"
            raise FluidicsValueError(
                f"{self.name}: reagent {reagent!r} is not in the reagent map; known: {known}"
            ) from None

    def set(self, value: str) -> AsyncStatus:
        """Select reagent ``value``: move each valve on its path, confirming each move.

        The status fails with :class:`FluidicsValueError` (nothing sent) for an
        unknown reagent and with :class:`FluidicsError` when the pump is running or
        a valve does not reach its port.
        """
        return AsyncStatus(self._select(value))

    async def _select(self, reagent: str) -> None:
        path = self.reagent_path(reagent)
        self.owner.check(self.name, f"select reagent {reagent!r}")
        if await self.pump.running.get_value():
            raise FluidicsError(
                f"{self.name}: refusing to select reagent {reagent!r} while "
                f"{self.pump.name} is running; stop the flow first"
            )
        self._set_reagent("")
        for valve_index, port in path:
            await self.valves[valve_index].set(port)
        self._set_reagent(reagent)

    async def stop(self, success: bool = True) -> None:
        """Stop the pump (the safe state); valves stay where they are."""
        await self.pump.stop(success=success)

    async def close(self) -> None:
        """Stop the pump and release the serial ports (idempotent)."""
        backends: list[object] = []
        try:
            await self.pump.backend.stop()
        except FluidicsError as err:
            logger.warning("%s: could not stop the pump on close: %s", self.name, err)
        finally:
            for backend in [self.pump.backend, *(v.backend for v in self.valves.values())]:
                if not any(backend is seen for seen in backends):
                    backends.append(backend)
                    await backend.close()
