"""The fake camera host: serves Aravis's fake camera on 127.0.0.1 and refuses a busy port."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hcs_devices.camera.genicam.aravis import open_gige_camera
from hcs_devices.camera.genicam.fake_camera import FakeCameraProcess

# Each test starts a GigE Vision camera process: full suite only.
pytestmark = pytest.mark.slow


def test_fake_camera_answers_by_address_with_its_serial_when_started(
    fake_camera: FakeCameraProcess,
) -> None:
    camera = open_gige_camera(fake_camera.address)
    assert camera.get_device_serial_number() == fake_camera.serial
    assert camera.get_sensor_size() == (2048, 2048)


def test_fake_camera_refuses_to_start_when_the_port_is_taken(
    fake_camera: FakeCameraProcess,
) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "hcs_devices.camera.genicam.fake_camera", "--serial", "X"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 1
    assert "GVCP port 3956 on 127.0.0.1 is in use" in second.stderr


def test_fake_camera_process_stops_when_killed(fake_camera: FakeCameraProcess) -> None:
    process = fake_camera.process
    assert process is not None and process.poll() is None
    fake_camera.kill()
    assert process.returncode is not None
    # Killed or not, the lock is free again once the camera is stopped.
    fake_camera.stop()
    with FakeCameraProcess(serial="AGAIN") as again:
        assert open_gige_camera(again.address).get_device_serial_number() == "AGAIN"
