"""Stand-ins for a catalog's run, for unit tests of the readers: no catalog, no files.

Each records what it was asked for (requests to the image stack, columns of the
frames table), so a test can tell how much a reader fetched.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def table_of(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {key: np.array([r[key] for r in rows]) for key in rows[0]}


def frame(well: str, fov: int, channel: str, z: int, t: int = 0, z_um: float = 0.0) -> dict:
    return {
        "well": well, "fov": fov, "channel": channel, "z_index": z, "time_index": t,
        "x_um": 100.0 * fov, "y_um": 7.0, "z_um": z_um or 10.0 + 2.0 * z, "exposure_ms": 5.0,
    }  # fmt: skip


class CountingImages:
    """An image stack that counts the requests made to it."""

    def __init__(self, n: int) -> None:
        self.data = np.arange(n * 4, dtype=np.uint16).reshape(n, 1, 2, 2)
        self.shape, self.dtype, self.requests = self.data.shape, self.data.dtype, 0

    def __getitem__(self, key: Any) -> np.ndarray:
        self.requests += 1
        return self.data[key]


class TableNode:
    """A stream's event table that records which columns were asked for."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.data = {f"frame-{k}": [r[k] for r in rows] for k in rows[0]}
        self.columns = ["seq_num", *self.data]
        self.asked: list[list[str]] = []

    def read(self, columns: list[str]) -> Any:
        import pandas as pd

        self.asked.append(columns)
        return pd.DataFrame({c: self.data[c] for c in columns})


class PlateRun:
    """A run with a frames table and an image stack, looked up by path as Tiled does."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.table = TableNode(rows)
        self.images = CountingImages(len(rows))

    def __getitem__(self, key: tuple[str, str]) -> Any:
        return {("frames", "internal"): self.table, ("primary", "camera"): self.images}[key]
