"""The fake camera host: serves Aravis's fake camera on 127.0.0.1, refuses a busy port,
and turns edges on its emulated Line0 wire into frames only when triggered from Line0."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from hcs_devices.camera.genicam.aravis import load_aravis, open_gige_camera
from hcs_devices.camera.genicam.fake_camera import FakeCameraProcess
from hcs_devices.camera.genicam.trigger_line import LineCounts, send_edge

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


def _frames_within(stream: Any, wait_s: float) -> list[int]:
    """Frame ids of the frames that arrive within ``wait_s`` (buffers given back)."""
    ids = []
    deadline = time.monotonic() + wait_s
    while (left := deadline - time.monotonic()) > 0:
        buffer = stream.timeout_pop_buffer(max(1, int(left * 1e6)))
        if buffer is None:
            break
        ids.append(buffer.get_frame_id())
        stream.push_buffer(buffer)
    return ids


def test_fake_camera_line0_takes_one_frame_per_edge_only_when_triggered_from_line0(
    fake_camera: FakeCameraProcess,
) -> None:
    aravis = load_aravis()
    assert fake_camera.line_address is not None
    camera = open_gige_camera(fake_camera.address)
    camera.gv_set_packet_size(65000)
    camera.set_region(0, 0, 64, 64)
    stream = camera.create_stream(None, None)
    for _ in range(4):
        stream.push_buffer(aravis.Buffer.new_allocate(camera.get_payload()))
    camera.set_trigger("Software")
    camera.start_acquisition()
    try:
        # On software trigger, an edge on Line0 is ignored, as a real camera ignores it.
        send_edge(fake_camera.line_address)
        assert _frames_within(stream, 0.3) == []
        assert fake_camera.line_counts() == LineCounts(edges=1, frames=0, ignored=1)
        # On Line0, each edge takes exactly one frame. Only the source changes while
        # acquiring: Aravis's set_trigger first clears the triggers, and the fake camera
        # free-runs a frame if its stream loop wakes in that gap.
        camera.set_string("TriggerSource", "Line0")
        send_edge(fake_camera.line_address)
        assert len(_frames_within(stream, 0.5)) == 1
        send_edge(fake_camera.line_address)
        send_edge(fake_camera.line_address)
        assert len(_frames_within(stream, 0.5)) == 2
        assert fake_camera.line_counts() == LineCounts(edges=4, frames=3, ignored=1)
        # The camera still says what it was set to.
        assert camera.get_string("TriggerSource") == "Line0"
    finally:
        camera.stop_acquisition()
    # Not acquiring: an edge starts nothing.
    send_edge(fake_camera.line_address)
    assert fake_camera.line_counts() == LineCounts(edges=5, frames=3, ignored=2)
