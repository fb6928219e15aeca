"""Illumination: named sources, bounded intensity, and dark at the start and end of runs."""

from __future__ import annotations

import pytest

from hcs_devices.config import MicroscopeConfig
from hcs_devices.illumination import Illumination
from hcs_devices.sim.hardware import SimIlluminationBackend


@pytest.fixture
async def light(profile_config: MicroscopeConfig) -> Illumination:
    sources = [s.name for s in profile_config.illumination.sources]
    device = Illumination(SimIlluminationBackend(sources), sources=sources, name="illumination")
    await device.connect()
    return device


def backend(light: Illumination) -> SimIlluminationBackend:
    assert isinstance(light.backend, SimIlluminationBackend)
    return light.backend


async def test_illumination_selects_source_and_intensity_when_set(light: Illumination) -> None:
    await light.source.set("561")
    await light.intensity_percent.set(35.0)
    await light.on.set(True)
    hw = backend(light)
    assert (hw.selected, hw.intensity_percent, hw.is_on) == ("561", 35.0, True)
    await light.source.set("638")  # keeps the intensity
    assert (hw.selected, hw.intensity_percent) == ("638", 35.0)


async def test_illumination_refuses_when_the_source_is_unknown(light: Illumination) -> None:
    with pytest.raises(
        ValueError, match=r"unknown source '470'; sources are \['led_matrix_full', '405'"
    ):
        await light.source.set("470")
    assert backend(light).selected == "led_matrix_full"


@pytest.mark.parametrize("value", [-1.0, 100.5])
async def test_illumination_refuses_when_intensity_is_outside_0_to_100(
    light: Illumination, value: float
) -> None:
    with pytest.raises(ValueError, match=r"intensity_percent .* is outside \[0, 100\]"):
        await light.intensity_percent.set(value)
    assert backend(light).intensity_percent == 0.0


async def test_illumination_is_off_when_staged_and_unstaged(light: Illumination) -> None:
    await light.on.set(True)
    await light.stage()
    assert backend(light).is_on is False
    await light.on.set(True)
    await light.unstage()
    assert backend(light).is_on is False
    assert await light.on.get_value() is False
