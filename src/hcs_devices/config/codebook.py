"""A MERFISH codebook: which genes carry which barcode, one bit per readout.

The file is a CSV table in the layout MERFISH analysis tools read: a header
``name,id,<bit name>,<bit name>,...`` and one row per barcode, each bit ``0`` or ``1``.
Rows whose name starts with ``Blank`` are blank barcodes: no molecule carries them, so
decoding one measures the false-positive rate.

Which round and channel reads each bit is not part of the codebook: the MERFISH
protocol says so (its ``bits`` section), because the same codebook can be read in
different orders.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import operator
from collections.abc import Iterable
from pathlib import Path
from typing import Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hcs_devices.config.errors import FieldError, UserFileError, validate_model

#: Names of blank barcodes start with this (case-insensitive).
BLANK_PREFIX = "blank"


class CodebookEntry(BaseModel):
    """One barcode: the gene (or blank) it stands for and its bits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="Gene name, or Blank-NN for a blank barcode.")
    id: str = Field("", description="Transcript or other identifier (free text).")
    barcode: tuple[int, ...] = Field(min_length=1, description="One 0 or 1 per bit.")

    @property
    def blank(self) -> bool:
        """A blank barcode: carried by no molecule."""
        return self.name.lower().startswith(BLANK_PREFIX)

    @model_validator(mode="after")
    def _bits_are_binary(self) -> Self:
        if any(b not in (0, 1) for b in self.barcode):
            raise FieldError(("barcode",), f"{self.name}: every bit must be 0 or 1")
        if not any(self.barcode):
            raise FieldError(("barcode",), f"{self.name}: at least one bit must be 1")
        return self


class Codebook(BaseModel):
    """The bits and the barcodes of a MERFISH experiment.

    Raises (on validation):
        ValueError: a barcode of the wrong length, a name or a barcode used twice.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bit_names: tuple[str, ...] = Field(min_length=1, description="Names of the bits, in order.")
    entries: tuple[CodebookEntry, ...] = Field(min_length=1, description="One per barcode.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        n = len(self.bit_names)
        if len(set(self.bit_names)) != n:
            raise FieldError(("bit_names",), "every bit needs its own name")
        names: dict[str, int] = {}
        barcodes: dict[tuple[int, ...], str] = {}
        for i, entry in enumerate(self.entries):
            if len(entry.barcode) != n:
                raise FieldError(
                    ("entries", i, "barcode"),
                    f"{entry.name}: {len(entry.barcode)} bits; the codebook has {n}",
                )
            if entry.name in names:
                raise FieldError(("entries", i, "name"), f"{entry.name!r} is used twice")
            names[entry.name] = i
            if entry.barcode in barcodes:
                raise FieldError(
                    ("entries", i, "barcode"),
                    f"{entry.name}: duplicate barcode, the same as {barcodes[entry.barcode]!r}",
                )
            barcodes[entry.barcode] = entry.name
        return self

    @property
    def n_bits(self) -> int:
        """Bits per barcode."""
        return len(self.bit_names)

    @property
    def genes(self) -> tuple[str, ...]:
        """Names of the barcodes that are not blank."""
        return tuple(e.name for e in self.entries if not e.blank)

    @property
    def blanks(self) -> tuple[str, ...]:
        """Names of the blank barcodes."""
        return tuple(e.name for e in self.entries if e.blank)

    def matrix(self) -> np.ndarray:
        """Barcodes as a boolean array, one row per entry, one column per bit."""
        return np.array([e.barcode for e in self.entries], dtype=bool)

    def min_hamming_distance(self) -> int:
        """Smallest number of bits in which two barcodes differ."""
        m = self.matrix().astype(np.int16)
        if len(m) < 2:
            return self.n_bits
        distances = (m[:, None, :] != m[None, :, :]).sum(axis=2)
        np.fill_diagonal(distances, self.n_bits + 1)
        return int(distances.min())

    def to_csv(self) -> str:
        """The codebook as CSV text (``name,id,<bits>``)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["name", "id", *self.bit_names])
        for e in self.entries:
            writer.writerow([e.name, e.id, *e.barcode])
        return out.getvalue()


def read_codebook(path: str | Path) -> Codebook:
    """Read a codebook CSV file.

    Raises:
        UserFileError: naming the file, the line or entry, and what is wrong.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise UserFileError(source, [f"cannot read the codebook: {err}"]) from err
    rows = list(csv.reader(io.StringIO(text)))
    header = [c.strip() for c in rows[0]] if rows else []
    if [c.lower() for c in header[:2]] != ["name", "id"] or len(header) < 3:
        raise UserFileError(
            source, ["line 1: the header must be 'name,id,' followed by one column per bit"]
        )
    entries = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise UserFileError(
                source, [f"line {line}: {len(row)} columns; the header has {len(header)}"]
            )
        bits = [c.strip() for c in row[2:]]
        if any(b not in ("0", "1") for b in bits):
            raise UserFileError(source, [f"line {line}: every bit must be 0 or 1"])
        entries.append(
            {"name": row[0].strip(), "id": row[1].strip(), "barcode": tuple(map(int, bits))}
        )
    return validate_model(Codebook, {"bit_names": tuple(header[2:]), "entries": entries}, source)


def design_codebook(
    genes: Iterable[str],
    *,
    n_blanks: int,
    n_bits: int = 16,
    weight: int = 4,
    min_distance: int = 4,
    seed: int = 0,
) -> Codebook:
    """A constant-weight codebook for ``genes`` plus ``n_blanks`` blank barcodes.

    Every barcode has ``weight`` ones and any two differ in at least ``min_distance``
    bits (with 4, one misread bit is corrected and two are detected).

    Barcodes are picked greedily from all words of that weight in a seeded random order,
    then given to the genes, then to ``n_blanks`` blanks. Words whose one-bits' indices
    XOR to zero come first: for 16 bits, weight 4 and distance 4 they are the 140 blocks
    of a Steiner system S(3, 4, 16), the largest such code.

    Raises:
        ValueError: the code has fewer barcodes than genes plus blanks.
    """
    names = list(genes)
    rng = np.random.default_rng(seed)
    subsets = list(itertools.combinations(range(n_bits), weight))
    rng.shuffle(subsets)  # type: ignore[arg-type]
    subsets.sort(key=lambda ones: functools.reduce(operator.xor, ones) != 0)
    chosen: list[np.ndarray] = []
    for ones in subsets:
        word = np.zeros(n_bits, dtype=bool)
        word[list(ones)] = True
        if all(int((word != c).sum()) >= min_distance for c in chosen):
            chosen.append(word)
        if len(chosen) == len(names) + n_blanks:
            break
    if len(chosen) < len(names) + n_blanks:
        raise ValueError(
            f"a {n_bits}-bit code of weight {weight} and distance {min_distance} holds "
            f"{len(chosen)} barcodes here; {len(names)} genes + {n_blanks} blanks asked"
        )
    labels = names + [f"Blank-{i + 1:02d}" for i in range(n_blanks)]
    return Codebook(
        bit_names=tuple(f"bit{i + 1:02d}" for i in range(n_bits)),
        entries=tuple(
            CodebookEntry(name=label, id="", barcode=tuple(int(b) for b in word))
            for label, word in zip(labels, chosen, strict=True)
        ),
    )
