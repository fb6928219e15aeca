"""The shared move profile: trapezoid when the move reaches top speed, else triangle."""

from __future__ import annotations

import itertools
import math

import pytest

from hcs_devices.stage.kinematics import MoveProfile, move_duration_s, plan_move

V, A = 30.0, 500.0  # the Squid's X defaults in mm/s and mm/s^2


def test_plan_move_is_trapezoidal_when_long_enough_for_top_speed() -> None:
    profile = plan_move(100.0, V, A)
    assert profile.accel_time_s == pytest.approx(V / A)
    assert profile.peak_velocity == V
    assert profile.cruise_time_s == pytest.approx((100.0 - V * V / A) / V)
    assert profile.duration_s == pytest.approx(100 / V + V / A)


def test_plan_move_is_triangular_when_too_short_for_top_speed() -> None:
    profile = plan_move(0.5, V, A)
    assert profile.cruise_time_s == 0.0
    assert profile.accel_time_s == pytest.approx(math.sqrt(0.5 / A))
    assert profile.peak_velocity < V
    assert profile.duration_s == pytest.approx(2 * math.sqrt(0.5 / A))


def test_plan_move_takes_no_time_when_distance_is_zero() -> None:
    assert plan_move(0.0, V, A) == MoveProfile(0.0, 0.0, 0.0, 0.0, A)
    assert move_duration_s(0.0, V, A) == 0.0


@pytest.mark.parametrize("distance", [0.0, 0.5, V * V / A, 1.8, 100.0])
def test_move_duration_ignores_the_sign_when_moving_backwards(distance: float) -> None:
    assert move_duration_s(-distance, V, A) == move_duration_s(distance, V, A)
    assert plan_move(-distance, V, A) == plan_move(distance, V, A)


@pytest.mark.parametrize("distance", [0.5, V * V / A, 100.0])
def test_distance_at_covers_the_move_exactly_at_its_duration(distance: float) -> None:
    profile = plan_move(distance, V, A)
    assert profile.distance_at(-1.0) == 0.0
    assert profile.distance_at(0.0) == 0.0
    assert profile.distance_at(profile.duration_s) == distance
    assert profile.distance_at(profile.duration_s + 1.0) == distance
    # Just before arrival the remaining distance is the deceleration's a*t^2/2.
    eps = profile.duration_s * 1e-3
    assert distance - profile.distance_at(profile.duration_s - eps) == pytest.approx(
        0.5 * A * eps * eps
    )


@pytest.mark.parametrize("distance", [0.5, 100.0])
def test_distance_at_is_symmetric_about_the_middle_of_the_move(distance: float) -> None:
    profile = plan_move(distance, V, A)
    total = profile.duration_s
    for k in range(1, 20):
        t = total * k / 40
        assert profile.distance_at(t) + profile.distance_at(total - t) == pytest.approx(distance)
    assert profile.distance_at(total / 2) == pytest.approx(distance / 2)


@pytest.mark.parametrize("distance", [0.5, 100.0])
def test_distance_at_never_goes_back_nor_faster_than_top_speed(distance: float) -> None:
    profile = plan_move(distance, V, A)
    steps = [profile.duration_s * k / 200 for k in range(201)]
    covered = [profile.distance_at(t) for t in steps]
    dt = steps[1] - steps[0]
    for before, after in itertools.pairwise(covered):
        assert 0.0 <= after - before <= V * dt * (1 + 1e-9)
