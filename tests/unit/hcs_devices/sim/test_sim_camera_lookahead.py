"""The simulated camera renders a field's frames ahead: the same frames, made sooner."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from hcs_devices.camera.settings import ExpectedFrame, ExposureSettings, FrameLookahead, Roi
from hcs_devices.config import MicroscopeConfig
from hcs_devices.sim.camera import COLLECTED_BYTES_PER_PX, SimFrameSource
from hcs_devices.sim.lookahead import LOOKAHEAD_BYTES, LOOKAHEAD_FRAMES
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

    def piezo_travel_um(self) -> float:
        return 0.0

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


@pytest.mark.slow
def test_sim_camera_renders_the_following_fields_frames_ahead_and_they_are_the_same_frames(
    profile_config: MicroscopeConfig,
) -> None:
    """A camera expects this field's frames and the next field's: all are made ahead."""
    cx, cy = Specimen(profile_config.specimen, profile_config.plate()).plate.well_center_um("B2")
    planes = [2999.0, 3000.0, 3001.0]
    fields = [(cx, cy), (cx + 300.0, cy)]
    plain_scene, ahead_scene = _Scene(cx, cy, 0.0), _Scene(cx, cy, 0.0)
    plain, _ = _source(profile_config, plain_scene)
    ahead, ahead_threads = _source(profile_config, ahead_scene)
    try:
        got, want = [], []
        for k, (x, y) in enumerate(fields):
            for scene in (plain_scene, ahead_scene):
                scene.x_um, scene.y_um = x, y
            if k == 0:  # prepared for the first field, told of the second
                following = _Scene(*fields[1], 0.0)
                ahead.expect(
                    _expected(ahead, ahead_scene, planes) + _expected(ahead, following, planes)
                )
            else:  # prepared for the second field, whose images are made already
                ahead.expect(_expected(ahead, ahead_scene, planes))
            got += _frames(ahead, ahead_scene, planes)
            want += _frames(plain, plain_scene, planes)
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            assert np.array_equal(a, b), f"frame {i} differs when rendered ahead"
        assert len(ahead_threads) == len(got), "each image made once"
        assert all(t.startswith("sim-camera-ahead") for t in ahead_threads), ahead_threads
    finally:
        plain.close()
        ahead.close()


def test_sim_camera_keeps_no_more_than_its_lookahead_in_memory_when_more_frames_are_expected(
    profile_config: MicroscopeConfig,
) -> None:
    cx, cy = Specimen(profile_config.specimen, profile_config.plate()).plate.well_center_um("B2")
    planes = [2990.0 + 0.5 * i for i in range(LOOKAHEAD_FRAMES + 8)]
    scene = _Scene(cx, cy, 0.0)
    source, threads = _source(profile_config, scene)
    try:
        source.expect(_expected(source, scene, planes))
        assert source.ahead.items == LOOKAHEAD_FRAMES
        most = 0
        for z in planes:
            scene.z_um = z
            _frames(source, scene, [z])
            most = max(most, source.ahead.items)
        assert most <= LOOKAHEAD_FRAMES
        # The frames beyond the first LOOKAHEAD_FRAMES were made ahead too, as room freed.
        assert len(threads) == len(planes)
        assert all(t.startswith("sim-camera-ahead") for t in threads), threads
    finally:
        source.close()


def test_sim_camera_makes_fewer_frames_ahead_when_they_are_large(
    profile_config: MicroscopeConfig,
) -> None:
    cx, cy = Specimen(profile_config.specimen, profile_config.plate()).plate.well_center_um("B2")
    scene = _Scene(cx, cy, 0.0)
    source, _ = _source(profile_config, scene)
    cam = profile_config.camera
    full = Roi(0, 0, cam.sensor_width_px, cam.sensor_height_px)
    planes = [2990.0 + 0.5 * i for i in range(LOOKAHEAD_FRAMES)]
    try:
        for binning in (4, 1):
            settings = ExposureSettings(20.0, 1.0, binning, full)
            source.expect(
                [
                    ExpectedFrame(settings, cx, cy, z, scene.source, 30.0, scene.filter)
                    for z in planes
                ]
            )
            height, width = settings.shape
            item_bytes = COLLECTED_BYTES_PER_PX * height * width
            assert source.ahead.items * item_bytes <= LOOKAHEAD_BYTES
            assert source.ahead.items == min(LOOKAHEAD_FRAMES, LOOKAHEAD_BYTES // item_bytes)
        assert source.ahead.items < LOOKAHEAD_FRAMES  # full frames: fewer than the count
    finally:
        source.close()
