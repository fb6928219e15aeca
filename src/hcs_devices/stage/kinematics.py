"""The rest-to-rest move profile every axis model shares: trapezoid, or triangle if short.

An axis accelerates at a constant rate to its top speed, cruises, and decelerates at the
same rate to stop on the target. A move too short to reach top speed never cruises: its
speed profile is a triangle whose peak is below the top speed.

The functions are unit-agnostic: distance, velocity and acceleration only need one length
unit (micrometres for stage axes, microsteps inside the Squid emulator); times are seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class MoveProfile:
    """The speed profile of one rest-to-rest move.

    Attributes:
        distance: length of the move (not negative).
        accel_time_s: time spent accelerating (and, again, decelerating).
        cruise_time_s: time spent at the peak velocity (0 for a triangular profile).
        peak_velocity: highest speed reached, per second.
        acceleration: the constant acceleration, per second squared.
    """

    distance: float
    accel_time_s: float
    cruise_time_s: float
    peak_velocity: float
    acceleration: float

    @property
    def duration_s(self) -> float:
        """Time from start to arrival."""
        return 2.0 * self.accel_time_s + self.cruise_time_s

    def distance_at(self, t_s: float) -> float:
        """Distance covered ``t_s`` seconds after the move started.

        Args:
            t_s: time since the start; before 0 nothing is covered, after the
                duration the whole distance is.

        Returns:
            The distance covered, between 0 and :attr:`distance`.
        """
        if t_s <= 0.0:
            return 0.0
        if t_s >= self.duration_s:
            return self.distance
        ta = self.accel_time_s
        if t_s < ta:
            return 0.5 * self.acceleration * t_s * t_s
        if t_s < ta + self.cruise_time_s:
            return 0.5 * self.acceleration * ta * ta + self.peak_velocity * (t_s - ta)
        left = self.duration_s - t_s
        return self.distance - 0.5 * self.acceleration * left * left


def plan_move(distance: float, max_velocity: float, max_acceleration: float) -> MoveProfile:
    """The profile of a rest-to-rest move of ``distance``.

    Args:
        distance: length of the move (the sign is ignored).
        max_velocity: top speed, per second (> 0).
        max_acceleration: acceleration, per second squared (> 0).

    Returns:
        A trapezoidal profile if the move is long enough to reach ``max_velocity``,
        else a triangular one.
    """
    d = abs(distance)
    ta = max_velocity / max_acceleration
    if max_acceleration * ta * ta >= d:  # triangular: never reaches full speed
        ta = math.sqrt(d / max_acceleration)
        return MoveProfile(d, ta, 0.0, max_acceleration * ta, max_acceleration)
    cruise = (d - max_acceleration * ta * ta) / max_velocity
    return MoveProfile(d, ta, cruise, max_velocity, max_acceleration)


def move_duration_s(distance: float, max_velocity: float, max_acceleration: float) -> float:
    """Duration of a rest-to-rest move of ``distance`` (see :func:`plan_move`).

    Args:
        distance: length of the move (the sign is ignored).
        max_velocity: top speed, per second (> 0).
        max_acceleration: acceleration, per second squared (> 0).

    Returns:
        The time in seconds.
    """
    return plan_move(distance, max_velocity, max_acceleration).duration_s
