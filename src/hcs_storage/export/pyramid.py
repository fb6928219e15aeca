"""Multiscale pyramids: each level half the previous one in y and x (2 x 2 block means).

Viewers (napari, OMERO, Vizarr) open a plate at a low level first and read finer
levels only where one zooms in. A level is the mean of 2 x 2 blocks of the level
above, rounded back to the frames' data type; an odd last row or column is averaged
with a copy of itself, so a level's size is ``ceil(previous / 2)``.
"""

from __future__ import annotations

import numpy as np

#: Levels of every pyramid, at least (level 0 is the recorded frames).
MIN_LEVELS = 3
#: More levels are added while the coarsest level is larger than this (pixels, y or x).
COARSEST_PX = 256


def level_count(height: int, width: int) -> int:
    """How many levels a pyramid of ``height`` x ``width`` frames gets."""
    levels, size = 1, max(height, width)
    while levels < MIN_LEVELS or size > COARSEST_PX:
        if size <= 1:
            break
        size = -(-size // 2)
        levels += 1
    return levels


def half_size(data: np.ndarray) -> np.ndarray:
    """The next level: 2 x 2 block means over the last two axes, in ``data``'s type."""
    height, width = data.shape[-2:]
    pad = [(0, 0)] * (data.ndim - 2) + [(0, height % 2), (0, width % 2)]
    padded = np.pad(data, pad, mode="edge") if height % 2 or width % 2 else data
    h2, w2 = padded.shape[-2] // 2, padded.shape[-1] // 2
    blocks = padded.reshape(*padded.shape[:-2], h2, 2, w2, 2)
    means = blocks.mean(axis=(-3, -1), dtype=np.float64)
    if np.issubdtype(data.dtype, np.integer):
        means = np.rint(means)
    return means.astype(data.dtype)


def pyramid(data: np.ndarray) -> list[np.ndarray]:
    """Every level of ``data``'s pyramid, level 0 (``data`` itself) first."""
    levels = [data]
    for _ in range(level_count(*data.shape[-2:]) - 1):
        levels.append(half_size(levels[-1]))
    return levels
