"""``Pump``: a peristaltic pump that runs a flow (a volume or a time at a rate), then stops.

Rates are in uL/min, volumes in uL, times in s. The pump converts a rate to a
rotor speed with the tube calibration (uL per revolution), and refuses a rate
outside what the pump can turn before anything is sent.

``set(Flow(...))`` makes the pump a Bluesky Movable, so a plan runs a flow with
``bps.abs_set(pump, flow, wait=True)`` and the RunEngine stops it on abort.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from bluesky.protocols import Movable, Stoppable
from ophyd_async.core import (
    AsyncStatus,
    StandardReadable,
    soft_signal_r_and_setter,
)
from ophyd_async.core import StandardReadableFormat as Format

from hcs_devices.connector import BackendConnector
from hcs_devices.fluidics.backends import PumpBackend
from hcs_devices.fluidics.errors import FluidicsError, FluidicsValueError, PumpStoppedError
from hcs_devices.fluidics.pump.base import FlowDirection
from hcs_devices.ownership import DEFAULT_OWNER, HardwareOwner

#: Finest speed step of the supported pumps (0.01 rpm).
MIN_RPM = 0.01

#: How long before a flow's end its stop is handed to the pump's port (s). The port
#: sends the stop command but its last byte ahead, then that byte at the end, so the
#: pump stops on time however busy the event loop is; no status read starts after.
STOP_LEAD_S = 0.1


@dataclass(frozen=True)
class Flow:
    """One flow: a rate and either a volume or a duration.

    Attributes:
        rate_ul_min: flow rate in uL/min.
        volume_ul: volume to deliver in uL (or None to run for ``duration_s``).
        duration_s: time to run in s (or None to deliver ``volume_ul``).
        direction: forward (towards the sample) or reverse.
    """

    rate_ul_min: float
    volume_ul: float | None = None
    duration_s: float | None = None
    direction: FlowDirection = FlowDirection.FORWARD

    @property
    def run_time_s(self) -> float:
        """How long the pump runs for this flow."""
        if self.duration_s is not None:
            return self.duration_s
        assert self.volume_ul is not None
        return self.volume_ul / self.rate_ul_min * 60.0

    def describe(self) -> str:
        """The flow in words, e.g. ``"100 uL at 500 uL/min"``."""
        what = f"{self.volume_ul:g} uL" if self.volume_ul is not None else f"{self.duration_s:g} s"
        reverse = " in reverse" if self.direction is FlowDirection.REVERSE else ""
        return f"{what} at {self.rate_ul_min:g} uL/min{reverse}"


class Pump(StandardReadable, Movable[Flow], Stoppable):
    """A peristaltic pump.

    Args:
        backend: the hardware (or simulation).
        tube_ul_per_rev: tube calibration, uL delivered per rotor revolution.
        max_rpm: highest rotor speed to use (at most the model's own limit).
        status_poll_s: how often a running flow reads the pump's status to catch a
            pump that stopped by itself (overload, stalled tube).
        owner: who may command the hardware now.
        name: device name.
    """

    def __init__(
        self,
        backend: PumpBackend,
        *,
        tube_ul_per_rev: float,
        max_rpm: float = 48.0,
        status_poll_s: float = 0.25,
        owner: HardwareOwner = DEFAULT_OWNER,
        name: str = "",
    ) -> None:
        if tube_ul_per_rev <= 0:
            raise FluidicsValueError(f"tube_ul_per_rev must be > 0, got {tube_ul_per_rev}")
        if max_rpm < MIN_RPM:
            raise FluidicsValueError(f"max_rpm must be >= {MIN_RPM}, got {max_rpm}")
        self.backend = backend
        self.owner = owner
        self.status_poll_s = status_poll_s
        self.calibration_ul_per_rev = tube_ul_per_rev
        self.max_rpm_value = max_rpm
        with self.add_children_as_readables(Format.HINTED_SIGNAL):
            self.delivered_ul, self._set_delivered = soft_signal_r_and_setter(
                float, 0.0, units="uL"
            )
        with self.add_children_as_readables(Format.UNCACHED_SIGNAL):
            self.rate_ul_min, self._set_rate = soft_signal_r_and_setter(float, 0.0, units="uL/min")
        with self.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.tube_ul_per_rev, _ = soft_signal_r_and_setter(
                float, tube_ul_per_rev, units="uL/rev"
            )
            self.max_rate_ul_min, _ = soft_signal_r_and_setter(float, self.max_rate, units="uL/min")
        self.running, self._set_running = soft_signal_r_and_setter(bool, False)
        self._flow_task: asyncio.Task[None] | None = None
        self._stop_requested = False
        super().__init__(name=name, connector=BackendConnector(self._connect_backend))

    async def _connect_backend(self) -> None:
        await self.backend.connect()

    # -- limits -------------------------------------------------------------------------

    @property
    def min_rate(self) -> float:
        """Slowest flow the pump can run, uL/min."""
        return MIN_RPM * self.calibration_ul_per_rev

    @property
    def max_rate(self) -> float:
        """Fastest flow the pump can run, uL/min."""
        return self.max_rpm_value * self.calibration_ul_per_rev

    def check_rate(self, rate_ul_min: float) -> None:
        """Refuse a rate the pump cannot turn.

        Raises:
            FluidicsValueError: naming ``rate_ul_min`` and the allowed range.
        """
        if not math.isfinite(rate_ul_min) or not (self.min_rate <= rate_ul_min <= self.max_rate):
            raise FluidicsValueError(
                f"{self.name}: rate_ul_min {rate_ul_min:g} is outside the pump's range "
                f"{self.min_rate:g}..{self.max_rate:g} uL/min "
                f"({MIN_RPM:g}..{self.max_rpm_value:g} rpm at "
                f"{self.calibration_ul_per_rev:g} uL/rev)"
            )

    def check_flow(self, flow: Flow) -> None:
        """Refuse a flow the pump cannot run (nothing is sent).

        Raises:
            FluidicsValueError: naming the field and the allowed range.
        """
        if not isinstance(flow, Flow):
            raise FluidicsValueError(f"{self.name}: set() takes a Flow, got {flow!r}")
        if (flow.volume_ul is None) == (flow.duration_s is None):
            raise FluidicsValueError(
                f"{self.name}: a flow needs exactly one of volume_ul and duration_s"
            )
        if flow.volume_ul is not None and not (
            math.isfinite(flow.volume_ul) and flow.volume_ul > 0
        ):
            raise FluidicsValueError(
                f"{self.name}: volume_ul must be a number > 0 uL, got {flow.volume_ul:g}"
            )
        if flow.duration_s is not None and not (
            math.isfinite(flow.duration_s) and flow.duration_s > 0
        ):
            raise FluidicsValueError(
                f"{self.name}: duration_s must be a number > 0 s, got {flow.duration_s:g}"
            )
        self.check_rate(flow.rate_ul_min)

    # -- Movable / Stoppable ------------------------------------------------------------

    def set(self, value: Flow) -> AsyncStatus:
        """Run ``value`` (a volume or a time at a rate); the status ends once stopped.

        The status fails with :class:`FluidicsValueError` (nothing sent) for a flow
        outside the pump's range, :class:`PumpStoppedError` when the pump stops by
        itself or is stopped, and another :class:`FluidicsError` when the pump does
        not answer. In every case the pump is told to stop before the status ends.
        """
        return AsyncStatus(self._run_flow(value))

    def run_volume(
        self,
        volume_ul: float,
        rate_ul_min: float,
        direction: FlowDirection = FlowDirection.FORWARD,
    ) -> AsyncStatus:
        """Deliver ``volume_ul`` at ``rate_ul_min``."""
        return self.set(Flow(rate_ul_min=rate_ul_min, volume_ul=volume_ul, direction=direction))

    def run_time(
        self,
        duration_s: float,
        rate_ul_min: float,
        direction: FlowDirection = FlowDirection.FORWARD,
    ) -> AsyncStatus:
        """Run for ``duration_s`` at ``rate_ul_min``."""
        return self.set(Flow(rate_ul_min=rate_ul_min, duration_s=duration_s, direction=direction))

    async def stop(self, success: bool = True) -> None:
        """Stop the pump now (always allowed: stopping is the safe state).

        A flow in progress ends with :class:`PumpStoppedError` whatever ``success``
        says: a partial volume is never reported as delivered.
        """
        task = self._flow_task
        if task is not None and not task.done():
            self._stop_requested = True
            task.cancel()
            # wait for the flow to wind down; its own status reports how it ended
            await asyncio.wait({task}, timeout=5.0)
        await self.backend.stop()

    # -- the flow -----------------------------------------------------------------------

    async def _run_flow(self, flow: Flow) -> None:
        self.check_flow(flow)
        asked = flow.describe()
        self.owner.check(self.name, f"flow {asked}")
        if self._flow_task is not None and not self._flow_task.done():
            raise FluidicsError(f"{self.name}: already running a flow; stop it first")
        self._flow_task = asyncio.current_task()
        self._stop_requested = False
        rpm = flow.rate_ul_min / self.calibration_ul_per_rev
        started: float | None = None
        stop_at: float | None = None
        error: BaseException | None = None
        try:
            started = await self.backend.start(rpm, flow.direction)
            self._set_running(True)
            self._set_rate(
                flow.rate_ul_min if flow.direction is FlowDirection.FORWARD else -flow.rate_ul_min
            )
            deadline = started + flow.run_time_s
            await self._wait_while_running(flow, started, deadline - STOP_LEAD_S, asked)
            stop_at = deadline
        except asyncio.CancelledError as err:
            if not self._stop_requested:
                raise
            error = err
        except FluidicsError as err:
            error = err
        finally:
            stopped, stop_error = await self._stop_after_flow(stop_at)
            ran_s = 0.0 if started is None else max(0.0, stopped - started)
            delivered = flow.rate_ul_min * ran_s / 60.0
            total = await self.delivered_ul.get_value()
            sign = 1.0 if flow.direction is FlowDirection.FORWARD else -1.0
            self._set_delivered(total + sign * delivered)
            self._set_running(False)
            self._set_rate(0.0)
            self._flow_task = None
        if error is None and stop_error is not None:
            raise type(stop_error)(
                f"{self.name}: {asked} ran, but the stop afterwards failed: {stop_error}"
            ) from stop_error
        if error is not None:
            progress = f"after {ran_s:.2f} s, about {delivered:.1f} uL delivered"
            if isinstance(error, asyncio.CancelledError):
                new: FluidicsError = PumpStoppedError(
                    f"{self.name}: stopped on request while asked {asked}; {progress}"
                )
            elif isinstance(error, PumpStoppedError):
                new = error
            else:
                new = type(error)(f"{self.name}: asked {asked}: {error}; {progress}")
            if stop_error is not None:
                new.add_note(f"stopping {self.name} afterwards failed too: {stop_error}")
            raise new from (None if isinstance(error, asyncio.CancelledError) else error)

    async def _wait_while_running(
        self, flow: Flow, started: float, until: float, asked: str
    ) -> None:
        """Watch the running pump until ``until``, reading its status every poll."""
        next_check = started + self.status_poll_s
        while (now := time.monotonic()) < until:
            await asyncio.sleep(min(until, next_check) - now)
            now = time.monotonic()
            if next_check <= now < until:
                status = await self.backend.status()
                if not status.running:
                    ran_s = now - started
                    raise PumpStoppedError(
                        f"{self.name}: stopped by itself (overload or stalled tube?) while "
                        f"asked {asked}; after {ran_s:.2f} s, about "
                        f"{flow.rate_ul_min * ran_s / 60.0:.1f} uL delivered"
                    )
                next_check = now + self.status_poll_s

    async def _stop_after_flow(self, at_s: float | None) -> tuple[float, FluidicsError | None]:
        """Stop the pump at ``at_s`` (now if None) even when the flow task is cancelled.

        Returns:
            When the pump was told to stop (now, if that is not known), and the error
            stopping raised, if any.
        """
        try:
            return await asyncio.shield(self.backend.stop(at_s)), None
        except FluidicsError as err:
            return time.monotonic(), err
        except asyncio.CancelledError:
            # cancelled again while stopping: the shielded stop still completes
            return time.monotonic(), None
