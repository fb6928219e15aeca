"""One linear axis as an ophyd-async movable: soft limits, backlash habit, stop."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import cached_property

from ophyd_async.core import (
    CALCULATE_TIMEOUT,
    AsyncStatus,
    CalculatableTimeout,
    MovableLogic,
    SignalR,
    SignalRW,
    StandardMovable,
    StandardReadable,
    StandardReadableFormat,
    TimeoutCalculator,
    WatchableAsyncStatus,
    WatcherUpdate,
)

from hcs_devices.connector import BackendConnector
from hcs_devices.memory_signals import (
    memory_signal_r_and_setter,
    memory_signal_rw,
    read_now,
    write_now,
)
from hcs_devices.ownership import DEFAULT_OWNER, HardwareOwner
from hcs_devices.stage.backend import AxisBackend

#: How often the readback follows the axis during a move.
READBACK_PERIOD_S = 0.05


class SoftLimitError(ValueError):
    """A target outside an axis's soft limits; nothing moved."""


@dataclass
class AxisMoveLogic(MovableLogic[float]):
    """Moves through an :class:`AxisBackend`, refusing targets outside the soft limits."""

    backend: AxisBackend
    low_limit: SignalR[float]
    high_limit: SignalR[float]
    readback_set: Callable[[float], None]
    owner: HardwareOwner
    axis_name: Callable[[], str]
    backlash_overshoot_um: float = 0.0
    tolerance_um: float = 0.01
    #: (target, position) of the last move that arrived, until anything else moves it.
    _arrival: tuple[float, float] | None = field(default=None, init=False)
    #: Stops so far (a move during which the axis was stopped did not arrive).
    _stops: int = field(default=0, init=False)

    def arrived_target(self) -> float | None:
        """The target of the last move if it arrived and nothing moved the axis since."""
        return None if self._arrival is None else self._arrival[0]

    async def stays_at(self, new_position: float) -> bool:
        """Whether ``new_position`` is where the axis last arrived, and it is still there.

        The axis must report the very position it arrived at: anything that moved it
        since (a joystick, a hardware sequence) makes this False.
        """
        if self._arrival is None or self._arrival[0] != new_position:
            return False
        return self._arrival == (new_position, await self.backend.position_um())

    async def check_move(self, new_position: float) -> None:
        """Refuse a target outside the soft limits, or any move while a run owns the stage."""
        self.owner.check(self.axis_name(), "set")
        # One after the other: soft signals answer at once, and a gather costs two tasks.
        low = await read_now(self.low_limit)
        high = await read_now(self.high_limit)
        if not low <= new_position <= high:
            raise SoftLimitError(
                f"{self.axis_name()}: target {new_position:.3f} um is outside the soft limits "
                f"[{low:.3f}, {high:.3f}] um; nothing moved"
            )

    async def calculate_timeout(self, old_position: float, new_position: float) -> float:
        """Twice the expected move time plus two seconds (backlash leg included)."""
        distance = abs(new_position - old_position) + 2 * self.backlash_overshoot_um
        return 2.0 * self.backend.move_time_s(distance) + 2.0

    async def stop(self) -> None:
        """Stop the axis and let the readback catch up."""
        self._arrival = None
        self._stops += 1
        await self.backend.stop()
        self._update(await self.backend.position_um())

    def _update(self, value: float) -> None:
        self.readback_set(value)

    async def move(self, new_position: float, timeout: TimeoutCalculator) -> None:
        """Move (ending upward when the backlash habit asks), following the readback.

        A move to the target the axis last arrived at, when the axis reports the very
        position it arrived at, commands nothing: the axis is there already.
        """
        await write_now(self.setpoint, new_position)
        current = await self.backend.position_um()
        if self._arrival == (new_position, current):
            return
        self._arrival = None
        legs = [new_position]
        if self.backlash_overshoot_um > 0 and new_position < current - self.tolerance_um:
            low = await read_now(self.low_limit)
            legs.insert(0, max(low, new_position - self.backlash_overshoot_um))
        travel_um = sum(abs(b - a) for a, b in itertools.pairwise([current, *legs]))
        # The readback follows a move that lasts long enough for anyone to watch it.
        follower = (
            asyncio.create_task(self._follow())
            if self.backend.move_time_s(travel_um) > READBACK_PERIOD_S
            else None
        )
        arrived = False
        stops = self._stops
        try:
            for target in legs:
                await self.backend.move_to(target, timeout())
            arrived = self._stops == stops
        except BaseException:
            await self.backend.stop()
            raise
        finally:
            if follower is not None:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower
            position = await self.backend.position_um()
            self._update(position)
            self._arrival = (new_position, position) if arrived else None

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(READBACK_PERIOD_S)
            self._update(await self.backend.position_um())


class Axis(StandardReadable, StandardMovable[float]):
    """A linear axis in micrometres (stage X, Y, Z or the objective piezo).

    Args:
        backend: what drives the axis (simulated or real hardware).
        low_limit_um: lower soft limit.
        high_limit_um: upper soft limit.
        backlash_overshoot_um: if above zero, moves downward overshoot by this much and
            come back up, so every move ends moving up.
        owner: who may command the hardware now.
        name: device name.
    """

    def __init__(
        self,
        backend: AxisBackend,
        *,
        low_limit_um: float,
        high_limit_um: float,
        initial_um: float = 0.0,
        backlash_overshoot_um: float = 0.0,
        owner: HardwareOwner = DEFAULT_OWNER,
        name: str = "",
    ) -> None:
        self.backend = backend
        self._owner = owner
        self._backlash = backlash_overshoot_um
        with self.add_children_as_readables(StandardReadableFormat.HINTED_SIGNAL):
            self.user_readback, self._readback_set = memory_signal_r_and_setter(
                float, initial_um, units="um", precision=3
            )
        with self.add_children_as_readables(StandardReadableFormat.CONFIG_SIGNAL):
            self.low_limit_um = memory_signal_rw(float, low_limit_um, units="um")
            self.high_limit_um = memory_signal_rw(float, high_limit_um, units="um")
        self.user_setpoint: SignalRW[float] = memory_signal_rw(float, initial_um, units="um")
        #: The readback's units and precision, read once (they do not change).
        self._units_precision: tuple[str | None, int | None] | None = None
        #: ``stop(success)``'s argument while a stop ends the move under way.
        self._stop_asked: bool | None = None
        self._move_status: AsyncStatus | None = None
        super().__init__(name=name, connector=BackendConnector(self._connect_backend))

    @cached_property
    def movable_logic(self) -> AxisMoveLogic:
        """How this axis moves."""
        return AxisMoveLogic(
            setpoint=self.user_setpoint,
            readback=self.user_readback,
            backend=self.backend,
            low_limit=self.low_limit_um,
            high_limit=self.high_limit_um,
            readback_set=self._readback_set,
            owner=self._owner,
            axis_name=lambda: self.name or "axis",
            backlash_overshoot_um=self._backlash,
        )

    def set(  # type: ignore[override]
        self, new_position: float, timeout: CalculatableTimeout = CALCULATE_TIMEOUT
    ) -> WatchableAsyncStatus[float]:
        """Move to ``new_position`` (micrometres).

        A move to where the axis last arrived, while it is still there, is checked
        (ownership, soft limits) and done at once. A plan asks for one at every field
        of view, so that a replay after a pause goes back there, and moves between
        fields follow at the same rate: both cost little more than their checks
        (``StandardMovable.set``'s general machinery cost 0.8 ms of CPU per move).

        A stop asked for once the move is asked for, even before its task first runs
        (an abort or a pause right after the RunEngine sent the move), ends the move:
        nothing moves then.
        """
        self._stop_asked = None
        return WatchableAsyncStatus(self._move(new_position, timeout), name=self.name)

    async def _move(
        self, new_position: float, timeout: CalculatableTimeout
    ) -> AsyncIterator[WatcherUpdate[float]]:
        """The move as ``StandardMovable.set`` makes it, its readback updates polled.

        Updates come at the start, every ``READBACK_PERIOD_S`` while the axis moves
        (the readback follows it at that rate), and on arrival; a stop ends the move
        as ``StandardMovable`` does: quietly with ``success=True``, else with an error.
        """
        logic = self.movable_logic
        start = await self._start_move(new_position, timeout)
        if start is None:
            return
        initial, time_left = start
        if self._units_precision is None:
            self._units_precision = await logic.get_units_precision()
        unit, precision = self._units_precision

        def update(current: float) -> WatcherUpdate[float]:
            return WatcherUpdate(
                current=current,
                initial=initial,
                target=new_position,
                name=self.name,
                unit=unit,
                precision=precision,
            )

        yield update(initial)
        if self._stop_asked is not None:  # stopped before the motion began
            self._raise_if_stopped()
            return
        status = self._move_status = AsyncStatus(
            logic.move(new_position=new_position, timeout=time_left)
        )
        try:
            while not status.done:
                await asyncio.wait([status.task], timeout=READBACK_PERIOD_S)
                if not status.done:
                    yield update(await read_now(self.user_readback))
            await status
        except asyncio.CancelledError:
            if self._stop_asked is None:
                raise
        finally:
            self._move_status = None
            if not status.done:
                status.task.cancel()
        yield update(await read_now(self.user_readback))
        self._raise_if_stopped()

    async def move_to(
        self, new_position: float, timeout: CalculatableTimeout = CALCULATE_TIMEOUT
    ) -> None:
        """Move as :meth:`set` does, awaited in place: for device code on the RunEngine's loop.

        The same checks (ownership, soft limits), backlash, timeout and stop, without a
        status or watchers: a software sequencer moves the focus this way at every frame.

        Raises:
            SoftLimitError: when the target is outside the soft limits (nothing moves).
            RuntimeError: when a stop that was not a success ended the move.
        """
        self._stop_asked = None
        start = await self._start_move(new_position, timeout)
        if start is None:
            return
        _, time_left = start
        await self.movable_logic.move(new_position=new_position, timeout=time_left)
        self._raise_if_stopped()

    async def _start_move(
        self, new_position: float, timeout: CalculatableTimeout
    ) -> tuple[float, Callable[[], float | None]] | None:
        """Check a move: None when the axis is there already.

        Otherwise where the axis starts, and a function giving the time left before the
        move's deadline (the move's timeout, counted from the function's first call:
        when the hardware is first commanded).
        """
        logic = self.movable_logic
        await logic.check_move(new_position)
        if await logic.stays_at(new_position):
            return None
        initial = await read_now(self.user_readback)
        move_timeout = (
            await logic.calculate_timeout(initial, new_position)
            if timeout == CALCULATE_TIMEOUT
            else timeout
        )
        deadline: float | None = None

        def time_left() -> float | None:
            # Counted from the first command to the hardware: the time the event loop
            # takes to get there (a busy machine, a pause) is not the axis being slow.
            nonlocal deadline
            if move_timeout is None:
                return None
            if deadline is None:
                deadline = time.monotonic() + move_timeout
            return max(0.0, deadline - time.monotonic())

        return initial, time_left

    def _raise_if_stopped(self) -> None:
        """End a move as ``StandardMovable`` does: an error if a stop without success ended it.

        The stop asked for during the move is forgotten then.
        """
        stopped, self._stop_asked = self._stop_asked, None
        if stopped is False:
            raise RuntimeError(f"Device {self.name} was stopped.")

    async def stop(self, success: bool = False) -> None:
        """Stop now; a move under way ends quietly with ``success``, else with an error."""
        self._stop_asked = success
        await self.movable_logic.stop()
        if self._move_status is not None:
            self._move_status.task.cancel()

    def arrived_at(self, target_um: float) -> bool:
        """Whether this axis's last move went to ``target_um`` and arrived, unstopped.

        A move started or a stop since makes it False. Motion commanded around this
        device (a hardware sequence driving the backend directly) is not seen: ask only
        about axes nothing else drives.
        """
        return self.movable_logic.arrived_target() == target_um

    async def _connect_backend(self) -> None:
        await self.backend.connect()
        await self.refresh_position()

    async def refresh_position(self) -> None:
        """Read the backend's position into the readback (after hardware moved the axis)."""
        position = await self.backend.position_um()
        self._readback_set(position)
        await write_now(self.user_setpoint, position)
