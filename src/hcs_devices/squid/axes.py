"""Axis geometry of a Squid board: soft limits, speeds and move timeouts (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping

from hcs_devices.squid.config import AxisLimits, SquidConfig, StageAxisConfig
from hcs_devices.squid.protocol import LIMIT_CODES, Axis, HomeDirection
from hcs_devices.stage.kinematics import move_duration_s

STAGE_AXES: dict[str, Axis] = {"x": Axis.X, "y": Axis.Y, "z": Axis.Z}
"""Stage axis names and their protocol axes."""


class SquidAxes:
    """The axes of one board in microsteps: what a move may target and how long it takes.

    Args:
        config: the board's configuration.
        limits: stage axis name (``"x"``, ``"y"``, ``"z"``) -> travel and speed. Axes
            without limits get no soft limits and the speeds of ``config``.

    Raises:
        ValueError: for limits of an axis that is not a stage axis.
    """

    def __init__(self, config: SquidConfig, limits: Mapping[str, AxisLimits] | None = None):
        self.config = config
        self.limits: dict[str, AxisLimits] = dict(limits or {})
        unknown = set(self.limits) - set(STAGE_AXES)
        if unknown:
            raise ValueError(f"limits for unknown axes {sorted(unknown)}; axes are x, y, z")

    def axis_config(self, axis: Axis) -> StageAxisConfig:
        """Mechanics of a stage axis."""
        return self.config.axis(axis.name.lower())

    def speed_mm(self, axis: Axis) -> tuple[float, float]:
        """(max velocity, max acceleration) of a stage axis in mm/s and mm/s^2."""
        name = axis.name.lower()
        limits = self.limits.get(name)
        if limits is not None:
            return (limits.max_velocity_um_s / 1000.0, limits.max_acceleration_um_s2 / 1000.0)
        cfg = self.config.axis(name)
        return (cfg.max_velocity_mm_s, cfg.max_acceleration_mm_s2)

    def speed_usteps(self, axis: Axis) -> tuple[float, float]:
        """(max velocity, max acceleration) of an axis in microsteps/s and /s^2."""
        if axis in (Axis.W, Axis.W2):
            fw = self.config.filter_wheel
            per_mm = fw.microstepping * fw.full_steps_per_rev / fw.lead_screw_pitch_mm
            return (fw.max_velocity_mm_s * per_mm, fw.max_acceleration_mm_s2 * per_mm)
        v_mm, a_mm = self.speed_mm(axis)
        per_mm = self.axis_config(axis).usteps_per_mm
        return (v_mm * per_mm, a_mm * per_mm)

    def move_timeout_s(self, axis: Axis, distance_usteps: float) -> float:
        """Time allowed for a move: max(min_move_timeout_s, factor x expected time)."""
        v, a = self.speed_usteps(axis)
        expected = move_duration_s(distance_usteps, v, a)
        return max(self.config.min_move_timeout_s, self.config.move_timeout_factor * expected)

    def soft_limits_usteps(self, axis: Axis) -> tuple[int, int] | None:
        """(low, high) soft limits of a stage axis in board microsteps, if configured."""
        name = axis.name.lower()
        limits = self.limits.get(name)
        if limits is None:
            return None
        cfg = self.config.axis(name)
        a, b = cfg.um_to_usteps(limits.low_um), cfg.um_to_usteps(limits.high_um)
        return (min(a, b), max(a, b))

    def check_target(self, axis: Axis, target: int) -> None:
        """Refuse a target outside an axis's soft limits.

        Raises:
            ValueError: naming the axis, the target and the allowed range.
        """
        if not -(2**31) <= target <= 2**31 - 1:
            raise ValueError(f"{axis.name}: target {target} microsteps does not fit in int32")
        bounds = self.soft_limits_usteps(axis) if axis in LIMIT_CODES else None
        if bounds is None:
            return
        low, high = bounds
        if not low <= target <= high:
            name = axis.name.lower()
            cfg = self.config.axis(name)
            limits = self.limits[name]
            raise ValueError(
                f"{name}: target {target} microsteps ({cfg.usteps_to_um(target):.3f} um) is "
                f"outside the soft limits {low}..{high} microsteps "
                f"({limits.low_um}..{limits.high_um} um); nothing was sent"
            )

    def home_direction(self, axis: Axis) -> HomeDirection:
        """The configured homing direction of a stage axis."""
        cfg = self.axis_config(axis)
        return (
            HomeDirection.NEGATIVE if cfg.home_direction == "negative" else HomeDirection.POSITIVE
        )
