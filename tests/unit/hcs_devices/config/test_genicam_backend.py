"""The GenICam camera section: an IPv4 address, bounded settings, errors naming the key."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hcs_devices.config import MicroscopeConfig
from hcs_devices.config.models import GenicamBackend


def with_camera_backend(config: MicroscopeConfig, backend: dict[str, Any]) -> dict[str, Any]:
    data = config.model_dump(mode="json")
    data["camera"]["backend"] = backend
    return data


def test_microscope_config_accepts_a_genicam_camera_when_given_its_address(
    profile_config: MicroscopeConfig,
) -> None:
    data = with_camera_backend(profile_config, {"kind": "genicam", "address": "192.168.10.2"})
    backend = MicroscopeConfig.model_validate(data).camera.backend
    assert isinstance(backend, GenicamBackend)
    assert (backend.trigger, backend.pixel_format, backend.trigger_line) == (
        "software",
        "Mono16",
        "Line0",
    )


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        ({"address": "camera.lab"}, r"'camera.lab' is not an IPv4 address"),
        ({"address": "192.168.10.256"}, r"is not an IPv4 address"),
        ({"address": "10.0.0.2", "packet_size_bytes": 70000}, r"less than or equal to 65500"),
        ({"address": "10.0.0.2", "trigger": "line"}, r"'software', 'hardware' or 'free_run'"),
        ({"address": "10.0.0.2", "trigger_line": "In1"}, r"Line\[0-9\]"),
        ({"address": "10.0.0.2", "pixel_format": "Mono12Packed"}, r"'Mono8', 'Mono10'"),
        ({"address": "10.0.0.2", "exposure": 1}, r"Extra inputs are not permitted"),
    ],
)
def test_genicam_backend_names_the_key_and_the_allowed_values_when_invalid(
    backend: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        GenicamBackend.model_validate({"kind": "genicam", **backend})


def test_microscope_config_refuses_the_squid_board_as_a_camera_naming_both_kinds(
    profile_config: MicroscopeConfig,
) -> None:
    data = with_camera_backend(profile_config, {"kind": "squid"})
    with pytest.raises(ValidationError, match="camera backend must be sim or genicam"):
        MicroscopeConfig.model_validate(data)
