"""The emission filter wheel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from ophyd_async.core import (
    MovableLogic,
    StandardMovable,
    StandardReadable,
    StandardReadableFormat,
    TimeoutCalculator,
)

from hcs_devices.connector import BackendConnector
from hcs_devices.filterwheel.backend import FilterWheelBackend
from hcs_devices.memory_signals import memory_signal_r_and_setter, memory_signal_rw, write_now
from hcs_devices.ownership import DEFAULT_OWNER, HardwareOwner


@dataclass
class FilterWheelMoveLogic(MovableLogic[int]):
    """Moves the wheel through its backend, refusing positions it does not have."""

    backend: FilterWheelBackend
    positions: int
    owner: HardwareOwner
    device_name: Callable[[], str]
    readback_set: Callable[[int], None]

    async def check_move(self, new_position: int) -> None:
        """Refuse a position the wheel does not have, or any move while a run owns it."""
        self.owner.check(self.device_name(), "set")
        if not 1 <= new_position <= self.positions:
            raise ValueError(
                f"{self.device_name()}: position {new_position} is outside 1..{self.positions}"
            )

    async def move(self, new_position: int, timeout: TimeoutCalculator) -> None:
        """Move and update the readback on arrival."""
        await write_now(self.setpoint, new_position)
        await self.backend.move_to(new_position)
        self.readback_set(await self.backend.position())


class FilterWheel(StandardReadable, StandardMovable[int]):
    """A filter wheel with positions numbered from 1.

    Args:
        backend: what drives the wheel.
        positions: number of positions.
        filter_names: name of the filter at each position (for the documents).
        owner: who may command the hardware now.
        name: device name.
    """

    def __init__(
        self,
        backend: FilterWheelBackend,
        *,
        positions: int,
        filter_names: dict[int, str] | None = None,
        owner: HardwareOwner = DEFAULT_OWNER,
        name: str = "",
    ) -> None:
        self.backend = backend
        self.positions = positions
        self.filter_names = dict(filter_names or {})
        self._owner = owner
        with self.add_children_as_readables(StandardReadableFormat.HINTED_SIGNAL):
            self.position, self._position_set = memory_signal_r_and_setter(int, 1)
        self.setpoint = memory_signal_rw(int, 1)
        super().__init__(name=name, connector=BackendConnector(self._sync))

    async def _sync(self) -> None:
        await self.backend.connect()
        self._position_set(await self.backend.position())

    async def move_to(self, position: int) -> None:
        """Turn as :meth:`set` does, awaited in place: for device code on the RunEngine's loop.

        Raises:
            ValueError: when the wheel has no such position (nothing moves).
        """
        logic = self.movable_logic
        await logic.check_move(position)
        await logic.move(position, timeout=lambda: None)

    @cached_property
    def movable_logic(self) -> FilterWheelMoveLogic:
        """How the wheel moves."""
        return FilterWheelMoveLogic(
            setpoint=self.setpoint,
            readback=self.position,
            backend=self.backend,
            positions=self.positions,
            owner=self._owner,
            device_name=lambda: self.name or "filter_wheel",
            readback_set=self._position_set,
        )
