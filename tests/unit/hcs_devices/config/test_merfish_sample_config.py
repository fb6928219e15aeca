"""The ``specimen.merfish`` section: a relative codebook, tubes on real ports, clear refusals."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hcs_devices.config import UserFileError, load_config
from hcs_devices.config.codebook import read_codebook

PROFILE_DIR = Path(__file__).resolve().parents[4] / "profile" / "merfish"

Edit = Callable[[dict[str, Any]], None]


def _write(tmp_path: Path, edit: Edit | None = None) -> Path:
    """The MERFISH profile copied into ``tmp_path`` (with its codebook), edited."""
    data = yaml.safe_load((PROFILE_DIR / "microscope.yaml").read_text())
    if edit is not None:
        edit(data)
    shutil.copy(PROFILE_DIR / "codebook.csv", tmp_path / "codebook.csv")
    path = tmp_path / "microscope.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _merfish(data: dict[str, Any]) -> dict[str, Any]:
    return data["specimen"]["merfish"]


def test_merfish_config_reads_the_codebook_next_to_the_file_when_the_path_is_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path.parent)  # not the file's folder
    config = load_config(_write(tmp_path))
    merfish = config.specimen.merfish
    assert merfish is not None
    assert merfish.codebook == tmp_path / "codebook.csv"
    assert merfish.read_codebook() == read_codebook(tmp_path / "codebook.csv")
    tubes = merfish.tube_paths()
    assert tubes[((1, 4),)].probes == {"bit01": "cy3", "bit02": "cy5"}
    assert tubes[((1, 3),)].cleaves
    # A dump of the validated model still finds the codebook from anywhere.
    dumped = tmp_path / "elsewhere" / "copy.yaml"
    dumped.parent.mkdir()
    dumped.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    assert load_config(dumped) == config


def _set(key: str, value: object) -> Edit:
    return lambda d: _merfish(d).__setitem__(key, value)


def _tube(key: str, value: object) -> Edit:
    return lambda d: _merfish(d)["tubes"].__setitem__(key, value)


BAD: list[tuple[str, Edit, list[str]]] = [
    (
        "missing codebook",
        _set("codebook", "nowhere.csv"),
        ["specimen.merfish.codebook", "nowhere.csv"],
    ),
    (
        "bit not in the codebook",
        _tube("1:4", {"probes": {"bit09": "cy3"}}),
        ["probes.bit09", "bit08"],
    ),
    ("dye not known", _tube("1:4", {"probes": {"bit01": "gfp"}}), ["probes.bit01", "cy3", "cy5"]),
    ("key not a valve path", _tube("four", {"cleaves": True}), ["tubes.four", "valve:port"]),
    ("port beyond the valve", _tube("1:9", {"cleaves": True}), ["tubes.1:9", "ports 1..8"]),
    ("valve beyond the chain", _tube("2:1", {"cleaves": True}), ["tubes.2:1", "valves 1..1"]),
    ("probes and cleave", _tube("1:4", {"probes": {"bit01": "cy3"}, "cleaves": True}), ["cleaves"]),
    ("negative molecules", _set("molecules_per_cell", -1), ["molecules_per_cell", "0"]),
    ("drift too large", _set("drift_per_round_um", 80), ["drift_per_round_um", "50"]),
    ("no chamber volume", _set("chamber_volume_ul", 0), ["chamber_volume_ul", "0"]),
    ("misspelt key", _set("chamber_volume", 10), ["chamber_volume", "chamber_volume_ul"]),
]


@pytest.mark.parametrize(("edit", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_merfish_config_is_refused_naming_the_field_when_a_value_is_wrong(
    tmp_path: Path, edit: Edit, words: list[str]
) -> None:
    path = _write(tmp_path, edit)
    with pytest.raises(UserFileError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    for word in words:
        assert word in message, message
