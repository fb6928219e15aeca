"""Plate row and well names: ``B3`` <-> row ``B``, column ``3``; plate order of wells."""

from __future__ import annotations

import re

_WELL = re.compile(r"^([A-Za-z]+)(\d+)$")


def is_well_name(name: str) -> bool:
    """Whether ``name`` is a row letter (or letters) followed by a column number."""
    return _WELL.match(name) is not None


def row_name(index: int) -> str:
    """A plate row's name from its 0-based index: A ... Z, AA, AB ..."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


def split_well(well: str) -> tuple[str, str]:
    """A well name's row and column names: ``"B3"`` -> ``("B", "3")``.

    Raises:
        ValueError: the name is not a row letter followed by a column number.
    """
    match = _WELL.match(well)
    if match is None:
        raise ValueError(f"{well!r} is not a well name like 'B3'")
    return match.group(1).upper(), str(int(match.group(2)))


def well_sort_key(well: str) -> tuple[int, int, str]:
    """Sort wells row by row, then by column number (B2 before B10), others last."""
    try:
        row, column = split_well(well)
    except ValueError:
        return (1 << 30, 0, well)
    index = 0
    for letter in row:
        index = index * 26 + (ord(letter) - ord("A") + 1)
    return (index, int(column), well)
