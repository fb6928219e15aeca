"""The flow cell: which tube flowed, how much, and what binds, cleaves and drifts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from hcs_devices.config.merfish import TubeContent
from hcs_devices.fluidics.backends import SimPumpBackend, SimValveChainBackend
from hcs_devices.fluidics.pump.base import FlowDirection
from hcs_devices.sim.merfish import Drift, FlowCell

RO1 = ((1, 4),)
RO2 = ((1, 5),)
CLEAVE = ((1, 3),)
WASH = ((1, 1),)
CHAMBER_UL = 100.0


def _flow_cell() -> FlowCell:
    return FlowCell(
        {
            RO1: TubeContent(probes={"bit01": "cy3", "bit02": "cy5"}),
            RO2: TubeContent(probes={"bit03": "cy3", "bit04": "cy5"}),
            CLEAVE: TubeContent(cleaves=True),
        },
        CHAMBER_UL,
    )


def test_flow_cell_binds_probes_only_when_a_chamber_volume_of_the_tube_has_flowed() -> None:
    cell = _flow_cell()
    cell.flowed(RO1, 60.0)
    assert cell.chemistry.bound == () and cell.chemistry.round == 0
    cell.flowed(RO1, 39.0)  # 99 uL in one go: not yet
    assert cell.chemistry.bound == ()
    cell.flowed(RO1, 1.0)
    assert cell.chemistry.bound == (("bit01", "cy3"), ("bit02", "cy5"))
    assert cell.chemistry.round == 1
    cell.flowed(RO1, 500.0)  # more of the same tube is the same binding
    assert cell.chemistry.round == 1


def test_flow_cell_starts_counting_again_when_another_tube_flowed_in_between() -> None:
    cell = _flow_cell()
    cell.flowed(RO1, 60.0)
    cell.flowed(WASH, 10.0)  # buffer: the readout mix is washed out
    cell.flowed(RO1, 60.0)
    assert cell.chemistry.bound == ()
    cell.flowed(RO1, 40.0)
    assert cell.chemistry.bits_with("cy3") == {"bit01"}


def test_flow_cell_keeps_the_previous_round_when_the_cleave_is_skipped() -> None:
    cell = _flow_cell()
    cell.flowed(RO1, CHAMBER_UL)
    cell.flowed(RO2, CHAMBER_UL)
    assert cell.chemistry.bits_with("cy3") == {"bit01", "bit03"}
    assert cell.chemistry.round == 2
    cell.flowed(CLEAVE, CHAMBER_UL / 2)  # half a cleave removes nothing
    assert cell.chemistry.bits_with("cy5") == {"bit02", "bit04"}
    cell.flowed(CLEAVE, CHAMBER_UL / 2)
    assert cell.chemistry.bound == ()
    assert cell.chemistry.round == 2  # a cleave is not a new round
    assert [e.kind for e in cell.events] == ["bind", "bind", "cleave"]


def test_flow_cell_uses_the_longest_matching_tube_when_valves_are_chained() -> None:
    cell = FlowCell(
        {
            ((2, 1),): TubeContent(probes={"bit01": "cy3"}),
            ((1, 6), (2, 1)): TubeContent(probes={"bit05": "cy3"}),
        },
        CHAMBER_UL,
    )
    assert cell.tube_at(((1, 6), (2, 1))) == ((1, 6), (2, 1))
    assert cell.tube_at(((1, 2), (2, 1))) == ((2, 1),)
    assert cell.tube_at(((1, 2), (2, 3))) == ((1, 2), (2, 3))  # buffer
    cell.flowed(((1, 6), (2, 1)), CHAMBER_UL)
    assert cell.chemistry.bits_with("cy3") == {"bit05"}


def test_drift_is_the_same_for_the_same_seed_and_has_the_configured_rms() -> None:
    drift = Drift(seed=3, rms_um=0.5)
    assert drift.offset_um(0) == (0.0, 0.0)
    assert Drift(seed=3, rms_um=0.5).offset_um(4) == drift.offset_um(4)
    assert Drift(seed=4, rms_um=0.5).offset_um(4) != drift.offset_um(4)
    steps = np.diff([drift.offset_um(r) for r in range(201)], axis=0)
    assert steps.std() == pytest.approx(0.5, rel=0.15)
    assert Drift(seed=3, rms_um=0.0).offset_um(7) == (0.0, 0.0)


async def test_simulated_pump_reports_each_forward_volume_with_the_valve_path_when_fed() -> None:
    cell = _flow_cell()
    valves = SimValveChainBackend([8], seconds_per_port=0.0)
    pump = SimPumpBackend(tube_ul_per_rev=3000.0)  # 48 rpm: 2400 uL/s
    pump.feed(valves, cell)
    await valves.move_to(1, 4)
    await pump.start(48.0, FlowDirection.FORWARD)
    await asyncio.sleep(0.06)  # ~144 uL
    await pump.stop()
    assert cell.chemistry.bits_with("cy5") == {"bit02"}
    assert cell.delivered_ul[((1, 4),)] == pytest.approx(pump.delivered_ul)
    # A reverse flow takes liquid back: nothing is delivered to the sample.
    await valves.move_to(1, 3)
    await pump.start(48.0, FlowDirection.REVERSE)
    await asyncio.sleep(0.06)
    await pump.stop()
    assert ((1, 3),) not in cell.delivered_ul
    assert cell.chemistry.bits_with("cy5") == {"bit02"}


def test_flow_cell_continues_from_its_state_file_when_built_again(tmp_path: Path) -> None:
    """A killed process leaves the sample as it was: a half-done flow finishes later."""
    state = tmp_path / "sample" / "flow-cell.json"
    tubes = _flow_cell().tubes
    first = FlowCell(tubes, CHAMBER_UL, state)
    first.flowed(RO1, CHAMBER_UL)
    first.flowed(CLEAVE, CHAMBER_UL)
    first.flowed(RO2, 60.0)  # the process dies here, mid-flow
    again = FlowCell(tubes, CHAMBER_UL, state)
    assert again.chemistry == first.chemistry
    assert again.chemistry.bound == () and again.chemistry.round == 1
    assert again.delivered_ul == first.delivered_ul
    again.flowed(RO2, 40.0)  # the flow repeated after the restart completes the binding
    assert again.chemistry.bits_with("cy3") == {"bit03"}
    assert again.chemistry.round == 2
    assert not list(state.parent.glob("*.partial"))
    fresh = FlowCell(tubes, CHAMBER_UL, tmp_path / "other.json")
    assert fresh.chemistry.round == 0


def test_flow_cell_refuses_a_state_file_it_did_not_write(tmp_path: Path) -> None:
    state = tmp_path / "flow-cell.json"
    state.write_text('{"bound": [["bit01", "gfp"]]}')
    with pytest.raises(ValueError, match=r"flow-cell\.json: not a simulated flow cell's state"):
        FlowCell(_flow_cell().tubes, CHAMBER_UL, state)
