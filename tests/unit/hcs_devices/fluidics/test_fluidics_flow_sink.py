"""Simulated fluidics report their flows to a flow sink; real drivers report nothing."""

from __future__ import annotations

import asyncio

import pytest

from hcs_devices.fluidics import FluidicsConfig, build_fluidics
from hcs_devices.fluidics.backends import SimPumpBackend
from hcs_devices.fluidics.pump.base import FlowDirection


class Sink:
    """Records what it is told."""

    def __init__(self) -> None:
        self.flows: list[tuple[tuple[tuple[int, int], ...], float]] = []

    def flowed(self, path: tuple[tuple[int, int], ...], volume_ul: float) -> None:
        self.flows.append((path, volume_ul))


def _config(valve_port: str) -> FluidicsConfig:
    return FluidicsConfig.model_validate(
        {
            "valves": {"port": valve_port, "n_valves": 2, "ports_per_valve": [8, 6]},
            "pump": {"tube_ul_per_rev": 3000.0},
            "reagents": {"RO-1": [[1, 4], [2, 6]]},
        }
    )


async def _run_pump(backend: SimPumpBackend) -> None:
    await backend.start(48.0, FlowDirection.FORWARD)
    await asyncio.sleep(0.02)
    await backend.stop()


@pytest.mark.slow
async def test_simulated_fluidics_report_each_flow_with_the_chain_path_when_given_a_sink() -> None:
    sink = Sink()
    fluidics = build_fluidics(_config("sim"), flow_sink=sink)
    await fluidics.connect()
    await fluidics.set("RO-1")
    pump = fluidics.pump.backend
    assert isinstance(pump, SimPumpBackend)
    await _run_pump(pump)
    assert {path for path, _ in sink.flows} == {((1, 4), (2, 6))}
    assert sum(v for _, v in sink.flows) == pump.delivered_ul > 0
    await fluidics.close()


async def test_fluidics_report_nothing_when_the_valves_are_real_hardware() -> None:
    sink = Sink()
    fluidics = build_fluidics(_config("/dev/serial/by-id/not-connected"), flow_sink=sink)
    pump = fluidics.pump.backend
    assert isinstance(pump, SimPumpBackend)  # the pump alone is simulated
    await _run_pump(pump)
    assert pump.delivered_ul > 0
    assert sink.flows == []
