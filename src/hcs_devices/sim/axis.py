"""A simulated axis: moves take the time a trapezoidal velocity profile gives."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass

from hcs_devices.config.models import AxisConfig
from hcs_devices.stage.kinematics import MoveProfile, move_duration_s, plan_move
from hcs_devices.timing import LOOP_TIMER_RESOLUTION_S, sleep_precisely

#: Move targets an axis keeps (a plate of 1536 wells moves the stage about 10,000 times).
MOVES_KEPT = 1000


class MoveLog:
    """The targets of an axis's moves: how many there were, and the latest ones.

    A long run moves an axis once per field of view and more: the log keeps a count of
    them all and only the last ``keep`` targets, so memory stays flat however long the
    simulated microscope runs.

    Args:
        keep: how many of the latest targets to keep.
    """

    def __init__(self, keep: int = MOVES_KEPT) -> None:
        self.count = 0
        self._latest: deque[float] = deque(maxlen=keep)

    def append(self, target_um: float) -> None:
        """Log a move to ``target_um``."""
        self.count += 1
        self._latest.append(target_um)

    @property
    def last(self) -> float | None:
        """The latest target, if the axis ever moved."""
        return self._latest[-1] if self._latest else None

    def since(self, count: int) -> list[float]:
        """The targets of the moves after the first ``count``, in order.

        Raises:
            ValueError: when some of them are no longer kept.
        """
        newer = self.count - count
        if not 0 <= newer <= len(self._latest):
            raise ValueError(
                f"moves since move {count} are not all kept: {self.count} moves, "
                f"the last {len(self._latest)} kept"
            )
        return list(self._latest)[len(self._latest) - newer :]


@dataclass(frozen=True)
class _Motion:
    start_um: float
    target_um: float
    t0: float
    profile: MoveProfile

    @property
    def duration_s(self) -> float:
        return self.profile.duration_s

    def position(self, t: float) -> float:
        """Position at absolute monotonic time ``t``."""
        if t - self.t0 >= self.duration_s:
            return self.target_um  # exactly, not start + distance
        travelled = self.profile.distance_at(t - self.t0)
        return self.start_um + math.copysign(travelled, self.target_um - self.start_um)


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
        self.moves = MoveLog()

    async def connect(self) -> None:
        """Nothing to open."""

    def move_time_s(self, distance_um: float) -> float:
        """Time a move of this length takes."""
        return move_duration_s(
            distance_um, self.config.max_velocity_um_s, self.config.max_acceleration_um_s2
        )

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

        The move's last millisecond (a move shorter than the event loop's timer
        resolution: all of it) is timed by :func:`~hcs_devices.timing.sleep_precisely`,
        so that a move is not a millisecond longer than its profile.
        """
        start = self.position_now()
        target = min(max(target_um, self.config.low_limit_um), self.config.high_limit_um)
        profile = plan_move(
            target - start, self.config.max_velocity_um_s, self.config.max_acceleration_um_s2
        )
        self.moves.append(target)
        self._stopped = asyncio.Event()
        motion = _Motion(start, target, time.monotonic(), profile)
        duration = math.inf if self.stalled else motion.duration_s
        if not self.stalled:
            self._motion = motion
        limit = duration if timeout_s is None else min(duration, timeout_s)
        if duration < LOOP_TIMER_RESOLUTION_S:
            await sleep_precisely(duration)
            self._position = target
            self._motion = None
            return
        stopped = self._stopped
        try:
            coarse_s = limit - LOOP_TIMER_RESOLUTION_S  # the loop's timer, then precisely
            async with asyncio.timeout(None if math.isinf(limit) else coarse_s):
                await stopped.wait()
            return  # stopped early: stop() froze the position
        except TimeoutError:
            await sleep_precisely(motion.t0 + limit - time.monotonic())
        if stopped.is_set():
            return  # stopped in the last millisecond
        if duration > limit:
            self._freeze()
            raise TimeoutError(f"axis did not reach {target:.3f} um within {limit:.1f} s")
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
