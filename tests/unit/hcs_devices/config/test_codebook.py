"""The MERFISH codebook: design, CSV round trip, and refusals that name the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hcs_devices.config import UserFileError
from hcs_devices.config.codebook import Codebook, design_codebook, read_codebook

GENES = [f"Gene{i:03d}" for i in range(100)]


def test_designed_codebook_has_weight_4_and_distance_4_for_100_genes_and_blanks() -> None:
    codebook = design_codebook(GENES, n_blanks=12, seed=3)
    matrix = codebook.matrix()
    assert matrix.shape == (112, 16)
    assert set(matrix.sum(axis=1)) == {4}
    assert codebook.min_hamming_distance() >= 4
    assert codebook.genes == tuple(GENES) and len(codebook.blanks) == 12


def test_design_refuses_more_barcodes_than_the_code_holds() -> None:
    with pytest.raises(ValueError, match="holds 140 barcodes"):
        design_codebook(GENES + [f"X{i}" for i in range(30)], n_blanks=20)


def test_codebook_reads_back_what_it_wrote_when_saved_as_csv(tmp_path: Path) -> None:
    codebook = design_codebook(GENES[:10], n_blanks=2, seed=1)
    path = tmp_path / "codebook.csv"
    path.write_text(codebook.to_csv())
    assert read_codebook(path) == codebook
    assert path.read_text().splitlines()[0] == "name,id," + ",".join(codebook.bit_names)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["name,id,b1,b2,b3", "A,,1,1,0", "B,,1,1,0"], "duplicate barcode, the same as 'A'"),
        (["name,id,b1,b2,b3", "A,,1,1,0", "A,,0,1,1"], "entries\\[1\\].name: 'A' is used twice"),
        (["name,id,b1,b2,b3", "A,,1,2,0"], "every bit must be 0 or 1"),
        (["name,id,b1,b2,b3", "A,,1,1"], "line 2: 4 columns; the header has 5"),
        (["gene,b1,b2"], "line 1: the header must be 'name,id,'"),
        (["name,id,b1,b2", "A,,0,0"], "at least one bit must be 1"),
    ],
)
def test_codebook_file_is_refused_naming_what_is_wrong(
    tmp_path: Path, rows: list[str], message: str
) -> None:
    path = tmp_path / "codebook.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(UserFileError, match=message):
        read_codebook(path)


def test_codebook_model_refuses_barcodes_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="A: 2 bits; the codebook has 3"):
        Codebook.model_validate(
            {"bit_names": ["a", "b", "c"], "entries": [{"name": "A", "barcode": [1, 0]}]}
        )
