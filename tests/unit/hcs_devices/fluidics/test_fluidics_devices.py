"""The ophyd-async devices on simulated backends: moves, flows, validation, ownership."""

from __future__ import annotations

import asyncio

import pytest
from ophyd_async.core import init_devices

from hcs_devices.fluidics import (
    Flow,
    Fluidics,
    FluidicsConfig,
    FluidicsValueError,
    PumpStoppedError,
    ValveMoveError,
    build_fluidics,
)
from hcs_devices.fluidics.backends import SimPumpBackend, SimValveChainBackend
from hcs_devices.ownership import BusyError, HardwareOwner


def _config() -> FluidicsConfig:
    return FluidicsConfig.model_validate(
        {
            "valves": {"n_valves": 2, "ports_per_valve": [8, 6], "sim_speed_factor": 100},
            "pump": {"tube_ul_per_rev": 100, "status_poll_s": 0.02},
            "reagents": {"wash": [[1, 8]], "r1": [[1, 2], [2, 5]]},
        }
    )


@pytest.fixture
async def fluidics():
    owner = HardwareOwner()
    device = build_fluidics(_config(), owner=owner)
    await device.connect()
    yield device
    await device.close()


def _chain(fluidics: Fluidics) -> SimValveChainBackend:
    backend = fluidics.valves[1].backend
    assert isinstance(backend, SimValveChainBackend)
    return backend


def _pump(fluidics: Fluidics) -> SimPumpBackend:
    backend = fluidics.pump.backend
    assert isinstance(backend, SimPumpBackend)
    return backend


async def test_fluidics_moves_path_and_reports_reagent_when_selecting(fluidics):
    await fluidics.set("r1")
    assert _chain(fluidics).ports == [2, 5]
    assert await fluidics.reagent.get_value() == "r1"
    assert await fluidics.valves[2].port.get_value() == 5
    reading = await fluidics.read()
    assert reading["fluidics-valves-1"]["value"] == 2


async def test_fluidics_refuses_unknown_reagent_when_selecting(fluidics):
    with pytest.raises(
        FluidicsValueError, match=r"reagent 'acid' is not in the reagent map; known: r1, wash"
    ):
        await fluidics.set("acid")
    assert _chain(fluidics).moves == []


async def test_selector_valve_refuses_port_beyond_size_when_set(fluidics):
    with pytest.raises(FluidicsValueError, match=r"port 7 is outside this valve's ports 1\.\.6"):
        await fluidics.valves[2].set(7)
    assert _chain(fluidics).moves == []


async def test_selector_valve_names_itself_when_stuck(fluidics):
    _chain(fluidics).stuck.add(1)
    with pytest.raises(ValveMoveError, match=r"fluidics-valves-1: asked port 3: .*between ports"):
        await fluidics.valves[1].set(3)
    assert await fluidics.valves[1].port.get_value() == 0


@pytest.mark.timing  # the simulated pump's volume is its rate x the time it ran
async def test_pump_delivers_volume_and_stops_when_flow_done(fluidics):
    await fluidics.pump.run_volume(40, 4800)  # 0.5 s
    assert _pump(fluidics).delivered_ul == pytest.approx(40, rel=0.05)
    assert await fluidics.pump.delivered_ul.get_value() == pytest.approx(40, rel=0.05)
    assert not _pump(fluidics).running
    assert await fluidics.pump.rate_ul_min.get_value() == 0


@pytest.mark.timing  # the simulated pump's volume is its rate x the time it ran
async def test_pump_runs_for_time_when_duration_given(fluidics):
    await fluidics.pump.run_time(0.2, 3000)
    assert _pump(fluidics).delivered_ul == pytest.approx(10, rel=0.1)


@pytest.mark.parametrize(
    ("flow", "message"),
    [
        (Flow(rate_ul_min=100, volume_ul=-5), r"volume_ul must be a number > 0 uL, got -5"),
        (
            Flow(rate_ul_min=5000, volume_ul=10),
            r"rate_ul_min 5000 is outside the pump's range 1\.\.4800 uL/min",
        ),
        (Flow(rate_ul_min=0.5, volume_ul=10), r"rate_ul_min 0.5 is outside"),
        (Flow(rate_ul_min=100), r"exactly one of volume_ul and duration_s"),
    ],
)
async def test_pump_refuses_flow_before_sending_when_out_of_range(fluidics, flow, message):
    with pytest.raises(FluidicsValueError, match=message):
        await fluidics.pump.set(flow)
    assert _pump(fluidics).commands == []


async def test_pump_reports_stopped_by_itself_when_overloaded(fluidics):
    _pump(fluidics).overload_after_s = 0.05
    with pytest.raises(
        PumpStoppedError, match=r"fluidics-pump: stopped by itself .* asked 100 uL at 3000 uL/min"
    ):
        await fluidics.pump.run_volume(100, 3000)
    assert not _pump(fluidics).running
    assert _pump(fluidics).commands[-1] == "stop"


async def test_pump_flow_fails_and_stops_when_stop_requested(fluidics):
    status = fluidics.pump.run_volume(1000, 3000)
    await asyncio.sleep(0.1)
    await fluidics.pump.stop(success=True)
    with pytest.raises(PumpStoppedError, match="stopped on request while asked 1000 uL"):
        await status
    assert not _pump(fluidics).running
    assert await fluidics.pump.delivered_ul.get_value() == pytest.approx(5, abs=2)


async def test_fluidics_refuses_reagent_change_when_pump_running(fluidics):
    status = fluidics.pump.run_volume(1000, 3000)
    await asyncio.sleep(0.05)
    with pytest.raises(Exception, match="while fluidics-pump is running"):
        await fluidics.set("wash")
    await fluidics.stop()
    with pytest.raises(PumpStoppedError):
        await status


async def test_devices_refuse_commands_when_run_owns_hardware():
    owner = HardwareOwner()
    device = build_fluidics(_config(), owner=owner)
    await device.connect()
    token = owner.claim("run 42")
    try:
        with pytest.raises(BusyError, match=r"fluidics-pump\.flow 10 uL"):
            await device.pump.run_volume(10, 1000)
        with pytest.raises(BusyError, match=r"fluidics\.select reagent 'wash'"):
            await device.set("wash")
        assert _pump(device).commands == [] and _chain(device).moves == []
        with owner.acting_as(token):
            await device.set("wash")
        assert _chain(device).ports[0] == 8
    finally:
        owner.release(token)
        await device.close()


async def test_fluidics_builds_in_mock_mode_when_no_hardware():
    async with init_devices(mock=True):
        device = build_fluidics(_config())
    assert device.name == "fluidics"
    assert not _pump(device).connected
