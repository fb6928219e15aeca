"""The simulated camera renders a field's frames ahead: the same frames, made sooner."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from hcs_devices.camera.settings import ExpectedFrame, ExposureSettings, FrameLookahead, Roi
from hcs_devices.config import MicroscopeConfig
from hcs_devices.sim.camera import SimFrameSource
from hcs_devices.sim.specimen import Specimen


@dataclass
class _Scene:
    """Stage, focus, light and filter as a test sets them."""

    x_um: float
    y_um: float
    z_um: float
    source: str = "405"
    intensity_percent: float = 30.0
    filter: int = 2

    def xy_um(self) -> tuple[float, float]:
        return self.x_um, self.y_um

    def focus_z_um(self) -> float:
        return self.z_um

    def light(self) -> tuple[str | None, float, bool]:
        return self.source, self.intensity_percent, True

    def filter_position(self) -> int:
        return self.filter


def _source(config: MicroscopeConfig, scene: _Scene) -> tuple[SimFrameSource, list[str]]:
    """A simulated camera, and the names of the threads that rendered each image."""
    source = SimFrameSource(config, scene, Specimen(config.specimen, config.plate()))
    threads: list[str] = []
    render = source.renderer.expected

    def counted(*args: Any) -> np.ndarray:
        threads.append(threading.current_thread().name)
        return render(*args)

    source.renderer.expected = counted  # type: ignore[method-assign]
    return source, threads


def _frames(source: SimFrameSource, scene: _Scene, planes_um: list[float]) -> list[np.ndarray]:
    cam = source.config.camera
    settings = ExposureSettings(20.0, 1.0, 4, Roi(0, 0, cam.sensor_width_px, cam.sensor_height_px))
    frames = []
    for z in planes_um:
        scene.z_um = z
        frames.append(source.render(settings))
    return frames


def _expected(source: SimFrameSource, scene: _Scene, planes_um: list[float]) -> list[ExpectedFrame]:
    cam = source.config.camera
    settings = ExposureSettings(20.0, 1.0, 4, Roi(0, 0, cam.sensor_width_px, cam.sensor_height_px))
    return [
        ExpectedFrame(settings, scene.x_um, scene.y_um, z, scene.source, 30.0, scene.filter)
        for z in planes_um
    ]


@pytest.mark.parametrize("expected_wrongly", [False, True])
def test_sim_camera_frames_are_the_same_when_rendered_ahead(
    profile_config: MicroscopeConfig, expected_wrongly: bool
) -> None:
    cx, cy = Specimen(profile_config.specimen, profile_config.plate()).plate.well_center_um("B2")
    planes = [2999.0, 3000.0, 3001.0]
    plain_scene, ahead_scene = _Scene(cx, cy, 0.0), _Scene(cx, cy, 0.0)
    plain, plain_threads = _source(profile_config, plain_scene)
    ahead, ahead_threads = _source(profile_config, ahead_scene)
    try:
        assert isinstance(ahead, FrameLookahead)
        guess = [z + 0.5 for z in planes] if expected_wrongly else planes
        ahead.expect(_expected(ahead, ahead_scene, guess))
        got = _frames(ahead, ahead_scene, planes)
        want = _frames(plain, plain_scene, planes)
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            assert np.array_equal(a, b), f"frame {i} differs when rendered ahead"
        # Without a hint every image is rendered when its frame is taken.
        assert plain_threads == [threading.current_thread().name] * len(planes)
        at_exposure = [t for t in ahead_threads if not t.startswith("sim-camera-ahead")]
        if expected_wrongly:
            # Images of scenes that never came are of no use: each frame is rendered then.
            assert len(at_exposure) == len(planes)
        else:
            assert at_exposure == [] and len(ahead_threads) == len(planes)
    finally:
        plain.close()
        ahead.close()
