"""Device backends on top of the Squid driver.

Each class implements one of the backend protocols the ophyd-async devices use
(:class:`~hcs_devices.stage.backend.AxisBackend`,
:class:`~hcs_devices.illumination.backend.IlluminationBackend`,
:class:`~hcs_devices.filterwheel.backend.FilterWheelBackend`,
:class:`~hcs_devices.camera.trigger_backend.CameraTriggerBackend`); they share one
:class:`~hcs_devices.squid.driver.SquidDriver`, so every command to the board goes
through its single writer. :func:`build_squid_backends` builds them all from a
:class:`~hcs_devices.squid.config.SquidConfig` and the stage's travel limits.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from hcs_devices.squid.config import (
    LED_MATRIX_CODES,
    AxisLimits,
    FilterWheelConfig,
    PiezoConfig,
    SquidConfig,
    TriggerConfig,
)
from hcs_devices.squid.driver import STAGE_AXES, SquidDriver
from hcs_devices.squid.protocol import Axis, Opcode, percent_to_uint16, uint8, uint16, uint32
from hcs_devices.stage.kinematics import move_duration_s

_TOLERANCE_UM = 1e-6


class SquidStageAxis:
    """One stage axis (X, Y or Z) of a Squid board; positions in micrometres.

    Targets outside ``limits`` are refused before anything is sent. The Z backlash
    habit (end every move moving up) is the stage device's job, for every backend
    alike (``hcs_devices.stage.Axis``).

    Args:
        driver: the board's driver.
        axis: ``"x"``, ``"y"`` or ``"z"``.
        limits: soft limits and speed of the axis.
    """

    def __init__(
        self,
        driver: SquidDriver,
        axis: Literal["x", "y", "z"],
        limits: AxisLimits,
    ) -> None:
        if axis not in STAGE_AXES:
            raise ValueError(f"axis must be one of x, y, z, got {axis!r}")
        self._driver = driver
        self.name = axis
        self.axis = STAGE_AXES[axis]
        self.limits = limits
        self._cfg = driver.config.axis(axis)

    @property
    def um_per_ustep(self) -> float:
        """Resolution of the axis: travel of one microstep, um."""
        return self._cfg.um_per_ustep

    async def connect(self) -> None:
        """Connect the board (idempotent)."""
        await self._driver.connect()

    async def move_to(self, target_um: float, timeout_s: float | None) -> None:
        """Move to an absolute position and return once there.

        Args:
            target_um: the position, um, within the soft limits.
            timeout_s: time allowed for the whole move (None: from distance and speed).

        Raises:
            ValueError: when the target is outside the soft limits (nothing is sent).
            TimeoutError: when the axis does not arrive in time.
        """
        if not math.isfinite(target_um) or not (
            self.limits.low_um - _TOLERANCE_UM <= target_um <= self.limits.high_um + _TOLERANCE_UM
        ):
            raise ValueError(
                f"{self.name}: target {target_um} um is outside the soft limits "
                f"{self.limits.low_um}..{self.limits.high_um} um; nothing was sent"
            )
        target_um = min(max(target_um, self.limits.low_um), self.limits.high_um)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        await self._driver.move_to_usteps(
            self.axis, self._cfg.um_to_usteps(target_um), timeout_s=_left(deadline)
        )

    async def move_by(self, distance_um: float, timeout_s: float | None = None) -> None:
        """Move by a distance (sent as an absolute target, so a resend cannot repeat it).

        Raises:
            ValueError: when the target is outside the soft limits.
        """
        await self.move_to(await self.position_um() + distance_um, timeout_s)

    async def stop(self) -> None:
        """Stop the axis now; a move in progress raises SquidMoveStoppedError."""
        await self._driver.stop(self.axis)

    async def position_um(self) -> float:
        """The reported position, um (updated every 10 ms, also mid-move)."""
        return self.position_now()

    def position_now(self) -> float:
        """The last reported position, um, without waiting."""
        return self._cfg.usteps_to_um(self._driver.position_usteps(self.axis))

    def move_time_s(self, distance_um: float) -> float:
        """Expected duration of a move of this distance, s."""
        v, a = self.limits.max_velocity_um_s, self.limits.max_acceleration_um_s2
        return move_duration_s(distance_um, v, a)


def _left(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the move's time ran out before its final approach")
    return left


class SquidPiezo:
    """The objective piezo on a DAC channel of the board; positions in micrometres.

    The board has no piezo readback: the position is the last one commanded, reached
    ``settle_s`` after the DAC write. The board's INITIALIZE sets the DAC to 0.

    Args:
        driver: the board's driver.
        config: DAC channel, range and settling time.
    """

    def __init__(self, driver: SquidDriver, config: PiezoConfig) -> None:
        self._driver = driver
        self.config = config
        self._position_um = 0.0

    @property
    def low_um(self) -> float:
        """Lowest position, um."""
        return 0.0

    @property
    def high_um(self) -> float:
        """Highest position (full DAC scale), um."""
        return self.config.range_um

    async def connect(self) -> None:
        """Connect the board (idempotent)."""
        await self._driver.connect()

    async def move_to(self, target_um: float, timeout_s: float | None) -> None:
        """Set the piezo position and wait for it to settle.

        Raises:
            ValueError: when the target is outside 0..range_um (nothing is sent).
        """
        if not math.isfinite(target_um) or not 0.0 <= target_um <= self.config.range_um:
            raise ValueError(
                f"piezo: target {target_um} um is outside 0..{self.config.range_um} um; "
                "nothing was sent"
            )
        value = round(target_um / self.config.range_um * 0xFFFF)
        await self._driver.execute(
            Opcode.ANALOG_WRITE_ONBOARD_DAC,
            uint8(self.config.dac_channel) + uint16(value),
            timeout_s=timeout_s,
        )
        self._position_um = value / 0xFFFF * self.config.range_um
        if self.config.settle_s > 0:
            await asyncio.sleep(self.config.settle_s)

    async def stop(self) -> None:
        """Nothing to stop: a DAC write is immediate."""

    async def position_um(self) -> float:
        """The last commanded position, um."""
        return self._position_um

    def move_time_s(self, distance_um: float) -> float:
        """The settling time, whatever the distance, s."""
        return self.config.settle_s


class SquidIllumination:
    """Light sources wired to the board, addressed by name.

    Args:
        driver: the board's driver.
        sources: source name -> board source code (LED matrix 0..8, TTL ports 11..15).
        led_matrix_color: LED matrix (red, green, blue) at 100 %, each 0..1.
    """

    def __init__(
        self,
        driver: SquidDriver,
        sources: Mapping[str, int],
        led_matrix_color: tuple[float, float, float] = (1.0, 1.0, 1.0),
    ) -> None:
        self._driver = driver
        self.sources = dict(sources)
        self.led_matrix_color = led_matrix_color
        self._selected: str | None = None
        self._on = False
        self.intensity_percent = 0.0

    @property
    def selected(self) -> str | None:
        """The selected source's name, if any."""
        return self._selected

    @property
    def is_on(self) -> bool:
        """Whether the selected source was last switched on by this backend."""
        return self._on

    async def connect(self) -> None:
        """Connect the board (idempotent)."""
        await self._driver.connect()

    async def select(self, source: str, intensity_percent: float) -> None:
        """Select a source and set its intensity; a different source starts off.

        Raises:
            ValueError: for an unknown source or an intensity outside 0..100 %.
        """
        if source not in self.sources:
            raise ValueError(
                f"unknown illumination source {source!r}; known: {', '.join(self.sources)}"
            )
        if not 0.0 <= intensity_percent <= 100.0:
            raise ValueError(f"intensity must be in 0..100 %, got {intensity_percent}")
        if self._on and source != self._selected:
            await self.set_on(False)
        code = self.sources[source]
        if code in LED_MATRIX_CODES:
            r, g, b = (round(c * intensity_percent / 100.0 * 255) for c in self.led_matrix_color)
            payload = uint8(code) + uint8(g) + uint8(r) + uint8(b)
            await self._driver.execute(Opcode.SET_ILLUMINATION_LED_MATRIX, payload)
        else:
            payload = uint8(code) + uint16(percent_to_uint16(intensity_percent))
            await self._driver.execute(Opcode.SET_ILLUMINATION, payload)
        self._selected = source
        self.intensity_percent = intensity_percent

    async def set_on(self, on: bool) -> None:
        """Switch the selected source on or off.

        Raises:
            RuntimeError: when switching on with no source selected.
        """
        if on and self._selected is None:
            raise RuntimeError("select() a source before switching illumination on")
        opcode = Opcode.TURN_ON_ILLUMINATION if on else Opcode.TURN_OFF_ILLUMINATION
        await self._driver.execute(opcode)
        self._on = on

    async def all_off(self) -> None:
        """Switch the selected source and every TTL port off."""
        await self._driver.all_illumination_off()
        self._on = False


class SquidFilterWheel:
    """The filter wheel on the board's W (or W2) axis; positions numbered from 1.

    The board does not report wheel positions: the position is the last one reached.

    Args:
        driver: the board's driver.
        config: number of positions and mechanics.
    """

    def __init__(self, driver: SquidDriver, config: FilterWheelConfig) -> None:
        self._driver = driver
        self.config = config
        self.axis = Axis.W if config.axis == "w" else Axis.W2
        self.n_positions = config.positions

    async def connect(self) -> None:
        """Connect the board and initialise (home) the wheel if needed (idempotent)."""
        await self._driver.connect()
        if not self._driver.wheel_initialised(self.axis):
            await self._driver.init_filter_wheel(self.axis)

    async def move_to(self, position: int) -> None:
        """Move to a position (1..n_positions) and return once there.

        Raises:
            ValueError: for a position outside 1..n_positions (nothing is sent).
        """
        if not 1 <= position <= self.n_positions:
            raise ValueError(
                f"filter wheel position must be in 1..{self.n_positions}, got {position}"
            )
        if not self._driver.wheel_initialised(self.axis):
            await self._driver.init_filter_wheel(self.axis)
        target = (position - 1) * self.config.usteps_per_position
        await self._driver.move_to_usteps(self.axis, target)

    async def position(self) -> int:
        """The current position (1 after initialisation)."""
        return self.position_now()

    def position_now(self) -> int:
        """The current position, without waiting."""
        usteps = self._driver.position_usteps(self.axis)
        return round(usteps / self.config.usteps_per_position) + 1


class SquidCameraTrigger:
    """The board's hardware trigger line to a camera.

    Args:
        driver: the board's driver.
        config: which trigger output.
    """

    def __init__(self, driver: SquidDriver, config: TriggerConfig) -> None:
        self._driver = driver
        self.config = config

    async def connect(self) -> None:
        """Connect the board (idempotent)."""
        await self._driver.connect()

    async def trigger(self, illumination_on_time_us: int, control_illumination: bool) -> None:
        """Send one trigger pulse (never resent blindly: a resend could expose twice).

        Args:
            illumination_on_time_us: how long the board keeps illumination on, us.
            control_illumination: whether the board strobes the selected source.

        Raises:
            ValueError: for an on-time outside 0..2^32-1 us.
        """
        if not 0 <= illumination_on_time_us <= 2**32 - 1:
            raise ValueError(
                f"illumination_on_time_us must be in 0..{2**32 - 1}, got {illumination_on_time_us}"
            )
        channel = self.config.camera_channel | (0x80 if control_illumination else 0)
        await self._driver.execute(
            Opcode.SEND_HARDWARE_TRIGGER, uint8(channel) + uint32(illumination_on_time_us)
        )


@dataclass
class SquidBackends:
    """Everything a Squid board drives, sharing one driver.

    Attributes:
        driver: the board's driver (close it with :meth:`close`).
        x: stage X.
        y: stage Y.
        z: stage Z (focus).
        piezo: objective piezo, or None when not fitted.
        illumination: light sources by name.
        filter_wheel: filter wheel, or None when not fitted.
        trigger: camera trigger line.
    """

    driver: SquidDriver
    x: SquidStageAxis
    y: SquidStageAxis
    z: SquidStageAxis
    piezo: SquidPiezo | None
    illumination: SquidIllumination
    filter_wheel: SquidFilterWheel | None
    trigger: SquidCameraTrigger

    async def connect(self) -> None:
        """Open the board and run its start-up sequence (idempotent)."""
        await self.driver.connect()
        if self.filter_wheel is not None:
            await self.filter_wheel.connect()

    async def close(self) -> None:
        """Switch illumination off, stop the driver's threads and close the port."""
        await self.driver.close()


def build_squid_backends(config: SquidConfig, axes: Mapping[str, AxisLimits]) -> SquidBackends:
    """Build the driver and every backend of one Squid board (nothing is opened yet).

    Args:
        config: the ``squid:`` section of the microscope configuration.
        axes: ``"x"``, ``"y"``, ``"z"`` -> travel limits and speeds from the stage
            configuration.

    Returns:
        The backends; call ``connect()`` on any of them (or on the result) to open the
        board, and ``close()`` on the result when done.

    Raises:
        ValueError: when an axis is missing from ``axes``.
    """
    missing = sorted(set(STAGE_AXES) - set(axes))
    if missing:
        raise ValueError(f"axis limits missing for {', '.join(missing)}; need x, y and z")
    driver = SquidDriver(config, {name: axes[name] for name in STAGE_AXES})
    return SquidBackends(
        driver=driver,
        x=SquidStageAxis(driver, "x", axes["x"]),
        y=SquidStageAxis(driver, "y", axes["y"]),
        z=SquidStageAxis(driver, "z", axes["z"]),
        piezo=SquidPiezo(driver, config.piezo) if config.piezo.enabled else None,
        illumination=SquidIllumination(
            driver, config.illumination_sources, config.led_matrix_color
        ),
        filter_wheel=(
            SquidFilterWheel(driver, config.filter_wheel) if config.filter_wheel.enabled else None
        ),
        trigger=SquidCameraTrigger(driver, config.trigger),
    )
