"""The fluidics plan stubs with a real RunEngine and simulated fluidics."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import bluesky.plan_stubs as bps
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
    build_fluidics,
)
from hcs_devices.fluidics.backends import SimPumpBackend, SimValveChainBackend
from hcs_plans.stubs.fluidics import (
    STEP_STREAM,
    flow_for_time,
    flow_volume,
    incubate,
    select_reagent,
)

CONFIG = {
    "valves": {"n_valves": 2, "ports_per_valve": [8, 6], "sim_speed_factor": 100},
    "pump": {"tube_ul_per_rev": 100, "status_poll_s": 0.02},
    "reagents": {"wash": [[1, 8]], "readout_01": [[1, 2], [2, 5]]},
}


@pytest.fixture
def RE() -> RunEngine:
    return RunEngine(call_returns_result=True)


@pytest.fixture
def fluidics(RE: RunEngine) -> Iterator[Fluidics]:
    device = build_fluidics(FluidicsConfig.model_validate(CONFIG))
    RE(ensure_connected(device))
    yield device
    asyncio.run_coroutine_threadsafe(device.close(), RE.loop).result(5)


@pytest.fixture
def docs(RE: RunEngine) -> list[tuple[str, dict[str, Any]]]:
    collected: list[tuple[str, dict[str, Any]]] = []
    RE.subscribe(lambda name, doc: collected.append((name, doc)))
    return collected


def _pump(fluidics: Fluidics) -> SimPumpBackend:
    backend = fluidics.pump.backend
    assert isinstance(backend, SimPumpBackend)
    return backend


def _chain(fluidics: Fluidics) -> SimValveChainBackend:
    backend = fluidics.valves[1].backend
    assert isinstance(backend, SimValveChainBackend)
    return backend


def _steps(docs: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    streams = {d["uid"]: d["name"] for name, d in docs if name == "descriptor"}
    return [
        {k.split("-", 1)[1]: v for k, v in d["data"].items()}
        for name, d in docs
        if name == "event" and streams[d["descriptor"]] == STEP_STREAM
    ]


@pytest.mark.timing  # the simulated pump's volume is its rate x the time it ran
def test_stubs_record_steps_in_fluidics_stream_when_run_is_open(RE, fluidics, docs):
    def protocol():
        yield from select_reagent(fluidics, "readout_01", metadata={"round": 3})
        yield from flow_volume(fluidics, 20, 4800)
        yield from incubate(0.05)
        yield from select_reagent(fluidics, "wash")
        yield from flow_for_time(fluidics, 0.1, 3000)

    result = RE(bpp.run_wrapper(protocol()))
    assert result.exit_status == "success"
    steps = _steps(docs)
    assert [s["step"] for s in steps] == [
        "select_reagent",
        "flow",
        "incubate",
        "select_reagent",
        "flow",
    ]
    assert steps[0]["ports"] == "1:2 2:5" and steps[0]["metadata"] == '{"round": 3}'
    assert steps[1]["reagent"] == "readout_01" and steps[1]["volume_ul"] == 20
    assert steps[1]["rate_ul_min"] == 4800 and steps[1]["end_time"] > steps[1]["start_time"]
    assert steps[2]["duration_s"] >= 0.05 and math.isnan(steps[2]["volume_ul"])
    assert _chain(fluidics).ports == [8, 5]
    assert _pump(fluidics).delivered_ul == pytest.approx(25, rel=0.08)
    assert not _pump(fluidics).running


def test_stubs_run_without_recording_when_no_run_is_open(RE, fluidics, docs):
    result = RE(select_reagent(fluidics, "wash"))
    assert result.exit_status == "success" and result.plan_result.reagent == "wash"
    assert not [d for name, d in docs if name == "event"]


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (
            lambda f: select_reagent(f, "bleach"),
            r"reagent 'bleach' is not in the reagent map; known: readout_01, wash",
        ),
        (lambda f: flow_volume(f, -1, 100), r"volume_ul must be more than 0 uL, got -1"),
        (
            lambda f: flow_volume(f, 10, 9000),
            r"rate_ul_min 9000 is outside the pump's range 1\.\.4800 uL/min",
        ),
        (lambda f: flow_for_time(f, math.inf, 100), r"duration_s must be more than 0 s"),
        (lambda f: incubate(-2), r"duration_s must be 0 s or more, got -2"),
    ],
)
def test_stubs_refuse_before_sending_when_input_is_bad(RE, fluidics, plan, message):
    with pytest.raises(FluidicsValueError, match=message):
        RE(bpp.run_wrapper(plan(fluidics)))
    assert _pump(fluidics).commands == [] and _chain(fluidics).moves == []


def test_run_engine_stops_pump_when_plan_fails_mid_flow(RE, fluidics):
    def failing():
        yield from bps.abs_set(fluidics.pump, _long_flow(), group="flow")
        yield from bps.sleep(0.1)
        raise RuntimeError("operator pressed the wrong button")

    def plan():
        yield from flow_volume(fluidics, 1, 1000)  # touch the stub's wrapper path too
        yield from failing()

    with pytest.raises(RuntimeError, match="wrong button"):
        RE(bpp.run_wrapper(plan()))
    assert not _pump(fluidics).running


def _long_flow():
    from hcs_devices.fluidics import Flow

    return Flow(rate_ul_min=3000, volume_ul=1000)


@pytest.mark.parametrize("how", ["abort", "stop"])
def test_flow_volume_leaves_pump_stopped_when_run_engine_interrupted(RE, fluidics, docs, how):
    timer = threading.Timer(0.2, getattr(RE, how))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(RunEngineInterrupted):
            RE(bpp.run_wrapper(flow_volume(fluidics, 1000, 3000)))  # 20 s if not stopped
    finally:
        timer.join()
    stop = next(d for name, d in docs if name == "stop")
    assert stop["exit_status"] == ("abort" if how == "abort" else "success")
    assert not _pump(fluidics).running
    ran_s = time.monotonic() - started
    assert _pump(fluidics).commands[-1] == "stop"
    # The simulated pump counts wall-clock time: it flowed, and at 50 uL/s for no longer
    # than the interrupted plan took (about 10 uL; a loaded machine makes it more).
    assert 0 < _pump(fluidics).delivered_ul <= 50 * ran_s


def test_flow_volume_raises_pump_stopped_when_pump_overloads(RE, fluidics):
    _pump(fluidics).overload_after_s = 0.05
    with pytest.raises(PumpStoppedError, match="stopped by itself"):
        RE(bpp.run_wrapper(flow_volume(fluidics, 100, 3000)))
    assert not _pump(fluidics).running
