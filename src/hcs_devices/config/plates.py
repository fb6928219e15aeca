"""SBS/ANSI microplate formats: geometry of wells in plate coordinates (micrometres).

Plate coordinates have their origin at the plate's top-left corner (A1 side), x along
the columns and y along the rows, as the SLAS/ANSI footprint standards define them.
"""

from __future__ import annotations

import math
import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Largest plate dimension, um (a plate is 128 x 85 mm; this allows slide holders too).
MAX_PLATE_UM = 500_000.0


class PlateFormat(BaseModel):
    """One plate format."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    rows: int = Field(ge=1, le=32)
    columns: int = Field(ge=1, le=48)
    well_spacing_um: float = Field(
        gt=0.0, le=MAX_PLATE_UM, description="Centre-to-centre distance."
    )
    well_size_um: float = Field(
        gt=0.0, le=MAX_PLATE_UM, description="Diameter (round) or side (square)."
    )
    well_shape: Literal["round", "square"] = "round"
    a1_x_um: float = Field(
        ge=0.0, le=MAX_PLATE_UM, description="Centre of A1 from the plate's left edge."
    )
    a1_y_um: float = Field(
        ge=0.0, le=MAX_PLATE_UM, description="Centre of A1 from the plate's top edge."
    )
    width_um: float = Field(default=127760.0, gt=0.0, le=MAX_PLATE_UM)
    height_um: float = Field(default=85480.0, gt=0.0, le=MAX_PLATE_UM)

    @model_validator(mode="after")
    def _fits(self) -> PlateFormat:
        if self.well_size_um > self.well_spacing_um:
            raise ValueError(
                f"well_size_um ({self.well_size_um}) exceeds well_spacing_um "
                f"({self.well_spacing_um}): wells would overlap"
            )
        return self

    @property
    def wells(self) -> list[str]:
        """Every well name in row-major order (A1, A2, ..., B1, ...)."""
        return [self.well_name(r, c) for r in range(self.rows) for c in range(self.columns)]

    @staticmethod
    def well_name(row: int, column: int) -> str:
        """The name of the well at a zero-based (row, column), such as ``"B3"``."""
        return f"{row_name(row)}{column + 1}"

    def well_index(self, well: str) -> tuple[int, int]:
        """Zero-based (row, column) of a well name such as ``"B3"`` or ``"AA12"``.

        Raises:
            ValueError: naming the well and the plate's range.
        """
        letters = well.rstrip("0123456789")
        digits = well[len(letters) :]
        row = _row_number(letters.upper()) if letters else -1
        col = int(digits) - 1 if digits else -1
        if not (0 <= row < self.rows and 0 <= col < self.columns):
            last = f"{row_name(self.rows - 1)}{self.columns}"
            raise ValueError(f"well {well!r} is not on this plate (wells A1..{last})")
        return row, col

    def well_center_um(self, well: str) -> tuple[float, float]:
        """The centre of a well in plate coordinates."""
        row, col = self.well_index(well)
        return (
            self.a1_x_um + col * self.well_spacing_um,
            self.a1_y_um + row * self.well_spacing_um,
        )

    def contains(self, well: str, dx_um: float, dy_um: float, margin_um: float = 0.0) -> bool:
        """Whether a point (relative to a well's centre) lies inside that well's area."""
        half = self.well_size_um / 2 - margin_um
        if self.well_shape == "round":
            return math.hypot(dx_um, dy_um) <= half
        return abs(dx_um) <= half and abs(dy_um) <= half


def row_name(row: int) -> str:
    """Row letters: A..Z, then AA, AB, ... (1536-well plates have 32 rows)."""
    letters = string.ascii_uppercase
    return letters[row] if row < 26 else letters[row // 26 - 1] + letters[row % 26]


def _row_number(letters: str) -> int:
    if not all(ch in string.ascii_uppercase for ch in letters):
        return -1  # "1A", "A-1": not a row name
    if len(letters) == 1:
        return string.ascii_uppercase.index(letters)
    if len(letters) == 2:
        first, second = (string.ascii_uppercase.index(ch) for ch in letters)
        return (first + 1) * 26 + second
    return -1


def standard_plate_formats() -> dict[str, PlateFormat]:
    """The SBS formats shipped by default, keyed by well count."""
    return {
        "6": PlateFormat(
            rows=2,
            columns=3,
            well_spacing_um=39120,
            well_size_um=34800,
            a1_x_um=24760,
            a1_y_um=23160,
        ),
        "12": PlateFormat(
            rows=3,
            columns=4,
            well_spacing_um=26010,
            well_size_um=22110,
            a1_x_um=24940,
            a1_y_um=16790,
        ),
        "24": PlateFormat(
            rows=4,
            columns=6,
            well_spacing_um=19300,
            well_size_um=15620,
            a1_x_um=17050,
            a1_y_um=13670,
        ),
        "48": PlateFormat(
            rows=6,
            columns=8,
            well_spacing_um=13080,
            well_size_um=11050,
            a1_x_um=18160,
            a1_y_um=10080,
        ),
        "96": PlateFormat(
            rows=8,
            columns=12,
            well_spacing_um=9000,
            well_size_um=6400,
            a1_x_um=14380,
            a1_y_um=11240,
        ),
        "384": PlateFormat(
            rows=16,
            columns=24,
            well_spacing_um=4500,
            well_size_um=3600,
            well_shape="square",
            a1_x_um=12130,
            a1_y_um=8990,
        ),
        "1536": PlateFormat(
            rows=32,
            columns=48,
            well_spacing_um=2250,
            well_size_um=1530,
            well_shape="square",
            a1_x_um=11005,
            a1_y_um=7865,
        ),
    }
