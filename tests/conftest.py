"""Shared fixtures: configurations, a real RunEngine, and a simulated microscope on it.

- ``profile_config_path`` / ``profile_config``: the shipped microscope
  (``src/hcs_orchestrator/data/microscope.yaml``).
- ``small_config``: the same microscope with a 512 x 512 sensor, so frames render fast.
- ``RE``: a real RunEngine on its own event loop (``call_returns_result=True``), torn
  down with its loop, its thread and its default executor; a task left running on its
  loop fails the test.
- ``make_microscope``: builds and connects a simulated microscope from any
  configuration on the RunEngine's loop, and closes it after the test.
- ``microscope``: ``make_microscope(small_config)``.
- ``documents``: every document the RunEngine emits, as ``(name, doc)`` pairs.
- ``run_on_re_loop``: run a coroutine on the RunEngine's loop (where devices live).

Devices built by ``make_microscope`` belong to the RunEngine's event loop: drive them
with ``RE(plan)`` or ``run_on_re_loop(coro)``, never from a pytest-asyncio test.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from bluesky.run_engine import (
    RunEngine,
    call_in_bluesky_event_loop,
)

from hcs_devices.config import MicroscopeConfig, load_config
from hcs_devices.factory import Microscope, build_microscope
from run_engine_teardown import shut_down_run_engine

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[1]
PROFILE_CONFIG_PATH = REPO_ROOT / "src" / "hcs_orchestrator" / "data" / "microscope.yaml"
#: Sensor size of ``small_config``: a 166 um field of view with the 20x objective.
SMALL_SENSOR_PX = 512
#: Threads the simulated microscope starts (render pool, frame writers).
MICROSCOPE_THREAD_PREFIXES = ("sim-camera", "tiff-writer-", "hcs-preview")


def with_sensor(
    config: MicroscopeConfig, width_px: int, height_px: int | None = None
) -> MicroscopeConfig:
    """A copy of ``config`` whose camera has a ``width_px`` x ``height_px`` sensor."""
    camera = config.camera.model_copy(
        update={"sensor_width_px": width_px, "sensor_height_px": height_px or width_px}
    )
    return config.model_copy(update={"camera": camera})


@pytest.fixture(scope="session")
def profile_config_path() -> Path:
    """The default microscope configuration shipped in ``profile/``."""
    return PROFILE_CONFIG_PATH


@pytest.fixture(scope="session")
def profile_config(profile_config_path: Path) -> MicroscopeConfig:
    """The default microscope configuration (frozen: safe to share between tests)."""
    return load_config(profile_config_path)


@pytest.fixture(scope="session")
def small_config(profile_config: MicroscopeConfig) -> MicroscopeConfig:
    """The default microscope with a small sensor, so every frame renders in milliseconds."""
    return with_sensor(profile_config, SMALL_SENSOR_PX)


@pytest.fixture
def RE() -> Iterator[RunEngine]:
    """A real RunEngine on a fresh event loop, torn down completely after the test."""
    loop = asyncio.new_event_loop()
    engine = RunEngine({}, loop=loop, call_returns_result=True)
    yield engine
    shut_down_run_engine(engine)


@pytest.fixture
def run_on_re_loop(RE: RunEngine) -> Callable[..., Any]:
    """Run a coroutine on the RunEngine's event loop and return its result.

    Give a coroutine, or a function returning an awaitable (``camera.unstage``: an
    ophyd-async status must be created on the loop it runs on).
    """

    def run(work: Awaitable[T] | Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        async def call() -> T:
            assert callable(work)
            return await work()

        return call_in_bluesky_event_loop(call() if callable(work) else work, timeout=timeout)

    return run


@pytest.fixture
def documents(RE: RunEngine) -> list[tuple[str, dict[str, Any]]]:
    """Every document the RunEngine emits during the test, in order."""
    collected: list[tuple[str, dict[str, Any]]] = []
    RE.subscribe(lambda name, doc: collected.append((name, doc)))
    return collected


@pytest.fixture
def make_microscope(
    RE: RunEngine,
    tmp_path: Path,
) -> Iterator[Callable[..., Microscope]]:
    """Build and connect simulated microscopes on the RunEngine's loop; close them after.

    ``make_microscope(config, data_dir=None, **build_kwargs)``: frames go to
    ``<data_dir>/frames``, by default ``tmp_path/microscope<n>/frames``.
    """
    built: list[Microscope] = []

    def make(config: MicroscopeConfig, data_dir: Path | None = None, **kwargs: Any) -> Microscope:
        data_dir = data_dir or tmp_path / f"microscope{len(built)}"
        scope = build_microscope(config, data_dir=data_dir, **kwargs)
        built.append(scope)
        call_in_bluesky_event_loop(scope.connect(), timeout=30)
        return scope

    yield make
    for scope in built:
        call_in_bluesky_event_loop(scope.safe_state(), timeout=30)
        scope.close()
    left = [
        t.name
        for t in threading.enumerate()
        if t.name.startswith(MICROSCOPE_THREAD_PREFIXES) and t.is_alive()
    ]
    assert not left, f"threads of a closed microscope still running: {left}"


@pytest.fixture
def microscope(
    make_microscope: Callable[..., Microscope], small_config: MicroscopeConfig
) -> Microscope:
    """The default simulated microscope with a 512 x 512 sensor, connected."""
    return make_microscope(small_config)
