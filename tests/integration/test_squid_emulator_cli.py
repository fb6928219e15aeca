"""``hcs emulate squid`` in a subprocess, driven by the real driver."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hcs_devices.squid.config import AxisLimits, SquidConfig
from hcs_devices.squid.driver import SquidDriver
from hcs_devices.squid.emulator_wire import PULSE
from hcs_devices.squid.protocol import Axis, Opcode, uint8, uint32

EMULATOR_CLI = (
    "import sys; from hcs_devices.squid.emulator_cli import main; sys.exit(main(sys.argv[1:]))"
)
HCS_CLI = "import sys; from hcs_orchestrator.cli import main; sys.exit(main(sys.argv[1:]))"


async def _serve_and_drive(
    command: list[str], directory: Path, line: socket.socket | None = None
) -> None:
    wire = ["--trigger-wire", "{}:{}".format(*line.getsockname())] if line else []
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            *command,
            "--speed-factor",
            "50",
            "--directory",
            str(directory),
            *wire,
        ],
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
            if line is not None:
                await driver.execute(Opcode.SEND_HARDWARE_TRIGGER, uint8(0) + uint32(10_000))
                assert line.recv(16) == PULSE
        finally:
            await driver.close()
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert not (directory / "squid").exists()


@pytest.mark.slow
async def test_squid_emulator_cli_serves_a_board_until_interrupted(tmp_path: Path) -> None:
    await _serve_and_drive([EMULATOR_CLI], tmp_path)


@pytest.mark.slow  # importing the whole `hcs` command line takes seconds
async def test_squid_emulator_cli_serves_a_board_when_run_as_hcs_emulate_squid(
    tmp_path: Path,
) -> None:
    await _serve_and_drive([HCS_CLI, "emulate", "squid"], tmp_path)


@pytest.mark.slow
async def test_squid_emulator_cli_pulses_its_trigger_wire_when_the_host_triggers(
    tmp_path: Path,
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as line:
        line.bind(("127.0.0.1", 0))
        line.settimeout(5.0)
        await _serve_and_drive([EMULATOR_CLI], tmp_path, line)


BAD_WIRE = ["--trigger-wire", "192.168.1.20:4000"]


def test_squid_emulator_cli_refuses_a_trigger_wire_off_this_machine(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", EMULATOR_CLI, "--directory", str(tmp_path), *BAD_WIRE],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "--trigger-wire: trigger wire host '192.168.1.20'" in done.stderr
    assert "use a loopback address (127.0.0.0/8)" in done.stderr
    assert not (tmp_path / "squid").exists()
