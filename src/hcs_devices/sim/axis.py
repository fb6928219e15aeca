"""A simulated axis: moves take the time a trapezoidal velocity profile gives."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from hcs_devices.config.models import AxisConfig
from hcs_devices.timing import LOOP_TIMER_RESOLUTION_S, sleep_precisely


@dataclass(frozen=True)
class _Motion:
    start_um: float
    target_um: float
    t0: float
    accel_time_s: float
    cruise_time_s: float
    peak_velocity_um_s: float
    acceleration_um_s2: float

    @property
    def duration_s(self) -> float:
        return 2 * self.accel_time_s + self.cruise_time_s

    def position(self, t: float) -> float:
        """Position at absolute monotonic time ``t``."""
        dt = t - self.t0
        sign = 1.0 if self.target_um >= self.start_um else -1.0
        a, ta, tc, vp = (
            self.acceleration_um_s2,
            self.accel_time_s,
            self.cruise_time_s,
            self.peak_velocity_um_s,
        )
        if dt <= 0:
            return self.start_um
        if dt >= self.duration_s:
            return self.target_um
        if dt < ta:
            travelled = 0.5 * a * dt**2
        elif dt < ta + tc:
            travelled = 0.5 * a * ta**2 + vp * (dt - ta)
        else:
            left = self.duration_s - dt
            total = abs(self.target_um - self.start_um)
            travelled = total - 0.5 * a * left**2
        return self.start_um + sign * travelled


def trapezoid(
    distance_um: float, velocity_um_s: float, acceleration_um_s2: float
) -> tuple[float, float, float]:
    """(acceleration time, cruise time, peak velocity) for a move of ``distance_um``."""
    d = abs(distance_um)
    if d == 0:
        return 0.0, 0.0, 0.0
    ta = velocity_um_s / acceleration_um_s2
    if acceleration_um_s2 * ta**2 >= d:  # triangular profile: never reaches full speed
        ta = math.sqrt(d / acceleration_um_s2)
        return ta, 0.0, acceleration_um_s2 * ta
    return ta, (d - acceleration_um_s2 * ta**2) / velocity_um_s, velocity_um_s


class SimAxisBackend:
    """A simulated linear axis (stage or piezo).

    Args:
        config: limits and motion parameters of the axis.
        stalled: if true, moves never arrive (for fault tests).
    """

    def __init__(self, config: AxisConfig, *, stalled: bool = False) -> None:
        self.config = config
        self.stalled = stalled
        self._position = config.start_um
        self._motion: _Motion | None = None
        self._stopped = asyncio.Event()
        self.moves: list[float] = []

    async def connect(self) -> None:
        """Nothing to open."""

    def move_time_s(self, distance_um: float) -> float:
        """Time a move of this length takes."""
        ta, tc, _ = trapezoid(
            distance_um, self.config.max_velocity_um_s, self.config.max_acceleration_um_s2
        )
        return 2 * ta + tc

    def position_now(self) -> float:
        """The position now, computed from the motion in progress (without waiting)."""
        if self._motion is None:
            return self._position
        return self._motion.position(time.monotonic())

    async def position_um(self) -> float:
        """The position now, also mid-move."""
        return self.position_now()

    async def move_to(self, target_um: float, timeout_s: float | None) -> None:
        """Move and return on arrival (or on stop); raise TimeoutError when too slow.

        A move shorter than the event loop's timer resolution is timed by
        :func:`~hcs_devices.timing.sleep_precisely`.
        """
        start = self.position_now()
        target = min(max(target_um, self.config.low_limit_um), self.config.high_limit_um)
        ta, tc, vp = trapezoid(
            target - start, self.config.max_velocity_um_s, self.config.max_acceleration_um_s2
        )
        self.moves.append(target)
        self._stopped = asyncio.Event()
        motion = _Motion(
            start, target, time.monotonic(), ta, tc, vp, self.config.max_acceleration_um_s2
        )
        duration = math.inf if self.stalled else motion.duration_s
        if not self.stalled:
            self._motion = motion
        limit = duration if timeout_s is None else min(duration, timeout_s)
        if duration < LOOP_TIMER_RESOLUTION_S:
            await sleep_precisely(duration)
            self._position = target
            self._motion = None
            return
        try:
            async with asyncio.timeout(None if math.isinf(limit) else limit):
                await self._stopped.wait()
            return  # stopped early: stop() froze the position
        except TimeoutError:
            if duration > limit:
                self._freeze()
                raise TimeoutError(
                    f"axis did not reach {target:.3f} um within {limit:.1f} s"
                ) from None
        self._position = target
        self._motion = None

    def _freeze(self) -> None:
        self._position = self.position_now()
        self._motion = None

    async def stop(self) -> None:
        """Stop now; the position stays where the axis was."""
        if self._motion is not None:
            self._freeze()
        self._stopped.set()
