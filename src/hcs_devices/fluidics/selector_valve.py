"""``SelectorValve``: one valve of a chain as a settable port (a Bluesky Movable)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ophyd_async.core import (
    MovableLogic,
    StandardMovable,
    StandardReadable,
    TimeoutCalculator,
    soft_signal_r_and_setter,
    soft_signal_rw,
)
from ophyd_async.core import StandardReadableFormat as Format

from hcs_devices.connector import BackendConnector
from hcs_devices.fluidics.backends import ValveChainBackend
from hcs_devices.fluidics.errors import FluidicsError, FluidicsValueError
from hcs_devices.ownership import DEFAULT_OWNER, HardwareOwner


@dataclass
class SelectorValveMoveLogic(MovableLogic[int]):
    """Validates the port, checks ownership, moves and confirms through the backend."""

    valve: SelectorValve

    async def check_move(self, new_position: int) -> None:
        """Refuse a port outside ``1..n_ports`` (nothing is sent)."""
        self.valve.check_port(new_position)

    async def move(self, new_position: int, timeout: TimeoutCalculator) -> None:
        """Move and confirm; the readback is the port the valve reported."""
        valve = self.valve
        valve.check_port(new_position)
        valve.owner.check(valve.name, f"set port {new_position}")
        await self.setpoint.set(new_position)
        valve.set_readback(0)
        try:
            await valve.backend.move_to(valve.chain_index, new_position)
        except FluidicsError as err:
            raise type(err)(f"{valve.name}: asked port {new_position}: {err}") from err
        valve.set_readback(new_position)


class SelectorValve(StandardReadable, StandardMovable[int]):
    """One selector valve; ``set(port)`` moves to a port (1-based) and confirms it.

    The readback (named like the device in documents) is the port the valve
    reported after its last move, 0 while moving or when unknown.

    Args:
        backend: the chain the valve belongs to.
        chain_index: the valve's position in the chain (1 for the first).
        n_ports: number of ports of this valve.
        owner: who may command the hardware now.
        name: device name.
    """

    def __init__(
        self,
        backend: ValveChainBackend,
        *,
        chain_index: int = 1,
        n_ports: int = 8,
        owner: HardwareOwner = DEFAULT_OWNER,
        name: str = "",
    ) -> None:
        self.backend = backend
        self.chain_index = chain_index
        self.n_ports_value = n_ports
        self.owner = owner
        with self.add_children_as_readables(Format.HINTED_SIGNAL):
            self.port, self.set_readback = soft_signal_r_and_setter(int, 0)
        with self.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.n_ports, _ = soft_signal_r_and_setter(int, n_ports)
            self.chain_position, _ = soft_signal_r_and_setter(int, chain_index)
        self.port_setpoint = soft_signal_rw(int, 0)
        super().__init__(name=name, connector=BackendConnector(self._connect_backend))

    async def _connect_backend(self) -> None:
        await self.backend.connect()
        self.set_readback(await self.backend.port(self.chain_index))

    @cached_property
    def movable_logic(self) -> SelectorValveMoveLogic:
        """How the valve moves."""
        return SelectorValveMoveLogic(setpoint=self.port_setpoint, readback=self.port, valve=self)

    def check_port(self, port: int) -> None:
        """Refuse a port this valve does not have.

        Raises:
            FluidicsValueError: naming the valve and its port range.
        """
        if isinstance(port, bool) or not isinstance(port, int):
            raise FluidicsValueError(f"{self.name}: port must be an integer, got {port!r}")
        if not 1 <= port <= self.n_ports_value:
            raise FluidicsValueError(
                f"{self.name}: port {port} is outside this valve's ports 1..{self.n_ports_value}"
            )
