"""Which exposures the Squid board triggers, and the fallback to software triggers."""

from __future__ import annotations

from typing import Any

import pytest

from hcs_devices.camera.triggering import camera_triggering
from hcs_devices.config import MicroscopeConfig

SOURCES = {"led_matrix_full": 0, "405": 11, "488": 12, "561": 14, "638": 13}


def rig(base: MicroscopeConfig, *, board: bool, **camera: Any) -> MicroscopeConfig:
    """``base`` with a GenICam camera (``camera`` keys; none: the simulated camera) and
    its stage, light and wheel on a Squid board or simulated."""
    data = base.model_dump(mode="json")
    if camera:
        data["camera"]["backend"] = {"kind": "genicam", "address": "192.168.10.2", **camera}
    if board:
        for section in ("stage", "illumination", "filter_wheel"):
            data[section]["backend"] = {"kind": "squid"}
        data["squid"] = {
            "port": "/dev/ttyACM0",
            "illumination_sources": SOURCES,
            "trigger": {"camera_channel": 2},
        }
    return MicroscopeConfig.model_validate(data)


@pytest.mark.parametrize(
    ("board", "camera", "mode", "fallback", "said"),
    [
        (
            True,
            {"trigger": "hardware"},
            "board",
            False,
            "camera triggers: hardware, one pulse per frame from the Squid board's trigger "
            "output 2 to the camera's Line0; the board strobes each channel's light for its "
            "exposure",
        ),
        (
            False,
            {"trigger": "hardware", "trigger_line": "Line2"},
            "software",
            True,
            "camera triggers: software (fallback): camera.backend.trigger is hardware but no "
            "Squid board is configured to send pulses to the camera's Line2; one trigger "
            "command per frame",
        ),
        (
            True,
            {"trigger": "software"},
            "software",
            False,
            "camera triggers: software, one trigger command per frame (set "
            "camera.backend.trigger to hardware, with the Squid board's trigger output 2 "
            "wired to the camera's Line0, for board triggers)",
        ),
        (False, {"trigger": "software"}, "software", False, "software, one trigger command"),
        (True, {"trigger": "free_run"}, "free_run", False, "none: camera.backend.trigger is"),
        (True, {}, "simulated", False, "camera triggers: simulated camera"),
    ],
)
def test_camera_triggering_uses_the_board_only_when_a_board_can_send_hardware_triggers(
    profile_config: MicroscopeConfig,
    board: bool,
    camera: dict[str, Any],
    mode: str,
    fallback: bool,
    said: str,
) -> None:
    triggering = camera_triggering(rig(profile_config, board=board, **camera))
    assert (triggering.mode, triggering.fallback) == (mode, fallback)
    assert triggering.board_triggers is (mode == "board")
    assert said in triggering.describe()
