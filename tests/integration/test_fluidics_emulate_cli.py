"""``hcs emulate mvp`` and ``hcs emulate pump`` serve a device path until SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hcs_devices.fluidics.mvp.driver import MvpChainDriver, mvp_serial_settings
from hcs_devices.fluidics.pump.minipuls3 import Minipuls3Driver, minipuls3_serial_settings
from hcs_devices.fluidics.transport import SerialTransport

_MAIN = "import sys; from hcs_orchestrator.cli import main; sys.exit(main())"


def _serve(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _MAIN,
            "emulate",
            *args,
            "--directory",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def _terminate(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=10)
    finally:
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.slow  # a fresh interpreter importing the whole CLI: seconds on a busy machine
def test_emulate_mvp_serves_chain_until_sigterm_when_started(tmp_path):
    process, path = _serve(
        tmp_path, "mvp", "--valves", "2", "--ports", "8", "6", "--speed-factor", "100"
    )
    try:
        transport = SerialTransport(mvp_serial_settings(path))
        transport.open()
        try:
            driver = MvpChainDriver(transport, reply_timeout_s=0.3, poll_interval_s=0.005)
            assert driver.auto_address().valves_addressed == 2
            assert [v.n_ports for v in driver.discover()] == [8, 6]
            driver.move_to(2, 4)
        finally:
            transport.close()
    finally:
        assert _terminate(process) == 0
    assert not Path(path).exists()


@pytest.mark.slow
def test_emulate_pump_serves_pump_until_sigterm_when_started(tmp_path):
    process, path = _serve(tmp_path, "pump", "--unit-id", "12")
    try:
        transport = SerialTransport(minipuls3_serial_settings(path))
        transport.open()
        try:
            driver = Minipuls3Driver(transport, unit_id=12, reply_timeout_s=0.3)
            driver.connect()
            assert driver.status().remote
        finally:
            transport.close()
    finally:
        assert _terminate(process) == 0
