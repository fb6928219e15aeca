"""Fluidics plan stubs with a real RunEngine, the real drivers and the emulators on ptys.

Every byte goes through pyserial, a pseudo-terminal and the emulated wire protocol.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Iterator

import bluesky.preprocessors as bpp
import pytest
from bluesky import RunEngine
from bluesky.utils import RunEngineInterrupted
from ophyd_async.plan_stubs import ensure_connected

from hcs_devices.fluidics import (
    Fluidics,
    FluidicsConfig,
    FluidicsValueError,
    PumpStoppedError,
    RefusedError,
    SilentDeviceError,
    ValveMoveError,
    build_fluidics,
)
from hcs_devices.fluidics.emulation import EmulatedFluidics
from hcs_devices.fluidics.mvp.emulator import ValveFault
from hcs_plans.stubs.fluidics import flow_for_time, flow_volume, incubate, select_reagent

REAGENTS = {
    "wash": ((1, 8),),
    "imaging_buffer": ((1, 7),),
    "readout_01": ((1, 1), (2, 1)),
    "readout_02": ((1, 1), (2, 2)),
    "cleave": ((1, 1), (2, 6)),
}


def _our_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith(("hcs-serial-", "pty-"))}


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    threads, fds = _our_threads(), len(os.listdir("/proc/self/fd"))
    yield
    deadline = time.monotonic() + 2
    while _our_threads() - threads and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    assert _our_threads() - threads == set()
    assert len(os.listdir("/proc/self/fd")) <= fds


@pytest.fixture(scope="module")
def RE() -> RunEngine:
    # one RunEngine (and event loop) for the module, created before the leak checks
    return RunEngine(call_returns_result=True)


@pytest.fixture
def rig() -> Iterator[EmulatedFluidics]:
    with EmulatedFluidics((8, 6), tube_ul_per_rev=100.0, speed_factor=50.0) as emulated:
        yield emulated


@pytest.fixture
def config(rig: EmulatedFluidics) -> FluidicsConfig:
    return rig.config(
        REAGENTS,
        valves={"reply_timeout_s": 0.2, "move_timeout_s": 1.0, "poll_interval_s": 0.005},
        pump={"reply_timeout_s": 0.2, "status_poll_s": 0.05},
    )


@pytest.fixture
def fluidics(RE: RunEngine, config: FluidicsConfig) -> Iterator[Fluidics]:
    device = build_fluidics(config)
    try:
        RE(ensure_connected(device))
        yield device
    finally:
        asyncio.run_coroutine_threadsafe(device.close(), RE.loop).result(5)


@pytest.mark.slow
@pytest.mark.timing
def test_fluidics_rig_delivers_reagents_through_right_ports_when_protocol_runs(
    RE, rig, config, fluidics
):
    tolerance = config.pump.calibration_tolerance_percent / 100
    delivered: dict[str, float] = {}

    def protocol():
        for reagent, volume_ul in (("readout_01", 40.0), ("wash", 60.0), ("readout_02", 40.0)):
            yield from select_reagent(fluidics, reagent)
            assert rig.valves.ports == [port_of(reagent, 1), port_of(reagent, 2)]
            before = rig.pump.delivered_ul
            yield from flow_volume(fluidics, volume_ul, 4800)  # 80 uL/s
            delivered[reagent] = rig.pump.delivered_ul - before
            yield from incubate(0.02)
        yield from select_reagent(fluidics, "imaging_buffer")
        yield from flow_for_time(fluidics, 0.25, 2400)

    def port_of(reagent: str, valve: int) -> int:
        path = dict(REAGENTS[reagent])
        return path.get(valve, rig.valves.ports[valve - 1])

    result = RE(bpp.run_wrapper(protocol()))
    assert result.exit_status == "success"
    assert rig.valves.ports == [7, 2]
    assert delivered["readout_01"] == pytest.approx(40.0, rel=tolerance)
    assert delivered["wash"] == pytest.approx(60.0, rel=tolerance)
    assert delivered["readout_02"] == pytest.approx(40.0, rel=tolerance)
    assert rig.pump.delivered_ul == pytest.approx(150.0, rel=tolerance)
    assert not rig.pump.running
    # every move went the shorter way: 1 -> 8 is one step counter-clockwise
    assert b"aLP18R" in rig.valves.commands


@pytest.mark.timing
def test_fluidics_rig_stops_on_time_when_the_event_loop_is_busy_as_the_flow_ends(
    RE, rig, config, fluidics
):
    tolerance = config.pump.calibration_tolerance_percent / 100
    delivered: dict[str, float] = {}

    def hog_the_loop(seconds: float) -> None:
        threading.Event().wait(seconds)  # what a slow callback on the RunEngine's loop does

    def protocol():
        yield from select_reagent(fluidics, "wash")
        before = rig.pump.delivered_ul
        # 40 uL at 80 uL/s ends 0.5 s after the start; the loop is blocked from 0.45 s
        # to 0.75 s, so a stop sent from the loop would come 0.25 s (20 uL) late
        RE.loop.call_soon_threadsafe(RE.loop.call_later, 0.45, hog_the_loop, 0.3)
        yield from flow_volume(fluidics, 40.0, 4800)
        delivered["rig"] = rig.pump.delivered_ul - before

    assert RE(bpp.run_wrapper(protocol())).exit_status == "success"
    assert delivered["rig"] == pytest.approx(40.0, rel=tolerance)
    recorded = asyncio.run_coroutine_threadsafe(
        fluidics.pump.delivered_ul.get_value(), RE.loop
    ).result(5)
    assert recorded == pytest.approx(delivered["rig"], rel=tolerance)


def test_fluidics_rig_names_valve_and_ports_when_valve_is_stuck(RE, rig, fluidics):
    rig.valves.set_fault(2, ValveFault.STUCK)
    with pytest.raises(ValveMoveError) as info:
        RE(bpp.run_wrapper(select_reagent(fluidics, "cleave")))
    message = str(info.value)
    assert "fluidics-valves-2" in message and "asked port 6, found between ports" in message
    assert not rig.pump.running


def test_fluidics_rig_reports_refusal_when_valve_answers_nak(RE, rig, fluidics):
    rig.valves.set_fault(1, ValveFault.NAK)
    with pytest.raises(
        RefusedError, match=r"fluidics-valves-1: asked port 8: .* refused move to port 8 \(NAK\)"
    ):
        RE(bpp.run_wrapper(select_reagent(fluidics, "wash")))
    assert not rig.pump.running


def test_fluidics_rig_reports_silence_when_valve_does_not_answer(RE, rig, fluidics):
    rig.valves.set_fault(2, ValveFault.SILENT)
    with pytest.raises(SilentDeviceError, match=r"fluidics-valves-2: asked port 2: .*no answer"):
        RE(bpp.run_wrapper(select_reagent(fluidics, "readout_02")))


@pytest.mark.slow
def test_fluidics_rig_reports_silence_and_pump_stays_stopped_when_pump_does_not_answer(
    RE, rig, fluidics
):
    rig.pump.silent = True
    with pytest.raises(
        SilentDeviceError, match=r"fluidics-pump: asked 30 uL at 1200 uL/min: .*no answer"
    ):
        RE(bpp.run_wrapper(flow_volume(fluidics, 30, 1200)))
    assert not rig.pump.running


def test_fluidics_rig_stops_pump_when_pump_overloads(RE, rig, fluidics):
    rig.pump.overload_after(0.1)
    with pytest.raises(
        PumpStoppedError, match=r"fluidics-pump: stopped by itself .* asked 100 uL at 1200 uL/min"
    ):
        RE(bpp.run_wrapper(flow_volume(fluidics, 100, 1200)))
    assert not rig.pump.running and rig.pump.overloaded
    assert rig.pump.buffered_commands[-1] == "R0000"


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (lambda f: select_reagent(f, "formamide"), "reagent 'formamide' is not in the reagent map"),
        (lambda f: flow_volume(f, -10, 500), "volume_ul must be more than 0 uL, got -10"),
        (
            lambda f: flow_volume(f, 10, 9000),
            "rate_ul_min 9000 is outside the pump's range 1..4800 uL/min",
        ),
    ],
)
def test_fluidics_rig_sends_nothing_when_input_is_bad(RE, rig, fluidics, plan, message):
    rig.clear_logs()
    with pytest.raises(FluidicsValueError, match=re.escape(message)):
        RE(bpp.run_wrapper(plan(fluidics)))
    assert rig.received == b""


def test_fluidics_rig_sends_nothing_when_valve_port_is_beyond_its_size(RE, rig, fluidics):
    import bluesky.plan_stubs as bps

    rig.clear_logs()
    with pytest.raises(Exception, match=r"port 7 is outside this valve's ports 1\.\.6"):
        RE(bpp.run_wrapper(bps.mv(fluidics.valves[2], 7)))
    assert rig.received == b""


def test_fluidics_rig_pump_ends_stopped_when_run_engine_aborts_mid_flow(RE, rig, fluidics):
    timer = threading.Timer(0.3, RE.abort)
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(RunEngineInterrupted):
            RE(bpp.run_wrapper(flow_volume(fluidics, 2000, 1200)))  # 100 s if not stopped
    finally:
        timer.join()
    assert not rig.pump.running
    ran_s = time.monotonic() - started
    # The emulated pump counts wall-clock time: it flowed, and at 20 uL/s for no longer
    # than the aborted plan took (about 6 uL; a loaded machine makes it more).
    assert 0 < rig.pump.delivered_ul <= 20 * ran_s


def test_fluidics_config_connects_when_yaml_points_at_emulators(rig):
    config = FluidicsConfig.model_validate(
        {
            "valves": {
                "port": str(rig.valve_server.path),
                "n_valves": 2,
                "ports_per_valve": [8, 6],
            },
            "pump": {"port": str(rig.pump_server.path), "tube_ul_per_rev": 50.0},
            "reagents": {"wash": [[1, 8]]},
        }
    )

    async def use() -> None:
        device = build_fluidics(config)
        try:
            await device.connect()
            await device.set("wash")
        finally:
            await device.close()

    asyncio.run(use())
    assert rig.valves.ports[0] == 8 and rig.pump.remote is False  # handed back to the keypad
