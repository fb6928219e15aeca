"""``hcs emulate squid`` in a subprocess, driven by the real driver."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hcs_devices.squid.config import AxisLimits, SquidConfig
from hcs_devices.squid.driver import SquidDriver
from hcs_devices.squid.protocol import Axis

EMULATOR_CLI = (
    "import sys; from hcs_devices.squid.emulator_cli import main; sys.exit(main(sys.argv[1:]))"
)
HCS_CLI = "import sys; from hcs_orchestrator.cli import main; sys.exit(main(sys.argv[1:]))"


async def _serve_and_drive(command: list[str], directory: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", *command, "--speed-factor", "50", "--directory", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        path = process.stdout.readline().strip()
        assert path == str(directory / "squid")
        config = SquidConfig(port=path, reset_settle_s=0.01, home_on_connect=())
        limits = {"x": AxisLimits(0.0, 100_000.0, 30_000.0, 500_000.0)}
        driver = SquidDriver(config, limits)
        try:
            await driver.connect()
            status = await driver.move_to_usteps(Axis.X, 123_456)
            assert status.x_usteps == 123_456
            assert driver.firmware_version == 0x14
        finally:
            await driver.close()
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert not (directory / "squid").exists()


async def test_squid_emulator_cli_serves_a_board_until_interrupted(tmp_path: Path) -> None:
    await _serve_and_drive([EMULATOR_CLI], tmp_path)


@pytest.mark.slow  # importing the whole `hcs` command line takes seconds
async def test_squid_emulator_cli_serves_a_board_when_run_as_hcs_emulate_squid(
    tmp_path: Path,
) -> None:
    await _serve_and_drive([HCS_CLI, "emulate", "squid"], tmp_path)
