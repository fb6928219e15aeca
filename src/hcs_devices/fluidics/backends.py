"""Fluidics backends: the seam between devices and hardware, and simulated backends.

The simulated backends let plans run with no hardware and no emulator. A simulated
pump can be given an outlet (:meth:`SimPumpBackend.feed`): then it reports every volume
it delivers, with the simulated valve chain's path at that moment, to a
:class:`FlowSink` (the simulated MERFISH sample's flow cell). Real drivers report
nothing: what reaches a real sample is seen in its images.

The driver-backed backends live next to their drivers:
:class:`hcs_devices.fluidics.mvp.backend.MvpValveChainBackend` and
:class:`hcs_devices.fluidics.pump.backend.SerialPumpBackend`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from hcs_devices.fluidics.errors import FluidicsError, ValveMoveError
from hcs_devices.fluidics.pump.base import FlowDirection, PumpStatus
from hcs_devices.timing import sleep_precisely


@runtime_checkable
class ValveChainBackend(Protocol):
    """A chain of selector valves, numbered from 1, ports numbered from 1."""

    @property
    def name(self) -> str:
        """What errors call the chain."""
        ...

    async def connect(self) -> None:
        """Open the hardware, find and initialise the valves (idempotent)."""
        ...

    async def close(self) -> None:
        """Release the hardware (idempotent)."""
        ...

    async def move_to(self, valve: int, port: int) -> None:
        """Move ``valve`` to ``port`` and return once it is confirmed there.

        Raises:
            ValveMoveError: the valve did not arrive at the port.
            FluidicsError: no answer, NAK, or a malformed reply.
        """
        ...

    async def port(self, valve: int) -> int:
        """The port ``valve`` is at (0 between ports)."""
        ...


@runtime_checkable
class PumpBackend(Protocol):
    """One peristaltic pump; speeds in rpm."""

    @property
    def name(self) -> str:
        """What errors call the pump."""
        ...

    async def connect(self) -> None:
        """Open the hardware and take remote control (idempotent)."""
        ...

    async def close(self) -> None:
        """Stop the pump and release the hardware (idempotent)."""
        ...

    async def start(self, speed_rpm: float, direction: FlowDirection) -> float:
        """Set the speed and start turning.

        Returns:
            The ``time.monotonic()`` time at which the pump was told to turn.
        """
        ...

    async def stop(self, at_s: float | None = None) -> float:
        """Stop turning at ``at_s`` (``time.monotonic()``; None or past: now).

        Returns:
            The ``time.monotonic()`` time at which the pump was told to stop.
        """
        ...

    async def status(self) -> PumpStatus:
        """What the pump reports about itself."""
        ...


class FlowSink(Protocol):
    """Where simulated flows go (the flow cell over a simulated sample)."""

    def flowed(self, path: tuple[tuple[int, int], ...], volume_ul: float) -> None:
        """``volume_ul`` left the pump through the valve chain at ``path``.

        ``path`` holds every valve of the chain with its port, as ``(valve, port)``
        pairs from valve 1 (port 0: the valve is between ports).
        """
        ...


class SimValveChainBackend:
    """Simulated valves: they take time to turn and can be made to stick.

    Args:
        ports_per_valve: ports of each valve, in chain order.
        seconds_per_port: turning time per port step at speed factor 1.
        speed_factor: divides every duration.
        name: what errors call the chain.
    """

    def __init__(
        self,
        ports_per_valve: Sequence[int],
        *,
        seconds_per_port: float = 0.25,
        speed_factor: float = 1.0,
        name: str = "simulated valve chain",
    ) -> None:
        self.ports_per_valve = tuple(ports_per_valve)
        self.seconds_per_port = seconds_per_port
        self.speed_factor = speed_factor
        self._name = name
        #: the port of each valve (index 0 is valve 1); 0 between ports.
        self.ports = [1] * len(self.ports_per_valve)
        #: every move asked, as (valve, port).
        self.moves: list[tuple[int, int]] = []
        #: valves that stick halfway on their next moves (fault knob).
        self.stuck: set[int] = set()
        self.connected = False

    @property
    def name(self) -> str:
        """What errors call the chain."""
        return self._name

    async def connect(self) -> None:
        """Nothing to open."""
        self.connected = True

    async def close(self) -> None:
        """Nothing to release."""
        self.connected = False

    def _check(self, valve: int) -> int:
        if not 1 <= valve <= len(self.ports_per_valve):
            raise FluidicsError(
                f"{self._name}: no valve {valve}; the chain has {len(self.ports_per_valve)}"
            )
        return self.ports_per_valve[valve - 1]

    async def move_to(self, valve: int, port: int) -> None:
        """Turn the shorter way round, taking ``seconds_per_port`` per step."""
        n_ports = self._check(valve)
        if not 1 <= port <= n_ports:
            raise ValueError(f"port {port} is outside 1..{n_ports} for valve {valve}")
        self.moves.append((valve, port))
        current = self.ports[valve - 1]
        clockwise = (port - current) % n_ports
        steps = min(clockwise, n_ports - clockwise) if current else clockwise
        self.ports[valve - 1] = 0
        await asyncio.sleep(steps * self.seconds_per_port / self.speed_factor)
        if valve in self.stuck:
            raise ValveMoveError(
                f"{self._name} valve {valve}: asked port {port}, found between ports"
            )
        self.ports[valve - 1] = port

    def path(self) -> tuple[tuple[int, int], ...]:
        """Every valve with its port now, as ``(valve, port)`` pairs from valve 1."""
        return tuple(enumerate(self.ports, start=1))

    async def port(self, valve: int) -> int:
        """The simulated port."""
        self._check(valve)
        return self.ports[valve - 1]


class SimPumpBackend:
    """A simulated pump that integrates the volume it delivers.

    Args:
        tube_ul_per_rev: the volume the simulated tube delivers per revolution (uL).
        max_rpm: highest speed accepted.
        name: what errors call the pump.
    """

    def __init__(
        self, *, tube_ul_per_rev: float, max_rpm: float = 48.0, name: str = "simulated pump"
    ) -> None:
        self.tube_ul_per_rev = tube_ul_per_rev
        self.max_rpm = max_rpm
        self._name = name
        self._speed_rpm = 0.0
        self._direction: FlowDirection | None = None
        self._delivered_ul = 0.0
        self._since = time.monotonic()
        self._stall_at: float | None = None
        #: seconds after each start when the rotor stalls (fault knob; None never).
        self.overload_after_s: float | None = None
        #: every command, in order ("start 12.5 forward", "stop").
        self.commands: list[str] = []
        self.connected = False
        self._outlet: tuple[SimValveChainBackend, FlowSink] | None = None

    @property
    def name(self) -> str:
        """What errors call the pump."""
        return self._name

    def feed(self, valves: SimValveChainBackend, sink: FlowSink) -> None:
        """Report every forward volume delivered, with ``valves``' path then, to ``sink``."""
        self._outlet = (valves, sink)

    def _advance(self) -> None:
        now = time.monotonic()
        if self._stall_at is not None and now >= self._stall_at:
            self._deliver(self._rate_ul_s() * max(0.0, self._stall_at - self._since))
            self._since = self._stall_at
            self._stall_at = None
            self._direction = None
        self._deliver(self._rate_ul_s() * max(0.0, now - self._since))
        self._since = now

    def _deliver(self, volume_ul: float) -> None:
        self._delivered_ul += volume_ul
        if volume_ul > 0.0 and self._outlet is not None:
            valves, sink = self._outlet
            sink.flowed(valves.path(), volume_ul)

    def _rate_ul_s(self) -> float:
        if self._direction is None:
            return 0.0
        sign = 1.0 if self._direction is FlowDirection.FORWARD else -1.0
        return sign * self._speed_rpm * self.tube_ul_per_rev / 60.0

    @property
    def delivered_ul(self) -> float:
        """Net volume delivered so far (uL)."""
        self._advance()
        return self._delivered_ul

    @property
    def running(self) -> bool:
        """Whether the simulated rotor turns."""
        self._advance()
        return self._direction is not None

    async def connect(self) -> None:
        """Nothing to open."""
        self.connected = True

    async def close(self) -> None:
        """Stop the rotor."""
        await self.stop()
        self.connected = False

    async def start(self, speed_rpm: float, direction: FlowDirection) -> float:
        """Start turning; returns when it started."""
        if not 0 < speed_rpm <= self.max_rpm:
            raise ValueError(f"speed {speed_rpm} rpm is outside 0..{self.max_rpm}")
        self._advance()
        self.commands.append(f"start {speed_rpm:g} {direction.value}")
        self._speed_rpm = speed_rpm
        self._direction = direction
        if self.overload_after_s is not None:
            self._stall_at = self._since + self.overload_after_s
        return self._since

    async def stop(self, at_s: float | None = None) -> float:
        """Stop turning at ``at_s`` (now if None or past); returns when it stopped."""
        if at_s is not None and at_s > time.monotonic():
            await sleep_precisely(at_s - time.monotonic())
        self._advance()
        self.commands.append("stop")
        self._direction = None
        self._stall_at = None
        return self._since

    async def status(self) -> PumpStatus:
        """The simulated status."""
        self._advance()
        return PumpStatus(
            running=self._direction is not None,
            direction=self._direction,
            speed_rpm=self._speed_rpm if self._direction is not None else 0.0,
            remote=True,
        )
