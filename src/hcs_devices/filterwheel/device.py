"""The emission filter wheel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from ophyd_async.core import (
    CALCULATE_TIMEOUT,
    CalculatableTimeout,
    MovableLogic,
    StandardMovable,
    StandardReadable,
    StandardReadableFormat,
    TimeoutCalculator,
    WatchableAsyncStatus,
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
    #: The stop asked for since the move was (None: none; else its ``success``).
    stop_asked: Callable[[], bool | None]

    async def check_move(self, new_position: int) -> None:
        """Refuse a position the wheel does not have, or any move while a run owns it."""
        self.owner.check(self.device_name(), "set")
        if not 1 <= new_position <= self.positions:
            raise ValueError(
                f"{self.device_name()}: position {new_position} is outside 1..{self.positions}"
            )

    async def move(self, new_position: int, timeout: TimeoutCalculator) -> None:
        """Move and update the readback on arrival; nothing turns once a stop was asked.

        Raises:
            RuntimeError: when a stop without success came before the wheel turned.
        """
        stopped = self.stop_asked()
        if stopped is not None:  # stopped before the wheel began to turn
            if not stopped:
                raise RuntimeError(f"Device {self.device_name()} was stopped.")
            return
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
        self._stop_asked: bool | None = None
        with self.add_children_as_readables(StandardReadableFormat.HINTED_SIGNAL):
            self.position, self._position_set = memory_signal_r_and_setter(int, 1)
        self.setpoint = memory_signal_rw(int, 1)
        super().__init__(name=name, connector=BackendConnector(self._sync))

    async def _sync(self) -> None:
        await self.backend.connect()
        self._position_set(await self.backend.position())

    def set(  # type: ignore[override]
        self, new_position: int, timeout: CalculatableTimeout = CALCULATE_TIMEOUT
    ) -> WatchableAsyncStatus[int]:
        """Turn to ``new_position``.

        A stop asked for from now on counts for this move, even one that comes before
        the move's task first runs (a pause or an abort right after the RunEngine asked
        for the move): the wheel then does not turn.
        """
        self._stop_asked = None
        return super().set(new_position, timeout)

    async def stop(self, success: bool = False) -> None:
        """Stop; a move not yet turning does not turn (quietly with ``success``, else an error)."""
        self._stop_asked = success
        await super().stop(success)

    async def move_to(self, position: int) -> None:
        """Turn as :meth:`set` does, awaited in place: for device code on the RunEngine's loop.

        Raises:
            ValueError: when the wheel has no such position (nothing moves).
        """
        self._stop_asked = None
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
            stop_asked=lambda: self._stop_asked,
        )
