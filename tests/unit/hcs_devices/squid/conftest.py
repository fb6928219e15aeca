"""Fixtures for the Squid tests: an emulated board on a real pseudo-terminal."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from hcs_devices.squid.backends import SquidBackends, build_squid_backends
from hcs_devices.squid.config import AxisLimits, SquidConfig
from hcs_devices.squid.emulator import EmulatedSquid

#: HCS v2 travel and speeds (um, um/s, um/s^2).
_LIMITS = {
    "x": AxisLimits(10_000.0, 112_500.0, 30_000.0, 500_000.0),
    "y": AxisLimits(6_000.0, 76_000.0, 30_000.0, 500_000.0),
    "z": AxisLimits(50.0, 7_000.0, 3_800.0, 100_000.0),
}


@pytest.fixture
def limits() -> dict[str, AxisLimits]:
    """HCS v2 travel and speeds: x 10..112.5 mm, y 6..76 mm, z 0.05..7 mm."""
    return dict(_LIMITS)


def _squid_threads() -> set[threading.Thread]:
    return {
        t for t in threading.enumerate() if t.name.startswith(("squid", "pty-")) and t.is_alive()
    }


@pytest.fixture(autouse=True)
def no_leaked_squid_threads() -> Iterator[None]:
    before = _squid_threads()
    yield
    deadline = time.monotonic() + 2.0
    leaked = _squid_threads() - before
    while leaked and time.monotonic() < deadline:
        threading.Event().wait(0.02)
        leaked = _squid_threads() - before
    assert not leaked, f"threads left running: {sorted(t.name for t in leaked)}"


@pytest.fixture
def board() -> Iterator[EmulatedSquid]:
    """An emulated board: motion 50x faster than real time, status every 4 ms (not 10)."""
    with EmulatedSquid(speed_factor=50.0, status_period_s=0.004, seed=1) as emulated:
        yield emulated


@pytest.fixture
def make_config(board: EmulatedSquid) -> Callable[..., SquidConfig]:
    """Configuration for the emulated board, with test-friendly timing."""

    def make(**overrides: Any) -> SquidConfig:
        options: dict[str, Any] = {
            "port": board.path,
            "reset_settle_s": 0.01,
            "min_move_timeout_s": 1.0,
            "resend_timeout_s": 0.2,
            "reconnect_timeout_s": 2.0,
            "watchdog_timeout_s": 5.0,
        }
        options.update(overrides)
        return SquidConfig(**options)

    return make


@pytest.fixture
async def backends(
    make_config: Callable[..., SquidConfig], limits: dict[str, AxisLimits]
) -> AsyncIterator[SquidBackends]:
    """Connected backends on the emulated board, closed after the test."""
    built = build_squid_backends(make_config(), limits)
    try:
        await built.connect()
        yield built
    finally:
        await built.close()
