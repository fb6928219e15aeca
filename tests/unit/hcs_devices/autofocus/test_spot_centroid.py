"""The laser autofocus spot measurement: sub-pixel centroid, or no spot at all."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hcs_devices.autofocus import spot_centroid


def _image(spot_x: float | None, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = 64, 256
    image = rng.normal(100.0, 3.0, (h, w))
    if spot_x is not None:
        xs = np.arange(w)[None, :]
        ys = np.arange(h)[:, None]
        image += 3000.0 * np.exp(-((xs - spot_x) ** 2 + (ys - h / 2) ** 2) / (2 * 3.0**2))
    return np.clip(image, 0, 65535).astype(np.uint16)


@pytest.mark.parametrize("spot_x", [20.0, 100.3, 127.5, 230.75])
def test_spot_centroid_finds_the_spot_within_a_tenth_of_a_pixel_when_present(spot_x: float) -> None:
    x, intensity = spot_centroid(_image(spot_x))
    assert x == pytest.approx(spot_x, abs=0.1)
    assert intensity > 0


@pytest.mark.parametrize("seed", range(5))
def test_spot_centroid_reports_no_spot_when_the_image_is_only_noise(seed: int) -> None:
    x, intensity = spot_centroid(_image(None, seed))
    assert math.isnan(x)
    assert intensity == 0.0


def test_spot_centroid_reports_no_spot_when_the_image_is_flat() -> None:
    x, intensity = spot_centroid(np.full((64, 256), 100, np.uint16))
    assert math.isnan(x) and intensity == 0.0
