"""Pyramid levels: sizes, counts and block means."""

from __future__ import annotations

import numpy as np
import pytest

from hcs_storage.export.pyramid import MIN_LEVELS, half_size, level_count, pyramid


@pytest.mark.parametrize(
    ("size", "levels"), [((48, 64), 3), ((256, 256), 3), ((1024, 1024), 3), ((2048, 2048), 4)]
)
def test_level_count_has_at_least_three_levels_and_ends_small(
    size: tuple[int, int], levels: int
) -> None:
    assert level_count(*size) == levels >= MIN_LEVELS


def test_half_size_averages_2x2_blocks_and_keeps_the_dtype() -> None:
    data = np.array([[0, 2, 10, 10], [4, 6, 10, 11]], np.uint16)
    half = half_size(data)
    assert half.dtype == np.uint16
    assert half.tolist() == [[3, 10]]  # 10.25 rounds to 10


def test_half_size_of_an_odd_size_repeats_the_last_row_and_column() -> None:
    data = np.arange(15, dtype=np.uint16).reshape(1, 3, 5)
    half = half_size(data)
    assert half.shape == (1, 2, 3)
    assert half[0, 1, 2] == data[0, 2, 4]  # a lone corner pixel averages with copies of itself


def test_pyramid_level_zero_is_the_data_and_each_level_halves() -> None:
    data = np.random.default_rng(0).integers(0, 4000, (2, 3, 100, 80), dtype=np.uint16)
    levels = pyramid(data)
    assert levels[0] is data
    assert [level.shape[-2:] for level in levels] == [(100, 80), (50, 40), (25, 20)]
