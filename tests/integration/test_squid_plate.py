"""A whole 96-well plate through the Squid backends, against the emulator on a pty."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from hcs_devices.squid.backends import SquidBackends, build_squid_backends
from hcs_devices.squid.config import AxisLimits, SquidConfig
from hcs_devices.squid.emulator import EmulatedSquid
from hcs_devices.squid.protocol import Axis

# A1 centre and pitch of a 96-well plate in stage coordinates, um.
A1_X_UM, A1_Y_UM, PITCH_UM = 14_380.0, 11_240.0, 9_000.0

# X reaches 120 mm here: with the HCS v2 limit of 112.5 mm column 12 is out of reach.
LIMITS = {
    "x": AxisLimits(10_000.0, 120_000.0, 30_000.0, 500_000.0),
    "y": AxisLimits(6_000.0, 76_000.0, 30_000.0, 500_000.0),
    "z": AxisLimits(50.0, 7_000.0, 3_800.0, 100_000.0),
}


def _serpentine() -> list[tuple[str, float, float]]:
    wells = []
    for row in range(8):
        cols = range(12) if row % 2 == 0 else range(11, -1, -1)
        for col in cols:
            name = f"{'ABCDEFGH'[row]}{col + 1}"
            wells.append((name, A1_X_UM + PITCH_UM * col, A1_Y_UM + PITCH_UM * row))
    return wells


@pytest.fixture
def board() -> Iterator[EmulatedSquid]:
    # Real 10 ms status period; motion 50x faster than real time.
    with EmulatedSquid(speed_factor=50.0) as emulated:
        yield emulated
    assert not [t for t in threading.enumerate() if t.name.startswith("squid")]


@pytest.fixture
async def backends(board: EmulatedSquid) -> AsyncIterator[SquidBackends]:
    config = SquidConfig(port=board.path, reset_settle_s=0.05)
    built = build_squid_backends(config, LIMITS)
    try:
        await built.connect()
        yield built
    finally:
        await built.close()


@pytest.mark.slow
async def test_squid_stage_visits_every_well_when_scanning_a_96_well_plate(
    board: EmulatedSquid, backends: SquidBackends
) -> None:
    config = backends.driver.config
    z_focus_um = 2_500.0
    await backends.z.move_to(z_focus_um, timeout_s=None)
    await backends.illumination.select("488", 20.0)
    started = time.monotonic()
    for name, x_um, y_um in _serpentine():
        await backends.x.move_to(x_um, timeout_s=None)
        await backends.y.move_to(y_um, timeout_s=None)
        await backends.trigger.trigger(10_000, control_illumination=True)  # board strobes
        assert await backends.x.position_um() == pytest.approx(x_um, abs=backends.x.um_per_ustep), (
            name
        )
        assert await backends.y.position_um() == pytest.approx(y_um, abs=backends.y.um_per_ustep), (
            name
        )
        assert board.emulator.positions_usteps == (
            config.x.um_to_usteps(x_um),
            config.y.um_to_usteps(y_um),
            config.z.um_to_usteps(z_focus_um),
        ), name
    elapsed = time.monotonic() - started
    assert board.emulator.trigger.counts[0] == 96
    assert board.emulator.trigger.last_control_illumination
    assert not board.emulator.light_on
    assert backends.driver.stats.resends == 0
    assert elapsed < 20.0
    assert board.emulator.position_usteps(Axis.Z) == config.z.um_to_usteps(z_focus_um)
