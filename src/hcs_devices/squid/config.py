"""Configuration of a Squid microcontroller board: the ``squid:`` section of a microscope file.

Everything here describes the board and the mechanics behind it (lead screws,
microstepping, light source wiring, timeouts). Travel limits and speeds belong to the
stage configuration and reach the driver as :class:`AxisLimits`.

Units: positions and distances in micrometres (``_um``) except lead screw pitches in
millimetres (``_mm``, as on the datasheets); speeds in mm/s and mm/s^2 where the board
takes them so; times in seconds (``_s``); currents in milliamperes (``_ma``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MICROSTEPPING_VALUES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
"""Microstepping settings the stepper drivers accept."""

DEFAULT_ILLUMINATION_SOURCES: dict[str, int] = {
    "led_matrix_full": 0,
    "led_matrix_left_half": 1,
    "led_matrix_right_half": 2,
    "405": 11,
    "488": 12,
    "561": 14,
    "638": 13,
    "730": 15,
}
"""Source name -> board source code of a typical HCS build (lasers on TTL ports D1..D5)."""

LED_MATRIX_CODES = range(0, 9)
"""Source codes that are LED matrix patterns."""

VALID_SOURCE_CODES = frozenset([*LED_MATRIX_CODES, 11, 12, 13, 14, 15, 20])
"""Source codes the board knows: LED matrix 0..8, TTL ports 11..15, external FET 20."""


def _check_microstepping(field: str, value: int) -> int:
    if value not in MICROSTEPPING_VALUES:
        raise ValueError(
            f"{field} must be one of {', '.join(map(str, MICROSTEPPING_VALUES))}, got {value}"
        )
    return value


class StageAxisConfig(BaseModel):
    """Mechanics and driver settings of one stage axis (X, Y or Z)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_screw_pitch_mm: float = Field(
        gt=0.0, le=65.0, description="Travel per motor revolution, mm (X/Y 2.54, Z 0.3)."
    )
    microstepping: int = Field(
        default=256, description="Microsteps per full step: 1, 2, 4, ..., 256."
    )
    full_steps_per_rev: int = Field(
        default=200, ge=1, le=10000, description="Full steps per motor revolution."
    )
    sign: Literal[1, -1] = Field(
        default=1, description="+1 or -1: direction of the motor relative to the stage axis."
    )
    rms_current_ma: int = Field(
        default=1000, ge=0, le=65535, description="Stepper driver RMS current, mA."
    )
    hold_current_fraction: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Holding current as a fraction of RMS, 0..1."
    )
    max_velocity_mm_s: float = Field(
        default=30.0,
        gt=0.0,
        le=655.0,
        description="Default top speed, mm/s (the stage configuration's value wins).",
    )
    max_acceleration_mm_s2: float = Field(
        default=500.0,
        gt=0.0,
        le=6553.0,
        description="Default acceleration, mm/s^2 (the stage configuration's value wins).",
    )
    home_direction: Literal["negative", "positive"] = Field(
        default="negative", description="Which limit switch homing drives to."
    )
    home_safety_margin_um: int = Field(
        default=0, ge=0, le=65535, description="Distance kept from the switch after homing, um."
    )
    limit_switch_polarity: Literal["active_low", "active_high", "disabled"] = Field(
        default="active_high", description="Electrical polarity of the limit switches."
    )

    @field_validator("microstepping")
    @classmethod
    def _microstepping(cls, value: int) -> int:
        return _check_microstepping("microstepping", value)

    @property
    def usteps_per_mm(self) -> float:
        """Microsteps per millimetre of travel (unsigned)."""
        return self.microstepping * self.full_steps_per_rev / self.lead_screw_pitch_mm

    @property
    def um_per_ustep(self) -> float:
        """Travel of one microstep, um (unsigned)."""
        return 1000.0 / self.usteps_per_mm

    def um_to_usteps(self, position_um: float) -> int:
        """A stage position in um as the board's signed microsteps (nearest step)."""
        return round(position_um / 1000.0 * self.usteps_per_mm * self.sign)

    def usteps_to_um(self, usteps: int) -> float:
        """The board's signed microsteps as a stage position in um."""
        return usteps * self.sign * 1000.0 / self.usteps_per_mm


class FilterWheelConfig(BaseModel):
    """The filter wheel on the board's W (or W2) axis."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Whether a wheel is fitted.")
    axis: Literal["w", "w2"] = Field(default="w", description="Board axis driving the wheel.")
    positions: int = Field(default=8, ge=2, le=32, description="Number of filter positions.")
    microstepping: int = Field(default=64, description="Microsteps per full step: 1..256.")
    full_steps_per_rev: int = Field(default=200, ge=1, le=10000, description="Full steps/rev.")
    lead_screw_pitch_mm: float = Field(
        default=1.0, gt=0.0, le=65.0, description="Nominal travel per revolution, mm."
    )
    rms_current_ma: int = Field(default=900, ge=0, le=65535, description="RMS current, mA.")
    max_velocity_mm_s: float = Field(
        default=3.19, gt=0.0, le=655.0, description="Top speed, mm/s (board units)."
    )
    max_acceleration_mm_s2: float = Field(
        default=300.0, gt=0.0, le=6553.0, description="Acceleration, mm/s^2 (board units)."
    )
    init_timeout_s: float = Field(
        default=15.0, gt=0.0, le=600.0, description="Time allowed for the homing at init, s."
    )

    @field_validator("microstepping")
    @classmethod
    def _microstepping(cls, value: int) -> int:
        return _check_microstepping("microstepping", value)

    @property
    def usteps_per_position(self) -> int:
        """Microsteps between neighbouring filter positions (one revolution per turn)."""
        return round(self.microstepping * self.full_steps_per_rev / self.positions)


class PiezoConfig(BaseModel):
    """The objective piezo, driven by an on-board DAC channel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Whether a piezo is fitted.")
    dac_channel: int = Field(default=7, ge=0, le=7, description="DAC channel, 0..7.")
    range_um: float = Field(
        default=300.0, gt=0.0, le=10000.0, description="Travel at full DAC scale, um."
    )
    settle_s: float = Field(
        default=0.01, ge=0.0, le=5.0, description="Time to wait after a DAC write, s."
    )


class TriggerConfig(BaseModel):
    """The camera trigger line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_channel: int = Field(default=0, ge=0, le=3, description="Trigger output, 0..3.")
    strobe_delay_us: int | None = Field(
        default=None, ge=0, le=2**32 - 1, description="Strobe delay sent at start-up, us."
    )
    mode: Literal["edge", "level"] = Field(default="edge", description="Trigger mode.")


def _default_x() -> StageAxisConfig:
    return StageAxisConfig(lead_screw_pitch_mm=2.54)


def _default_z() -> StageAxisConfig:
    return StageAxisConfig(
        lead_screw_pitch_mm=0.3,
        sign=-1,
        rms_current_ma=500,
        max_velocity_mm_s=3.8,
        max_acceleration_mm_s2=100.0,
    )


class SquidConfig(BaseModel):
    """One Squid microcontroller board and what is wired to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: str = Field(
        min_length=1,
        description="Serial device path, preferably /dev/serial/by-id/usb-Teensyduino_...",
    )
    baudrate: int = Field(
        default=2_000_000, ge=9600, le=12_000_000, description="Nominal baud rate (CDC: unused)."
    )
    x: StageAxisConfig = Field(default_factory=_default_x, description="Stage X axis.")
    y: StageAxisConfig = Field(default_factory=_default_x, description="Stage Y axis.")
    z: StageAxisConfig = Field(default_factory=_default_z, description="Stage Z (focus) axis.")
    filter_wheel: FilterWheelConfig = Field(
        default_factory=FilterWheelConfig, description="Filter wheel on W."
    )
    piezo: PiezoConfig = Field(default_factory=PiezoConfig, description="Objective piezo.")
    trigger: TriggerConfig = Field(default_factory=TriggerConfig, description="Camera trigger.")
    illumination_sources: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_ILLUMINATION_SOURCES),
        description="Source name -> board source code (LED matrix 0..8, ports 11..15, 20).",
    )
    led_matrix_color: tuple[float, float, float] = Field(
        default=(1.0, 1.0, 1.0),
        description="LED matrix colour (red, green, blue) at 100 %, each 0..1.",
    )
    intensity_factor_percent: int = Field(
        default=100, ge=0, le=100, description="Board-wide illumination intensity factor, %."
    )
    home_on_connect: tuple[Literal["x", "y", "z"], ...] = Field(
        default=("z", "x", "y"),
        description="Axes homed at start-up, in order (empty: none; positions then "
        "start wherever the board says).",
    )
    watchdog_timeout_s: float | None = Field(
        default=5.0,
        gt=0.0,
        le=3600.0,
        description="Illumination goes off when the host is silent this long, s "
        "(None: no watchdog, no heartbeat).",
    )
    resend_timeout_s: float = Field(
        default=0.5, gt=0.0, le=10.0, description="Resend a command with no reply after, s."
    )
    max_resends: int = Field(default=5, ge=0, le=50, description="Resends before giving up.")
    min_move_timeout_s: float = Field(
        default=3.0, gt=0.0, le=600.0, description="Shortest time allowed for a move, s."
    )
    move_timeout_factor: float = Field(
        default=3.0, ge=1.0, le=100.0, description="Move timeout = this x expected move time."
    )
    home_timeout_s: float = Field(
        default=30.0, gt=0.0, le=600.0, description="Time allowed for homing one axis, s."
    )
    reset_settle_s: float = Field(
        default=0.5, ge=0.0, le=10.0, description="Wait after RESET and INITIALIZE, s."
    )
    reconnect_timeout_s: float = Field(
        default=10.0,
        ge=0.0,
        le=600.0,
        description="How long a command waits for a vanished port to come back, s.",
    )

    @field_validator("illumination_sources")
    @classmethod
    def _sources(cls, value: dict[str, int]) -> dict[str, int]:
        for name, code in value.items():
            if code not in VALID_SOURCE_CODES:
                raise ValueError(
                    f"source {name!r} has code {code}; allowed codes are 0..8 (LED matrix), "
                    "11..15 (ports D1..D5) and 20 (external FET)"
                )
        return value

    @field_validator("led_matrix_color")
    @classmethod
    def _color(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        for component in value:
            if not 0.0 <= component <= 1.0:
                raise ValueError(f"each colour component must be in 0..1, got {value}")
        return value

    def axis(self, name: str) -> StageAxisConfig:
        """The settings of stage axis ``"x"``, ``"y"`` or ``"z"``.

        Raises:
            KeyError: for another name.
        """
        axes = {"x": self.x, "y": self.y, "z": self.z}
        if name not in axes:
            raise KeyError(f"no stage axis {name!r}; axes are x, y, z")
        return axes[name]


@dataclass(frozen=True)
class AxisLimits:
    """Travel and speed of one stage axis, from the stage configuration.

    Attributes:
        low_um: lowest allowed position, um.
        high_um: highest allowed position, um.
        max_velocity_um_s: top speed, um/s.
        max_acceleration_um_s2: acceleration, um/s^2.
    """

    low_um: float
    high_um: float
    max_velocity_um_s: float
    max_acceleration_um_s2: float

    def __post_init__(self) -> None:
        values = (self.low_um, self.high_um, self.max_velocity_um_s, self.max_acceleration_um_s2)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"axis limits must be finite, got {self}")
        if self.low_um > self.high_um:
            raise ValueError(
                f"low_um ({self.low_um}) must not be greater than high_um ({self.high_um})"
            )
        if not 0.0 < self.max_velocity_um_s <= 655_000.0:
            raise ValueError(
                f"max_velocity_um_s must be in (0, 655000], got {self.max_velocity_um_s}"
            )
        if not 0.0 < self.max_acceleration_um_s2 <= 6_553_000.0:
            raise ValueError(
                f"max_acceleration_um_s2 must be in (0, 6553000], got {self.max_acceleration_um_s2}"
            )

    def contains(self, position_um: float) -> bool:
        """Whether ``position_um`` is within the limits (ends included)."""
        return self.low_um <= position_um <= self.high_um
