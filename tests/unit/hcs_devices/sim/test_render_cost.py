"""What the dry run measures of the simulated camera: images made ahead, frames at exposure."""

from __future__ import annotations

import pytest

from hcs_devices.config import MicroscopeConfig
from hcs_devices.sim.cost import render_cost


@pytest.mark.parametrize("simulation", ["realistic", "fast"])
def test_render_cost_splits_images_made_ahead_from_frames_only_where_images_are_made_ahead(
    profile_config: MicroscopeConfig, simulation: str
) -> None:
    camera = profile_config.camera.model_copy(
        update={"sensor_width_px": 256, "sensor_height_px": 256, "simulation": simulation}
    )
    config = profile_config.model_copy(update={"camera": camera})
    channels = [config.channel("DAPI"), config.channel("GFP")]
    cost = render_cost(
        config,
        fields_xy_um=[(23_380.0, 20_240.0), (32_380.0, 20_240.0)],
        z_um=3000.0,
        channels=channels,
        binning=1,
    )
    assert set(cost.frame_s) == {"DAPI", "GFP"}
    assert all(s > 0 for s in cost.frame_s.values())
    if simulation == "fast":  # frames come from a bank at their exposure: nothing ahead
        assert cost.image_s == {}
    else:
        assert set(cost.image_s) == {"DAPI", "GFP"}
        assert all(s > 0 for s in cost.image_s.values())
    assert cost.warmup_s >= 0 and cost.first_view_s >= 0
