"""Two MERFISH rounds on the emulated rig: the real drivers over pseudo-terminals.

The Squid board emulator drives the stage, light and filter wheel; the MVP valve and
Minipuls 3 pump emulators take the fluidics; every byte goes through the real drivers.
The protocol is the test protocol of :mod:`merfish_harness` cut to 2 rounds (a 4-bit
codebook), with 2-second flows in one part each, so that the serial stop's latency is
a small part of what the emulated pump turns out.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from merfish_harness import PORTS, expected_images, merfish_files, protocol_data, read_experiment
from test_squid_acquisition import squid_config

from hcs_devices.config import MicroscopeConfig
from hcs_devices.config.codebook import design_codebook
from hcs_devices.fluidics.emulation import EmulatedFluidics
from hcs_devices.squid.emulator import EmulatedSquid
from hcs_orchestrator.merfish.runner import COMPLETED, run_experiment

pytestmark = pytest.mark.slow


@pytest.fixture
def board() -> Iterator[EmulatedSquid]:
    with EmulatedSquid(speed_factor=50.0, status_period_s=0.004, seed=3) as emulated:
        yield emulated


@pytest.fixture
def rig() -> Iterator[EmulatedFluidics]:
    with EmulatedFluidics((8,), tube_ul_per_rev=31.5, speed_factor=50.0) as emulated:
        yield emulated


@pytest.mark.timing  # the pump's output follows wall-clock time: run alone, not among other tests
def test_two_merfish_rounds_complete_on_the_emulated_rig_when_run_through_the_real_drivers(
    tmp_path: Path, profile_config: MicroscopeConfig, board: EmulatedSquid, rig: EmulatedFluidics
) -> None:
    config = squid_config(profile_config, Path(board.path)).model_dump(mode="json")
    reagents = {name: tuple((v, p) for v, p in path) for name, path in PORTS.items()}
    config["fluidics"] = rig.config(
        reagents,
        valves={"reply_timeout_s": 1.0, "move_timeout_s": 5.0, "poll_interval_s": 0.005},
        pump={"reply_timeout_s": 1.0, "status_poll_s": 0.05},
    ).model_dump(mode="json")
    protocol = protocol_data()
    protocol["bits"] = {b: s for b, s in protocol["bits"].items() if s["round"] <= 2}
    protocol["rounds"] = protocol["rounds"][:2]
    protocol["reagents"] = {
        n: r for n, r in protocol["reagents"].items() if n not in ("RO-3", "RO-4")
    }
    protocol["flow_parts"] = 1
    # The board's stage starts at z 0, below its soft limits: each round focuses first
    # (a custom step; the planes are taken around the focus).
    focus = {"kind": "custom", "plan": "merfish_harness:focus_at", "parameters": {"z_um": 3000.0}}
    protocol["round_template"].insert(0, focus)
    for step in protocol["round_template"]:
        if "rate_ul_min" in step:
            step["rate_ul_min"] = 300.0  # 2 s a flow: the stop's latency is a small part
    files = merfish_files(tmp_path, profile_config, protocol)
    files.config.write_text(yaml.safe_dump(config))
    codebook = design_codebook(["a", "b", "c"], n_blanks=1, n_bits=4, weight=2, min_distance=2)
    (tmp_path / "codebook.csv").write_text(codebook.to_csv())

    outcome = run_experiment(files.protocol, files.config, files.data_dir, resume=False)

    assert outcome == COMPLETED
    record = read_experiment(files.data_dir)
    assert record.images == {key: 1 for key in expected_images(rounds=2)}
    assert record.rows_equal_images
    assert set(record.parts.values()) == {1}
    assert record.volume_ul == pytest.approx(
        {"wash": 40.0, "imaging": 20.0, "cleave": 20.0, "RO-1": 10.0, "RO-2": 10.0}
    )
    # What the emulated pump turned out, over every flow: the protocol's 100 uL.
    assert rig.pump.delivered_ul == pytest.approx(100.0, rel=0.05), rig.pump.delivered_ul
