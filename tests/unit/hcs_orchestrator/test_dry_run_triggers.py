"""``hcs acquire --dry-run`` says how the camera will be triggered, fallback included."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hcs_devices.config import MicroscopeConfig
from hcs_orchestrator.cli import main as hcs_main

REPO = Path(__file__).resolve().parents[3]
DEMO_SPEC = REPO / "src" / "hcs_orchestrator" / "data" / "sequences" / "demo-96.yaml"
SOURCES = {"led_matrix_full": 0, "405": 11, "488": 12, "561": 14, "638": 13}


def _config_file(base: MicroscopeConfig, directory: Path, *, board: bool) -> Path:
    """``base`` with a GenICam camera on hardware trigger, on a Squid board or not."""
    data = base.model_dump(mode="json")
    data["camera"]["backend"] = {"kind": "genicam", "address": "127.0.0.1", "trigger": "hardware"}
    data["laser_autofocus"] = None
    if board:
        for section in ("stage", "illumination", "filter_wheel"):
            data[section]["backend"] = {"kind": "squid"}
        data["squid"] = {"port": str(directory / "ttySquid"), "illumination_sources": SOURCES}
    path = directory / ("board.yaml" if board else "no-board.yaml")
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("board", "line"),
    [
        (
            True,
            "camera triggers: hardware, one pulse per frame from the Squid board's trigger "
            "output 0 to the camera's Line0; the board strobes each channel's light for its "
            "exposure",
        ),
        (
            False,
            "camera triggers: software (fallback): camera.backend.trigger is hardware but no "
            "Squid board is configured to send pulses to the camera's Line0; one trigger "
            "command per frame",
        ),
    ],
    ids=["squid-board", "no-board"],
)
def test_hcs_acquire_dry_run_says_who_triggers_the_camera(
    profile_config: MicroscopeConfig,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    board: bool,
    line: str,
) -> None:
    config = _config_file(profile_config, tmp_path, board=board)
    data_dir = tmp_path / "data"
    args = ["acquire", str(DEMO_SPEC), "--dry-run", "--config", str(config)]
    assert hcs_main([*args, "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == line
    assert "images: 108" in out
    assert not data_dir.exists()
