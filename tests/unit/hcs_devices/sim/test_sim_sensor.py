"""The simulated sensor follows the photon-transfer curve of an sCMOS camera."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hcs_devices.config import CameraConfig
from hcs_devices.sim.sensor import FrameBank, Sensor

CAMERA = CameraConfig.model_validate({"sensor_width_px": 256, "sensor_height_px": 256})


@pytest.mark.parametrize("photons", [0.0, 50.0, 1000.0, 10000.0])
def test_sensor_mean_and_variance_follow_photon_transfer_when_illuminated_uniformly(
    photons: float,
) -> None:
    """mean = offset + QE*N/g; var = (QE*N + read_noise^2)/g^2 + 1/12 (quantisation)."""
    sensor = Sensor(CAMERA, seed=3)
    frame = sensor.digitize(np.full((256, 256), photons, np.float32)).astype(np.float64)
    electrons = CAMERA.quantum_efficiency * photons
    g = CAMERA.gain_e_per_adu
    assert frame.mean() == pytest.approx(
        CAMERA.offset_adu + electrons / g, abs=0.05 + 1e-3 * electrons / g
    )
    expected_var = (electrons + CAMERA.read_noise_e**2) / g**2 + 1 / 12
    assert frame.var() == pytest.approx(expected_var, rel=0.03)


def test_sensor_saturates_at_full_well_when_overexposed() -> None:
    sensor = Sensor(CAMERA)
    frame = sensor.digitize(np.full((64, 64), 1e7, np.float32))
    assert frame.max() <= CAMERA.max_value
    full_well_adu = CAMERA.offset_adu + CAMERA.full_well_e / CAMERA.gain_e_per_adu
    assert frame.mean() == pytest.approx(min(full_well_adu, CAMERA.max_value), rel=0.01)


def test_sensor_read_noise_adds_per_pixel_when_binned() -> None:
    sensor = Sensor(CAMERA)
    dark = sensor.digitize(np.zeros((128, 128), np.float32), binning=2).astype(np.float64)
    read_adu = 2 * CAMERA.read_noise_e / CAMERA.gain_e_per_adu  # sqrt(4) pixels summed
    assert dark.std() == pytest.approx(math.hypot(read_adu, math.sqrt(1 / 12)), rel=0.03)


def test_sensor_frames_differ_when_taken_one_after_another() -> None:
    sensor = Sensor(CAMERA)
    flat = np.full((128, 128), 500.0, np.float32)
    a, b = sensor.digitize(flat), sensor.digitize(flat)
    assert not np.array_equal(a, b)
    again = Sensor(CAMERA)
    assert np.array_equal(again.digitize(flat), a)  # same seed, same order: same frames


def test_frame_bank_replays_scenes_with_fresh_noise_when_frames_are_drawn() -> None:
    sensor = Sensor(CAMERA)
    scenes = [sensor.digitize(np.full((64, 64), n, np.float32)) for n in (100.0, 2000.0)]
    bank = FrameBank(sensor, scenes)
    frames = [bank.frame().astype(np.float64) for _ in range(4)]
    assert frames[0].mean() == pytest.approx(scenes[0].mean(), abs=1.0)
    assert frames[1].mean() == pytest.approx(scenes[1].mean(), abs=1.0)
    assert frames[2].mean() == pytest.approx(scenes[0].mean(), abs=1.0)  # cycles
    assert not np.array_equal(frames[0], frames[2])


def test_sensor_frames_are_the_same_when_collected_ahead_in_another_order() -> None:
    """What the pixels collect draws no noise: made ahead in any order, same frames."""
    rng = np.random.default_rng(5)
    scenes = [rng.random((64, 64), dtype=np.float32) * 2000 for _ in range(3)]
    plain = Sensor(CAMERA, seed=9)
    want = [plain.digitize(s, gain=2.0, binning=2) for s in scenes]
    ahead = Sensor(CAMERA, seed=9)
    collected = [ahead.collect(s, binning=2) for s in reversed(scenes)][::-1]
    got = [ahead.read(c, gain=2.0) for c in collected]
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert np.array_equal(a, b), f"frame {i} differs when collected ahead"
