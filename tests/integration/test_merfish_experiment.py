"""A 4-round MERFISH experiment on the simulated microscope, in this process.

The protocol is the example's (4 rounds x 2 colours + fiducials) with small volumes
and two fields of two planes (:mod:`merfish_harness`); the catalog is real, the
fluidics are the simulated valve and pump, the journal is SQLite on disk.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from merfish_harness import (
    expected_images,
    merfish_files,
    protocol_data,
    protocol_volumes,
    read_experiment,
)

from hcs_devices.config import MicroscopeConfig
from hcs_devices.config.codebook import design_codebook
from hcs_orchestrator.cli import main
from hcs_orchestrator.merfish.journal import Journal, journal_path
from hcs_orchestrator.merfish.protocol import load_protocol, protocol_hash
from hcs_orchestrator.merfish.runner import COMPLETED, run_experiment

pytestmark = pytest.mark.slow  # system tests of a second or more each


def test_merfish_experiment_records_every_image_once_and_each_reagents_volume_when_it_completes(
    tmp_path: Path, profile_config: MicroscopeConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.txt"
    data = protocol_data()
    data["notify"] = {
        "command": [
            sys.executable,
            "-c",
            "import os, sys; open(sys.argv[1], 'a').write(os.environ['HCS_MERFISH_EVENT'] + '\\n')",
            str(events),
        ]
    }
    files = merfish_files(tmp_path, profile_config, data)

    assert run_experiment(files.protocol, files.config, files.data_dir, resume=False) == COMPLETED

    record = read_experiment(files.data_dir)
    assert record.images == {key: 1 for key in expected_images()}
    assert record.rows_equal_images
    assert sorted(record.announced_files) == sorted(record.files_on_disk)
    assert record.unrecorded_files == []
    assert set(record.parts.values()) == {1}
    assert record.volume_ul == pytest.approx(protocol_volumes())
    digest = protocol_hash(load_protocol(files.protocol))
    merfish = [s["merfish"] for s in record.starts]
    assert {m["protocol_hash"] for m in merfish} == {digest}
    assert {m["round"] for m in merfish} == {1, 2, 3, 4}
    assert len({m["unit"] for m in merfish}) == len(merfish) == 4 * (6 + 2)
    with Journal(journal_path(files.data_dir)) as journal:
        states = {r.state for r in journal.units().values()}
        assert states == {"completed"}
    assert events.read_text().split() == ["completion"]

    # A resume of a finished experiment does nothing and says so.
    assert main(["merfish", "resume", "--data-dir", str(files.data_dir)]) == 0
    assert len(read_experiment(files.data_dir).starts) == len(record.starts)
    capsys.readouterr()
    assert main(["merfish", "status", "--data-dir", str(files.data_dir)]) == 0
    status = capsys.readouterr().out
    assert "units done: 32 of 32" in status
    assert "round 4: flow 4/4, incubate 1/1, image 2/2, cleave 1/1" in status
    # The decoding QC ran beside the experiment: each round of each field checked, each
    # field decoded once its last round was imaged.
    assert "decoding QC: 8 rounds checked, 2 fields decoded" in status
    assert main(["merfish", "confirm", "--data-dir", str(files.data_dir)]) == 2
    assert "no confirmation is asked" in capsys.readouterr().err


def test_hcs_merfish_resume_refuses_a_directory_without_an_experiment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for action in ("resume", "status", "confirm"):
        assert main(["merfish", action, "--data-dir", str(tmp_path)]) == 2
        assert "holds no MERFISH experiment" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def _codebook_with_duplicate(directory: Path) -> None:
    text = design_codebook(
        [f"g{i}" for i in range(9)], n_blanks=0, n_bits=8, weight=4, min_distance=4
    ).to_csv()
    lines = text.splitlines()
    lines.append("dup," + lines[1].split(",", 1)[1])
    (directory / "codebook.csv").write_text("\n".join(lines) + "\n")


def _edit(path: tuple[Any, ...], value: Any) -> Any:
    def apply(data: dict[str, Any], directory: Path) -> None:
        target: Any = data
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return apply


BAD: list[tuple[str, Any, tuple[str, ...]]] = [
    ("unknown reagent", _edit(("round_template", 2, "reagent"), "wahs"),
     ("round_template[2].reagent", "unknown reagent 'wahs'")),
    ("port out of range", _edit(("reagents", "RO-4", "port"), "1:9"),
     ("reagents.RO-4.port", "port 9 is outside 1..8")),
    ("valve out of range", _edit(("reagents", "RO-4", "port"), "2:1"),
     ("reagents.RO-4.port", "valve 2 is outside 1..1")),
    ("round without a probe", _edit(("reagents", "RO-2", "probes"), ["bit03"]),
     ("rounds[1]", "bit04")),
    ("codebook with duplicate barcodes", lambda d, directory: _codebook_with_duplicate(directory),
     ("codebook:", "barcode")),
    ("volume below the pump's range", _edit(("round_template", 0, "volume_ul"), 0.5),
     ("round_template[0].volume_ul", "below the pump's range")),
    ("rate beyond the pump's range", _edit(("round_template", 0, "rate_ul_min"), 5000),
     ("round_template[0].rate_ul_min", "outside the pump's range")),
    ("misspelt step kind", _edit(("round_template", 1, "kind"), "incubat"),
     ("round_template[1]", "incubat")),
    ("position outside the stage", _edit(
        ("round_template", 4, "acquisition", "sequence", "stage_positions", "a1_center_xy"),
        [900000, 11240]), ("round 1: round_template[4].acquisition",)),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "expected"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_hcs_merfish_run_refuses_before_anything_moves_or_flows_when_the_protocol_is_bad(
    tmp_path: Path,
    profile_config: MicroscopeConfig,
    edit: Any,
    expected: tuple[str, ...],
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = protocol_data()
    files = merfish_files(tmp_path, profile_config)
    edit(data, tmp_path)
    import yaml

    files.protocol.write_text(yaml.safe_dump(data, sort_keys=False))
    for command in (
        ["merfish", "validate", str(files.protocol), "--config", str(files.config)],
        ["merfish", "run", str(files.protocol), "--config", str(files.config),
         "--data-dir", str(files.data_dir)],
    ):  # fmt: skip
        assert main(command) == 2
        err = capsys.readouterr().err
        for part in expected:
            assert part in err, err
    # Refused before a session opened: no data directory, no journal, no run.
    assert not files.data_dir.exists()
