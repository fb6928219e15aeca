"""The emulated Squid board's state: axes and their motion, filter wheels, triggers, log.

Positions are in microsteps; an axis moves along :func:`~hcs_devices.stage.kinematics.plan_move`'s
profile, scaled by the emulator's ``speed_factor``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from hcs_devices.squid.protocol import Axis, Command, Opcode
from hcs_devices.stage.kinematics import plan_move

INT32_MAX = 2**31 - 1
DEFAULT_LIMIT_USTEPS = 2**30
PORT_OF_SOURCE = {11: 0, 12: 1, 14: 2, 13: 3, 15: 4}
N_PORTS = 16
WATCHDOG_DEFAULT_MS = 5000
WATCHDOG_MAX_MS = 3_600_000
#: Trigger pulses the emulator remembers (the oldest are forgotten).
PULSES_KEPT = 100_000


@dataclass
class AxisDefaults:
    """An axis's power-on lead screw pitch, microstepping, top speed and acceleration."""

    pitch_mm: float
    microstepping: int
    vmax_mm_s: float
    amax_mm_s2: float


AXIS_DEFAULTS: dict[Axis, AxisDefaults] = {
    Axis.X: AxisDefaults(2.54, 256, 30.0, 500.0),
    Axis.Y: AxisDefaults(2.54, 256, 30.0, 500.0),
    Axis.Z: AxisDefaults(0.3, 256, 3.8, 100.0),
    Axis.W: AxisDefaults(1.0, 64, 3.19, 300.0),
    Axis.W2: AxisDefaults(1.0, 64, 3.19, 300.0),
}


@dataclass
class AxisMotion:
    """A move in progress, positions in microsteps, times from ``time.monotonic()``."""

    start: float
    end: float
    t0: float
    duration: float
    vmax: float
    amax: float
    never_completes: bool = False  # an absolute move past a soft limit
    homing: bool = False


@dataclass
class EmulatedAxis:
    """One motor axis of the board, positions in microsteps."""

    axis: Axis
    pitch_mm: float
    microstepping: int
    vmax_mm_s: float
    amax_mm_s2: float
    full_steps_per_rev: int = 200
    position: float = 0.0
    low: int = -DEFAULT_LIMIT_USTEPS
    high: int = DEFAULT_LIMIT_USTEPS
    motion: AxisMotion | None = None
    stalled: bool = False
    enabled: bool = True
    rms_current_ma: int = 0
    limit_switch_polarity: int = 0
    home_safety_margin_um: int = 0

    @property
    def usteps_per_mm(self) -> float:
        """Microsteps per millimetre of travel."""
        return self.microstepping * self.full_steps_per_rev / self.pitch_mm

    def position_at(self, now: float, speed_factor: float) -> float:
        """The position at ``now``, mid-move too (a stalled axis stays put)."""
        motion = self.motion
        if motion is None or self.stalled:
            return self.position
        elapsed = (now - motion.t0) * speed_factor
        profile = plan_move(motion.end - motion.start, motion.vmax, motion.amax)
        return motion.start + math.copysign(profile.distance_at(elapsed), motion.end - motion.start)

    def moving(self) -> bool:
        """Whether a move is in progress."""
        return self.motion is not None


@dataclass(frozen=True)
class ExecutedCommand:
    """One command the emulated board executed (CRC good, not dropped).

    Attributes:
        time: ``time.monotonic()`` at execution.
        command: the decoded packet.
        status: the status it got at once (0, 1 or 4).
        from_usteps: for motion, the axis position when it started.
        to_usteps: for motion, where the axis is heading (after clamping).
    """

    time: float
    command: Command
    status: int
    from_usteps: int | None = None
    to_usteps: int | None = None

    @property
    def opcode_name(self) -> str:
        """Name of the opcode."""
        try:
            return Opcode(self.command.opcode).name
        except ValueError:
            return f"OPCODE_{self.command.opcode}"


@dataclass
class WheelState:
    """Whether a filter wheel has been initialised (homed)."""

    initialised: bool = False


@dataclass(frozen=True)
class TriggerPulse:
    """One hardware trigger the board sent, and where its stage was at the pulse.

    Attributes:
        time: ``time.monotonic()`` when the pulse left.
        channel: trigger output 0..3.
        control_illumination: whether the board strobed the selected light.
        on_time_us: the strobe's on-time, us.
        illumination_source: the light source code selected at the pulse.
        intensity: its intensity (0..65535) at the pulse.
        position_usteps: (X, Y, Z) in the board's microsteps at the pulse.
        position_mm: the same in millimetres, with the board's own lead screw pitch
            and microstepping (the host may count Z the other way round).
        wired: whether the output was wired to anything (a camera input).
    """

    time: float
    channel: int
    control_illumination: bool
    on_time_us: int
    illumination_source: int
    intensity: int
    position_usteps: tuple[int, int, int]
    position_mm: tuple[float, float, float]
    wired: bool


@dataclass
class TriggerRecord:
    """Hardware trigger state of the board.

    Attributes:
        counts: triggers sent per camera channel 0..3.
        last_on_time_us: illumination on-time of the last trigger, us.
        last_control_illumination: whether the last trigger strobed illumination.
        strobe_delay_us: per channel strobe delay, us.
        mode: 0 edge, 1 level.
        pulses: the triggers sent, oldest first (the last :data:`PULSES_KEPT`: an
            emulator serving live view for days forgets the oldest).
    """

    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    last_on_time_us: int = 0
    last_control_illumination: bool = False
    strobe_delay_us: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    mode: int = 0
    pulses: deque[TriggerPulse] = field(default_factory=lambda: deque(maxlen=PULSES_KEPT))
