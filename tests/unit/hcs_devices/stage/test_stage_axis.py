"""Stage axes: soft limits, stop, trapezoidal timing, and the Z backlash habit."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from hcs_devices.config import AxisConfig, MicroscopeConfig
from hcs_devices.sim.axis import SimAxisBackend
from hcs_devices.stage import Axis, SoftLimitError, Stage
from stopped_moves import stop_before_the_move_runs


def build_stage(config: MicroscopeConfig) -> Stage:
    cfg = config.stage

    def axis(axis_cfg: AxisConfig, overshoot: float = 0.0) -> Axis:
        return Axis(
            SimAxisBackend(axis_cfg),
            low_limit_um=axis_cfg.low_limit_um,
            high_limit_um=axis_cfg.high_limit_um,
            initial_um=axis_cfg.start_um,
            backlash_overshoot_um=overshoot,
        )

    return Stage(axis(cfg.x), axis(cfg.y), axis(cfg.z, cfg.z_backlash_overshoot_um), name="stage")


def backend(axis: Axis) -> SimAxisBackend:
    assert isinstance(axis.backend, SimAxisBackend)
    return axis.backend


@pytest.fixture
async def stage(profile_config: MicroscopeConfig) -> Stage:
    device = build_stage(profile_config)
    await device.connect()
    return device


def profile_position(t: float, distance: float, v: float, a: float) -> float:
    """Distance travelled after ``t`` seconds of a rest-to-rest trapezoidal move."""
    ta = v / a
    if distance < v * ta:  # triangle
        ta = math.sqrt(distance / a)
        v = a * ta
    total = 2 * ta + (distance - a * ta * ta) / v
    if t <= 0:
        return 0.0
    if t >= total:
        return distance
    if t < ta:
        return 0.5 * a * t * t
    if t < total - ta:
        return 0.5 * a * ta * ta + v * (t - ta)
    return distance - 0.5 * a * (total - t) ** 2


@pytest.mark.parametrize(
    ("axis_name", "target"), [("x", -1.0), ("x", 120000.5), ("y", 1e6), ("z", 10.0), ("z", 7000.1)]
)
async def test_axis_refuses_and_does_not_move_when_the_target_is_outside_soft_limits(
    stage: Stage, profile_config: MicroscopeConfig, axis_name: str, target: float
) -> None:
    axis: Axis = getattr(stage, axis_name)
    limits = getattr(profile_config.stage, axis_name)
    before = await axis.user_readback.get_value()
    with pytest.raises(SoftLimitError) as caught:
        await axis.set(target)
    message = str(caught.value)
    assert f"stage-{axis_name}" in message
    assert f"[{limits.low_limit_um:.3f}, {limits.high_limit_um:.3f}] um" in message
    assert "nothing moved" in message
    assert await axis.user_readback.get_value() == before
    assert backend(axis).position_now() == before
    assert backend(axis).moves.count == 0


async def test_axis_stops_between_start_and_target_when_stopped_mid_move(stage: Stage) -> None:
    axis = stage.x
    start = await axis.user_readback.get_value()
    target = start + 80000.0  # ~2.7 s at full speed
    status = axis.set(target)
    await asyncio.sleep(0.3)
    await stage.stop()
    await status  # stop(success=True): the move ends without error
    stopped_at = await axis.user_readback.get_value()
    assert start + 1000 < stopped_at < target - 1000
    assert backend(axis).position_now() == pytest.approx(stopped_at)
    await asyncio.sleep(0.1)
    assert backend(axis).position_now() == pytest.approx(stopped_at)  # and stays stopped


async def test_axis_move_fails_when_stopped_without_success(stage: Stage) -> None:
    axis = stage.y
    start = await axis.user_readback.get_value()
    status = axis.set(start + 50000.0)
    await asyncio.sleep(0.2)
    await axis.stop()  # what the RunEngine calls on abort
    with pytest.raises(RuntimeError, match="stage-y was stopped"):
        await status
    assert start < await axis.user_readback.get_value() < start + 50000.0


@pytest.mark.parametrize("success", [True, False])
async def test_axis_does_not_move_when_stopped_before_its_move_began(
    stage: Stage, success: bool
) -> None:
    # The RunEngine asks for a move, then an abort or a pause stops the axis before
    # the move's task has run once: the stop must not be lost.
    axis = stage.x
    start = await axis.user_readback.get_value()
    status = axis.set(start + 50000.0)
    await stop_before_the_move_runs(axis, status, success=success)
    await asyncio.sleep(0.05)
    assert backend(axis).position_now() == start
    assert await axis.user_readback.get_value() == start
    assert backend(axis).moves.count == 0
    # and the next move is not stopped by that stop
    await axis.set(start + 10.0)
    assert await axis.user_readback.get_value() == pytest.approx(start + 10.0)


@pytest.mark.slow
async def test_axis_move_timeout_counts_from_the_command_not_from_the_check(
    stage: Stage,
) -> None:
    # What happens before the axis is commanded (here a slow position query, as on a
    # busy serial line or a loaded machine) is not the axis being slow.
    axis = stage.x
    sim = backend(axis)
    start = await axis.user_readback.get_value()
    real_position = sim.position_um
    asked = {"n": 0}

    async def slow_position() -> float:
        asked["n"] += 1
        if asked["n"] == 1:
            await asyncio.sleep(0.6)
        return await real_position()

    sim.position_um = slow_position  # type: ignore[method-assign]
    try:
        await axis.set(start + 100.0, timeout=0.5)  # the move itself takes ~10 ms
    finally:
        sim.position_um = real_position  # type: ignore[method-assign]
    assert asked["n"] >= 1
    assert await axis.user_readback.get_value() == pytest.approx(start + 100.0)


@pytest.mark.timing
async def test_axis_move_takes_the_trapezoid_time_when_moving_far(
    stage: Stage, profile_config: MicroscopeConfig
) -> None:
    """Sampled positions follow the trapezoid; the move lasts d/v + v/a."""
    cfg = profile_config.stage.x
    axis = stage.x
    v, a = cfg.max_velocity_um_s, cfg.max_acceleration_um_s2
    start = await axis.user_readback.get_value()
    distance = 6000.0
    expected = distance / v + v / a
    samples: list[tuple[float, float]] = []
    t0 = time.monotonic()
    status = axis.set(start + distance)
    while not status.done:
        samples.append((time.monotonic() - t0, backend(axis).position_now() - start))
        await asyncio.sleep(0.01)
    await status
    elapsed = time.monotonic() - t0
    assert expected <= elapsed + 0.005
    assert elapsed < expected + 0.06
    assert len(samples) > 10
    for t, travelled in samples:
        # Sampling happens a little after the clock read; allow 3 ms of travel at most.
        assert travelled == pytest.approx(profile_position(t, distance, v, a), abs=0.003 * v + 1)
    assert await axis.user_readback.get_value() == start + distance


@pytest.mark.timing
async def test_axis_short_move_takes_the_triangle_time_when_full_speed_is_never_reached(
    stage: Stage, profile_config: MicroscopeConfig
) -> None:
    cfg = profile_config.stage.z
    axis = stage.z
    start = await axis.user_readback.get_value()
    distance = 100.0  # less than v^2/a = 144 um: a triangular profile
    t0 = time.monotonic()
    await axis.set(start + distance)
    elapsed = time.monotonic() - t0
    expected = 2 * math.sqrt(distance / cfg.max_acceleration_um_s2)
    assert expected - 0.005 <= elapsed < expected + 0.05


async def test_axis_z_ends_moving_up_when_moving_down(
    stage: Stage, profile_config: MicroscopeConfig
) -> None:
    overshoot = profile_config.stage.z_backlash_overshoot_um
    z = stage.z
    start = await z.user_readback.get_value()
    await z.set(start - 100.0)
    assert backend(z).moves.since(0) == [start - 100.0 - overshoot, start - 100.0]
    assert await z.user_readback.get_value() == start - 100.0
    await z.set(start)
    assert backend(z).moves.since(2) == [start]  # moving up needs no overshoot


async def test_axis_x_goes_straight_when_it_has_no_backlash_habit(stage: Stage) -> None:
    x = stage.x
    start = await x.user_readback.get_value()
    await x.set(start - 100.0)
    assert backend(x).moves.since(0) == [start - 100.0]


async def test_axis_overshoot_stays_within_limits_when_moving_down_near_the_low_limit(
    profile_config: MicroscopeConfig,
) -> None:
    low = profile_config.stage.z.low_limit_um
    z_cfg = profile_config.stage.z.model_copy(update={"home_um": low + 2.0})
    config = profile_config.model_copy(
        update={"stage": profile_config.stage.model_copy(update={"z": z_cfg})}
    )
    stage = build_stage(config)
    await stage.connect()
    await stage.z.set(low + 1.0)
    assert min(backend(stage.z).moves.since(0)) >= low
    assert await stage.z.user_readback.get_value() == low + 1.0


async def test_stage_reads_every_axis_when_read(
    stage: Stage, profile_config: MicroscopeConfig
) -> None:
    reading = await stage.read()
    assert reading["stage-x"]["value"] == profile_config.stage.x.home_um
    assert reading["stage-z"]["value"] == profile_config.stage.z.home_um
    assert (await stage.describe())["stage-x"].get("units") == "um"


async def test_axis_move_reports_its_progress_to_watchers_from_start_to_arrival(
    stage: Stage,
) -> None:
    x = stage.x
    start = await x.user_readback.get_value()
    target = start + 6000.0  # long enough for the readback to follow it
    updates: list[tuple[float | None, ...]] = []
    described: set[tuple[object, ...]] = set()

    def watcher(
        current: float | None = None,
        initial: float | None = None,
        target: float | None = None,
        name: str | None = None,
        unit: str | None = None,
        precision: int | None = None,
        fraction: float | None = None,
        time_elapsed: float | None = None,
        time_remaining: float | None = None,
    ) -> None:
        updates.append((current,))
        described.add((initial, target, name, unit, precision))

    status = x.set(target)
    status.watch(watcher)
    await status
    currents = [float(c) for (c,) in updates if c is not None]
    assert len(currents) == len(updates)
    assert currents[0] == start and currents[-1] == target
    assert any(start < c < target for c in currents), "no update while moving"
    assert currents == sorted(currents)
    assert described == {(start, target, "stage-x", "um", 3)}


async def test_axis_move_fails_with_a_timeout_and_stays_when_the_axis_never_arrives(
    profile_config: MicroscopeConfig,
) -> None:
    cfg = profile_config.stage.x
    axis = Axis(
        SimAxisBackend(cfg, stalled=True),
        low_limit_um=cfg.low_limit_um,
        high_limit_um=cfg.high_limit_um,
        initial_um=cfg.start_um,
        name="x",
    )
    await axis.connect()
    start = await axis.user_readback.get_value()
    with pytest.raises(TimeoutError):
        await axis.set(start + 10.0, timeout=0.2)
    assert await axis.user_readback.get_value() == start
    assert not axis.arrived_at(start + 10.0)
