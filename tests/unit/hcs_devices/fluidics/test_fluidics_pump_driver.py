"""The Minipuls 3 driver against the emulated pump over a real pseudo-terminal."""

from __future__ import annotations

import threading
import time

import pytest

from hcs_devices.fluidics.errors import SilentDeviceError
from hcs_devices.fluidics.pump.base import FlowDirection
from hcs_devices.fluidics.pump.emulator import Minipuls3Emulator


def test_connect_selects_unit_and_takes_remote_when_pump_answers(pump_driver, pump_emulator):
    pump_driver.connect()
    assert pump_emulator.remote
    assert pump_driver.identification == pump_emulator.identification
    assert pump_emulator.received.startswith(b"\xff\x9e")  # raw bytes, not text-encoded


def test_start_runs_and_status_reports_direction_when_speed_set(pump_driver, pump_emulator):
    pump_driver.connect()
    pump_driver.set_speed_rpm(12.5)
    pump_driver.start(FlowDirection.REVERSE)
    status = pump_driver.status()
    assert status.running and status.direction is FlowDirection.REVERSE
    assert status.speed_rpm == pytest.approx(12.5) and status.remote
    pump_driver.stop()
    assert not pump_driver.status().running and not pump_emulator.running


def test_emulator_integrates_volume_when_running(pump_driver, pump_emulator):
    pump_driver.connect()
    pump_driver.set_speed_rpm(48)
    pump_driver.start(FlowDirection.FORWARD)
    threading.Event().wait(0.3)
    pump_driver.stop()
    # 48 rpm x 50 uL/rev = 40 uL/s
    assert pump_emulator.delivered_ul == pytest.approx(12.0, rel=0.1)


@pytest.mark.timing
def test_stop_lands_at_the_time_asked_when_sent_ahead(pump_driver, pump_emulator):
    pump_driver.connect()
    pump_driver.set_speed_rpm(48)
    started = pump_driver.start(FlowDirection.FORWARD)
    at = started + 0.3
    stopped = pump_driver.stop(at)
    assert time.monotonic() >= at and stopped == pytest.approx(at, abs=0.005)
    # 48 rpm x 50 uL/rev = 40 uL/s, for the 0.3 s between the two CRs
    assert pump_emulator.delivered_ul == pytest.approx(40.0 * (stopped - started), rel=0.02)
    # the command went out whole, the CR last
    assert pump_emulator.received.endswith(b"\nR0000\r")


def test_status_reports_stopped_when_rotor_overloads(pump_driver, pump_emulator):
    pump_driver.connect()
    pump_emulator.overload_after(0.0)
    pump_driver.set_speed_rpm(10)
    pump_driver.start(FlowDirection.FORWARD)
    assert not pump_driver.status().running
    assert pump_emulator.overloaded


def test_connect_raises_silent_naming_pump_when_pump_does_not_answer(pump_driver, pump_emulator):
    pump_emulator.silent = True
    with pytest.raises(
        SilentDeviceError, match=r"Minipuls 3 unit 30 .* no answer to unit selection"
    ):
        pump_driver.connect()


def test_emulator_ignores_other_units_when_not_selected():
    emulator = Minipuls3Emulator(unit_id=30)
    sent: list[bytes] = []
    emulator.attach(sent.append)
    emulator.receive(b"\xff\x85\n")
    assert sent == []
    emulator.receive(b"\x9e")
    assert sent == [b"\x9e"]
