"""The simulated camera's frame period follows the configured readout mode."""

from __future__ import annotations

import pytest

from hcs_devices.camera.settings import ExposureSettings, Roi
from hcs_devices.config import MicroscopeConfig
from hcs_devices.sim.camera import SimFrameSource
from hcs_devices.sim.specimen import Specimen


class _Dark:
    """The hardware at rest, light off (the period does not depend on it)."""

    def xy_um(self) -> tuple[float, float]:
        return (0.0, 0.0)

    def focus_z_um(self) -> float:
        return 3000.0

    def piezo_travel_um(self) -> float:
        return 0.0

    def light(self) -> tuple[str | None, float, bool]:
        return None, 0.0, False

    def filter_position(self) -> int:
        return 1


@pytest.mark.parametrize(("overlapped", "period_s"), [(True, 0.010), (False, 0.030 + 0.010)])
def test_sim_camera_period_is_the_readout_or_exposure_plus_readout_when_not_overlapped(
    profile_config: MicroscopeConfig, overlapped: bool, period_s: float
) -> None:
    camera = profile_config.camera.model_copy(
        update={"max_fps": 100.0, "overlapped_readout": overlapped}
    )
    config = profile_config.model_copy(update={"camera": camera})
    specimen = Specimen(config.specimen, config.plate())
    source = SimFrameSource(config, _Dark(), specimen)
    try:
        full = Roi(0, 0, camera.sensor_width_px, camera.sensor_height_px)
        settings = ExposureSettings(30.0, gain=1.0, binning=1, roi=full)
        assert source.min_frame_period_s(settings) == pytest.approx(period_s)
        # Half the rows read out in half the time.
        half = Roi(0, 0, camera.sensor_width_px, camera.sensor_height_px // 2)
        halved = ExposureSettings(30.0, gain=1.0, binning=1, roi=half)
        assert source.min_frame_period_s(halved) == pytest.approx(period_s - 0.005)
    finally:
        source.close()
