"""Finding the peak of a focus curve, and the focus measures it is made of."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hcs_devices.autofocus import FOCUS_MEASURES, centre_crop, focus_measure
from hcs_plans.autofocus.contrast import find_focus_peak, refine_focus_peak


def gaussian_curve(z: np.ndarray, peak_um: float, sigma_um: float = 3.0) -> np.ndarray:
    return 10.0 + 500.0 * np.exp(-0.5 * ((z - peak_um) / sigma_um) ** 2)


@pytest.mark.parametrize("peak_um", [-4.4, -1.0, 0.0, 0.7, 2.9, 8.2])
def test_find_focus_peak_locates_a_gaussian_peak_within_a_fraction_of_the_step_when_sampled(
    peak_um: float,
) -> None:
    z = np.arange(-12.0, 12.1, 3.0)
    fit = find_focus_peak(z, gaussian_curve(z, peak_um))
    assert fit.found
    assert fit.z_um == pytest.approx(peak_um, abs=0.75)
    fine = np.array([fit.z_um - 1, fit.z_um, fit.z_um + 1])
    zs = np.concatenate([z, fine])
    final = refine_focus_peak(zs, gaussian_curve(zs, peak_um), fit.z_um, 2.0)
    assert final == pytest.approx(peak_um, abs=0.25)


def test_find_focus_peak_reports_no_peak_when_the_curve_is_flat() -> None:
    z = np.arange(-12.0, 12.1, 3.0)
    flat = 100.0 + np.random.default_rng(0).normal(0, 0.5, z.size)
    fit = find_focus_peak(z, flat)
    assert not fit.found
    assert math.isnan(fit.z_um)
    assert "no focus peak" in fit.message and "featureless" in fit.message


def test_find_focus_peak_reports_a_peak_at_the_edge_as_out_of_range() -> None:
    z = np.arange(-12.0, 12.1, 3.0)
    fit = find_focus_peak(z, gaussian_curve(z, 20.0))
    assert not fit.found
    assert "outside the search range" in fit.message


def test_find_focus_peak_sorts_planes_when_sampled_out_of_order() -> None:
    z = np.array([3.0, -3.0, 0.0, 6.0, -6.0])
    fit = find_focus_peak(z, gaussian_curve(z, 1.0))
    assert fit.found and fit.z_um == pytest.approx(1.0, abs=0.5)


def _blobs(blur_px: float) -> np.ndarray:
    import scipy.ndimage

    rng = np.random.default_rng(3)
    image = np.zeros((128, 128))
    image[rng.integers(0, 128, 40), rng.integers(0, 128, 40)] = 5000.0
    image = scipy.ndimage.gaussian_filter(image, 1.5 + blur_px) + 100.0
    return rng.poisson(image).astype(np.float64)


@pytest.mark.parametrize("name", FOCUS_MEASURES)
def test_focus_measures_fall_with_blur_and_ignore_brightness_when_compared(name: str) -> None:
    sharp, soft, softer = (focus_measure(_blobs(b), name) for b in (0.0, 2.0, 5.0))  # type: ignore[arg-type]
    assert sharp > soft > softer
    bright = focus_measure(2 * _blobs(0.0), name)  # type: ignore[arg-type]
    if name != "normalized_variance":  # var / mean scales with brightness; the others do not
        assert bright == pytest.approx(sharp, rel=1e-6)


def test_focus_measure_names_the_measures_when_asked_for_an_unknown_one() -> None:
    with pytest.raises(ValueError, match="normalized_variance"):
        focus_measure(np.ones((8, 8)), "tenengrad")  # type: ignore[arg-type]


def test_centre_crop_takes_the_middle_when_the_image_is_larger() -> None:
    image = np.arange(100).reshape(10, 10)
    assert centre_crop(image, 4).tolist() == image[3:7, 3:7].tolist()
    assert centre_crop(image, 20).shape == (10, 10)
