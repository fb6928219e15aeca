"""Protocol files: the example loads and expands; bad files are refused by field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from hcs_devices.config import MicroscopeConfig
from hcs_devices.config.codebook import design_codebook
from hcs_devices.config.errors import UserFileError
from hcs_orchestrator.merfish import expand_units, load_protocol, protocol_hash
from hcs_plans.merfish import FlowStep, ImageStep

REPO = Path(__file__).resolve().parents[4]
EXAMPLE = REPO / "profile" / "merfish" / "protocol.yaml"


def _example_data() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def _write(tmp_path: Path, data: dict[str, Any], codebook_text: str | None = None) -> Path:
    codebook = tmp_path / "codebook.csv"
    codebook.write_text(
        codebook_text or (REPO / "profile" / "merfish" / "codebook.csv").read_text()
    )
    path = tmp_path / "protocol.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_example_protocol_expands_to_units_with_stable_ids(
    tmp_path: Path, profile_config: MicroscopeConfig
) -> None:
    protocol = load_protocol(EXAMPLE)
    units = expand_units(protocol, profile_config)
    # 4 rounds x (6 one-unit steps + 4 fields of view)
    assert len(units) == 4 * (6 + 4)
    assert len({u.id for u in units}) == len(units)
    digest = protocol_hash(protocol)
    image = [u for u in units if u.kind == "image" and u.round == 2]
    assert image[0].id == f"{digest[:12]}/r2/s4/B2-0"
    assert image[0].channel_bits == {"Cy3": "bit03", "Cy5": "bit04", "GFP": "fiducial"}
    step = image[0].step
    assert isinstance(step, ImageStep)
    assert [c.config for c in step.acquisition.sequence.channels] == ["Cy3", "Cy5", "GFP"]
    readout = next(u.step for u in units if u.round == 3 and u.step_index == 0)
    assert isinstance(readout, FlowStep)
    assert readout.reagent == "RO-3"
    cleaves = [u for u in units if u.kind == "cleave"]
    assert cleaves and not any(u.repeat_safe for u in cleaves)
    assert all(u.repeat_safe for u in units if u.kind in ("flow", "image", "incubate"))
    # The same content elsewhere has the same hash (ids survive a move of the files).
    moved = _write(tmp_path, _example_data())
    assert protocol_hash(load_protocol(moved)) == digest


def test_protocol_hash_changes_when_a_step_changes(tmp_path: Path) -> None:
    data = _example_data()
    data["round_template"][1]["duration_s"] = 2
    assert protocol_hash(load_protocol(_write(tmp_path, data))) != protocol_hash(
        load_protocol(EXAMPLE)
    )


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def _del(data: dict[str, Any], path: tuple[Any, ...]) -> None:
    for part in path[:-1]:
        data = data[part]
    del data[path[-1]]


CASES: list[tuple[str, Any, tuple[str, ...]]] = [
    (
        "unknown reagent",
        lambda d: _set(d, ("round_template", 2, "reagent"), "wahs"),
        ("round_template[2].reagent", "unknown reagent 'wahs'", "wash"),
    ),
    (
        "unknown round reagent",
        lambda d: _set(d, ("rounds", 1, "readout"), "RO-9"),
        ("rounds[1].readout", "unknown reagent 'RO-9'"),
    ),
    (
        "misspelt step kind",
        lambda d: _set(d, ("round_template", 1, "kind"), "incubat"),
        ("round_template[1]", "incubat", "incubate"),
    ),
    (
        "round without a probe",
        lambda d: _set(d, ("reagents", "RO-2", "probes"), ["bit03"]),
        ("rounds[1]", "bit04", "probe"),
    ),
    (
        "bit in a round that does not exist",
        lambda d: _set(d, ("bits", "bit08", "round"), 5),
        ("bits.bit08.round", "1..4"),
    ),
    (
        "round that reads no bit",
        lambda d: d["rounds"].append({"readout": "RO-4"}),
        ("rounds[4]", "reads no bit"),
    ),
    (
        "malformed port",
        lambda d: _set(d, ("reagents", "wash", "port"), "1-1"),
        ("reagents.wash.port",),
    ),
    (
        "negative volume",
        lambda d: _set(d, ("round_template", 0, "volume_ul"), -5),
        ("round_template[0]", "volume_ul", "more than 0"),
    ),
    (
        "channels written in the image step",
        lambda d: _set(
            d, ("round_template", 4, "acquisition", "sequence", "channels"), [{"config": "Cy3"}]
        ),
        ("round_template[4].acquisition.sequence.channels", "bits and fiducial"),
    ),
    (
        "misspelt top-level key",
        lambda d: d.__setitem__("reagent", {}),
        ("reagent", "reagents"),
    ),
    (
        "template reagent with no round value",
        lambda d: _del(d, ("rounds", 2, "readout")),
        ("rounds[2]", "readout"),
    ),
]


@pytest.mark.parametrize(("edit", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_load_protocol_names_the_field_when_the_file_is_wrong(
    tmp_path: Path, edit: Any, expected: tuple[str, ...]
) -> None:
    data = copy.deepcopy(_example_data())
    edit(data)
    with pytest.raises(UserFileError) as err:
        load_protocol(_write(tmp_path, data))
    message = str(err.value)
    assert "protocol.yaml" in message
    for part in expected:
        assert part in message, message


def test_load_protocol_refuses_a_codebook_with_duplicate_barcodes(tmp_path: Path) -> None:
    text = design_codebook(["a", "b"], n_blanks=1, n_bits=8, weight=4, min_distance=4).to_csv()
    lines = text.splitlines()
    lines.append("c," + lines[1].split(",", 1)[1])  # gene c with a's barcode
    with pytest.raises(UserFileError) as err:
        load_protocol(_write(tmp_path, _example_data(), "\n".join(lines) + "\n"))
    assert "codebook:" in str(err.value)
    assert "barcode" in str(err.value)


def test_load_protocol_refuses_bits_the_codebook_does_not_have(tmp_path: Path) -> None:
    text = design_codebook(["a"], n_blanks=1, n_bits=6, weight=3, min_distance=2).to_csv()
    with pytest.raises(UserFileError, match=r"bits: .*bit07"):
        load_protocol(_write(tmp_path, _example_data(), text))
