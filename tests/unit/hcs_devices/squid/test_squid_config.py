from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from hcs_devices.squid.config import AxisLimits, SquidConfig, StageAxisConfig


def test_config_builds_hcs_defaults_when_only_port_given() -> None:
    config = SquidConfig(port="/dev/ttyACM0")
    assert config.x.lead_screw_pitch_mm == 2.54
    assert config.z.sign == -1
    assert config.illumination_sources["488"] == 12
    assert config.piezo.dac_channel == 7


def test_config_error_names_field_and_values_when_microstepping_invalid() -> None:
    with pytest.raises(ValidationError) as info:
        SquidConfig.model_validate(
            {"port": "/dev/ttyACM0", "x": {"lead_screw_pitch_mm": 2.54, "microstepping": 100}}
        )
    text = str(info.value)
    assert "x.microstepping" in text
    assert "1, 2, 4, 8, 16, 32, 64, 128, 256" in text


def test_config_error_names_field_and_range_when_current_too_high() -> None:
    with pytest.raises(ValidationError) as info:
        SquidConfig.model_validate(
            {"port": "/dev/ttyACM0", "z": {"lead_screw_pitch_mm": 0.3, "rms_current_ma": 70000}}
        )
    text = str(info.value)
    assert "z.rms_current_ma" in text
    assert "65535" in text


def test_config_error_names_key_when_misspelt() -> None:
    with pytest.raises(ValidationError, match="watchdog_timeout"):
        SquidConfig(port="/dev/ttyACM0", watchdog_timeout=5)  # type: ignore[call-arg]


def test_config_error_lists_allowed_codes_when_source_code_unknown() -> None:
    with pytest.raises(ValidationError, match=r"11\.\.15"):
        SquidConfig(port="/dev/ttyACM0", illumination_sources={"488": 16})


def test_config_is_frozen_when_assigned() -> None:
    config = SquidConfig(port="/dev/ttyACM0")
    with pytest.raises(ValidationError):
        config.port = "/dev/other"  # type: ignore[misc]


def test_axis_config_converts_um_to_usteps_when_spec_figures() -> None:
    xy = StageAxisConfig(lead_screw_pitch_mm=2.54, microstepping=256)
    z = StageAxisConfig(lead_screw_pitch_mm=0.3, microstepping=256, sign=-1)
    assert round(xy.usteps_per_mm) == 20157
    assert round(z.usteps_per_mm) == 170667
    assert z.um_to_usteps(1000.0) == -170667
    assert z.usteps_to_um(z.um_to_usteps(1234.5)) == pytest.approx(1234.5, abs=z.um_per_ustep)


def test_axis_limits_refuses_when_low_above_high() -> None:
    with pytest.raises(ValueError, match="low_um"):
        AxisLimits(10.0, 5.0, 1000.0, 1000.0)
    with pytest.raises(ValueError, match="max_velocity_um_s"):
        AxisLimits(0.0, 5.0, 0.0, 1000.0)


DOC = Path(__file__).parents[4] / "docs" / "how-to" / "connect-a-real-squid.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_doc_yaml_example_validates_when_loaded() -> None:
    (example,) = [b for b in _blocks("yaml") if b.startswith("squid:")]
    config = SquidConfig.model_validate(yaml.safe_load(example)["squid"])
    assert config.port.startswith("/dev/serial/by-id/usb-Teensyduino")
    assert config.illumination_sources["561"] == 14
    assert config.home_on_connect == ("z", "x", "y")


def test_doc_error_example_matches_when_microstepping_invalid() -> None:
    with pytest.raises(ValidationError) as info:
        SquidConfig.model_validate(
            {"port": "p", "x": {"lead_screw_pitch_mm": 2.54, "microstepping": 100}}
        )
    (error,) = info.value.errors()
    assert ".".join(map(str, ("squid", *error["loc"]))) in DOC.read_text()
    assert f"Value error, {error.get('ctx', {}).get('error')}" in DOC.read_text()
