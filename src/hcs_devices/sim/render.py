"""Image formation: what the specimen sends to each camera pixel, before noise.

Every blob is a Gaussian; optics (the in-focus point-spread function and defocus)
widen it, so the image of one object class is its blob positions convolved with one
Gaussian. That convolution is done in Fourier space, each class on the coarsest grid
its blur allows (a blurred class needs few samples), and all classes are summed into
one full-resolution spectrum: zero-padding a coarse spectrum is exact band-limited
upsampling. One inverse FFT then gives the frame. Blobs are placed with bilinear
weights, so positions are exact to a fraction of a pixel and two overlapping fields of
view show the same cells at the same places.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import scipy.fft

from hcs_devices.sim.specimen import Blobs, ObjectClass, SampleState, Specimen

#: Chromatic focal shift: the focal plane of longer wavelengths lies this much higher.
FOCAL_SHIFT_UM_PER_NM = 0.004
#: Autofluorescence of the medium and plastic, photons per mW.s per um^2.
BACKGROUND_PER_MW_S_UM2 = 0.4
#: Transmitted light in brightfield, photons per mW.s per um^2.
BRIGHTFIELD_PER_MW_S_UM2 = 7.0e6
#: Sharp blobs are drawn directly (not by FFT) out to this many sigmas...
DIRECT_REACH_SIGMA = 4.0
#: ...when that takes at most this many pixel weights.
DIRECT_MAX_WEIGHTS = 400_000
#: Classes weaker than this fraction of the strongest one in a frame are left out.
MIN_RELATIVE_WEIGHT = 0.01


@dataclass(frozen=True)
class View:
    """What the camera sees: a rectangle of the sample and the focal plane.

    Attributes:
        center_x_um: plate x at the image centre.
        center_y_um: plate y at the image centre.
        focus_z_um: height of the objective's focal plane.
        width_px: image width.
        height_px: image height.
        pixel_um: pixel size at the sample (binning included).
    """

    center_x_um: float
    center_y_um: float
    focus_z_um: float
    width_px: int
    height_px: int
    pixel_um: float


@dataclass(frozen=True)
class Light:
    """The illumination and detection path of one exposure.

    Attributes:
        wavelength_nm: excitation wavelength; None for white transmitted light.
        dose_mw_s: power at the sample times exposure time.
        filter_center_nm: emission filter centre; None for an empty slot.
        filter_bandwidth_nm: emission filter bandwidth.
        numerical_aperture: of the objective.
        immersion_index: refractive index of the immersion medium.
    """

    wavelength_nm: float | None
    dose_mw_s: float
    filter_center_nm: float | None
    filter_bandwidth_nm: float
    numerical_aperture: float
    immersion_index: float = 1.0


def excitation_efficiency(source_nm: float, label_excitation_nm: float) -> float:
    """Fraction of a label's peak absorption reached at a source wavelength."""
    d = source_nm - label_excitation_nm
    # Absorption spectra have a long blue tail and a steep red edge.
    width = 45.0 if d < 0 else 22.0
    return math.exp(-0.5 * (d / width) ** 2)


def filter_transmission(emission_nm: float, center_nm: float | None, bandwidth_nm: float) -> float:
    """Fraction of a label's emission that passes an emission filter."""
    if center_nm is None:
        return 1.0
    d = abs(emission_nm - center_nm) - bandwidth_nm / 2
    # Emission spectra are ~40 nm wide: the filter passes the part inside its band.
    return 0.9 if d <= 0 else 0.9 * math.exp(-0.5 * (d / 15.0) ** 2)


def defocus_sigma_um(dz_um: float, light: Light) -> float:
    """Gaussian sigma of the blur a defocus ``dz_um`` causes (geometric optics)."""
    half_angle = math.asin(min(0.999, light.numerical_aperture / light.immersion_index))
    return 0.5 * abs(dz_um) * math.tan(half_angle)


def psf_sigma_um(wavelength_nm: float, numerical_aperture: float) -> float:
    """Gaussian approximation of the in-focus widefield point-spread function."""
    return 0.21 * wavelength_nm * 1e-3 / numerical_aperture


class Renderer:
    """Renders expected photon counts for a view of a specimen.

    Args:
        specimen: what lies on the plate.
    """

    def __init__(self, specimen: Specimen) -> None:
        self.specimen = specimen

    def class_weight(self, cls: ObjectClass, light: Light) -> float:
        """Photons per blob-brightness unit that reach the camera for this class."""
        if light.wavelength_nm is None:
            return 0.0
        return (
            cls.photons_per_mw_s
            * light.dose_mw_s
            * excitation_efficiency(light.wavelength_nm, cls.label.excitation_nm)
            * filter_transmission(
                cls.label.emission_nm, light.filter_center_nm, light.filter_bandwidth_nm
            )
        )

    def expected(self, view: View, light: Light, state: SampleState | None = None) -> np.ndarray:
        """Expected photons per pixel (float32, shape ``(height_px, width_px)``).

        The sample's state is read once (unless given): a frame shows one moment of a
        sample that changes (a MERFISH sample between rounds), and where it has drifted to.
        """
        if state is None:
            state = self.specimen.state()
        dx, dy = state.offset_um
        if dx or dy:
            # The sample moved by (dx, dy) on the stage: the camera sees the sample
            # point that lay at (x - dx, y - dy).
            view = replace(
                view, center_x_um=view.center_x_um - dx, center_y_um=view.center_y_um - dy
            )
        surface = self.specimen.surface_z_um(view.center_x_um, view.center_y_um)
        area_um2 = view.pixel_um**2
        inside = self.specimen.well_at(view.center_x_um, view.center_y_um) is not None
        brightfield = light.wavelength_nm is None
        layers: list[tuple[ObjectClass, float, float]] = []  # class, weight, sigma_um
        for cls in state.classes:
            # In brightfield a blob removes `absorbance` of the light at its centre.
            weight = (
                cls.absorbance
                * BRIGHTFIELD_PER_MW_S_UM2
                * light.dose_mw_s
                * 2
                * math.pi
                * cls.sigma_um**2
                if brightfield
                else self.class_weight(cls, light)
            )
            if weight <= 0.0:
                continue
            emission = 550.0 if brightfield else cls.label.emission_nm
            focal_plane = surface + FOCAL_SHIFT_UM_PER_NM * (emission - 500.0)
            sigma = math.sqrt(
                cls.sigma_um**2
                + psf_sigma_um(emission, light.numerical_aperture) ** 2
                + defocus_sigma_um(view.focus_z_um - focal_plane, light) ** 2
            )
            layers.append((cls, weight, sigma))
        # Classes that add less than a percent of the brightest one are not worth an FFT.
        strongest = max((wgt for _, wgt, _ in layers), default=0.0)
        layers = [layer for layer in layers if layer[1] >= MIN_RELATIVE_WEIGHT * strongest]
        if brightfield:
            flat = BRIGHTFIELD_PER_MW_S_UM2 * light.dose_mw_s * area_um2 * (1.0 if inside else 0.8)
            absorbed = self._convolved(view, layers, state)
            return np.maximum(flat - absorbed, 0.0, dtype=np.float32)
        image = self._convolved(view, layers, state)
        image += np.float32(BACKGROUND_PER_MW_S_UM2 * light.dose_mw_s * area_um2)
        return image

    def _convolved(
        self, view: View, layers: list[tuple[ObjectClass, float, float]], state: SampleState
    ) -> np.ndarray:
        """Sum of each class's blobs convolved with its Gaussian, on the view's grid."""
        h, w = view.height_px, view.width_px
        if not layers:
            return np.zeros((h, w), np.float32)
        # A margin keeps blur tails from wrapping around the periodic FFT grid.
        sigma_px_max = max(s for _, _, s in layers) / view.pixel_um
        margin = min(256, 8 * math.ceil(3 * sigma_px_max / 8))
        hp = _grid_size(h + 2 * margin)
        wp = _grid_size(w + 2 * margin)
        spectrum = np.zeros((hp, wp // 2 + 1), np.complex64)
        x0 = view.center_x_um - (w / 2 + margin) * view.pixel_um
        y0 = view.center_y_um - (h / 2 + margin) * view.pixel_um
        x1 = x0 + wp * view.pixel_um
        y1 = y0 + hp * view.pixel_um
        direct: np.ndarray | None = None
        blurred = False  # whether any class went through the spectrum
        for cls, weight, sigma_um in layers:
            sigma_px = sigma_um / view.pixel_um
            reach = 4 * sigma_um
            blobs = self.specimen.blobs_in(
                cls.name, x0 - reach, x1 + reach, y0 - reach, y1 + reach, state
            )
            if blobs.x_um.size == 0:
                continue
            factor = _coarsening(sigma_px, hp, wp)
            radius = math.ceil(DIRECT_REACH_SIGMA * sigma_px)
            if factor == 1 and blobs.x_um.size * (2 * radius + 1) ** 2 <= DIRECT_MAX_WEIGHTS:
                # Few sharp blobs: drawing them costs less than a full-size FFT.
                patch = _splat_gaussians(
                    blobs, weight, (x0, y0), view.pixel_um, (hp, wp), sigma_px, radius
                )
                direct = patch if direct is None else direct + patch
                continue
            coarse = _splat(
                blobs,
                weight,
                origin=(x0, y0),
                step_um=view.pixel_um * factor,
                shape=(hp // factor, wp // factor),
            )
            _add_blurred(spectrum, coarse, sigma_px / factor)
            blurred = True
        if not blurred:  # only sharp blobs (spots): the spectrum is zero, skip its FFT
            full = direct if direct is not None else np.zeros((hp, wp), np.float32)
        else:
            full = np.asarray(scipy.fft.irfft2(spectrum, s=(hp, wp), workers=1))
            if direct is not None:
                full += direct
        return np.ascontiguousarray(
            full[margin : margin + h, margin : margin + w], dtype=np.float32
        )


def _grid_size(n: int) -> int:
    """A size at least ``n``, divisible by 8 and fast for the FFT."""
    size = int(scipy.fft.next_fast_len(n, real=True) or n)
    while size % 8:
        size = int(scipy.fft.next_fast_len(size + 1, real=True) or size + 1)
    return size


def _coarsening(sigma_px: float, hp: int, wp: int) -> int:
    """The coarsest grid factor (1, 2, 4, 8) on which a blur of ``sigma_px`` is resolved."""
    factor = 1
    while (
        factor < 8
        and sigma_px / (factor * 2) >= 1.2
        and hp % (factor * 2) == 0
        and wp % (factor * 2) == 0
    ):
        factor *= 2
    return factor


def _grid_coordinates(
    blobs: Blobs, origin: tuple[float, float], step_um: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Blob positions in grid steps from ``origin`` (u, v) and the cells they fall in."""
    u = (blobs.x_um - origin[0]) / step_um
    v = (blobs.y_um - origin[1]) / step_um
    return u, v, np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)


def _splat(
    blobs: Blobs, weight: float, origin: tuple[float, float], step_um: float, shape: tuple[int, int]
) -> np.ndarray:
    """Place blobs on a grid with bilinear weights (periodic grid)."""
    h, w = shape
    u, v, iu, iv = _grid_coordinates(blobs, origin, step_um)
    fu = u - iu
    fv = v - iv
    amp = blobs.brightness * weight
    idx = np.concatenate(
        [((iv + dv) % h) * w + ((iu + du) % w) for du, dv in ((0, 0), (1, 0), (0, 1), (1, 1))]
    )
    weights = np.concatenate(
        [amp * (1 - fu) * (1 - fv), amp * fu * (1 - fv), amp * (1 - fu) * fv, amp * fu * fv]
    )
    grid = np.bincount(idx, weights=weights, minlength=h * w)
    return grid.reshape(h, w).astype(np.float32)


def _splat_gaussians(
    blobs: Blobs,
    weight: float,
    origin: tuple[float, float],
    step_um: float,
    shape: tuple[int, int],
    sigma_px: float,
    radius: int,
) -> np.ndarray:
    """Draw each blob as a sampled Gaussian of ``sigma_px`` (flux normalised to 1)."""
    h, w = shape
    u, v, iu, iv = _grid_coordinates(blobs, origin, step_um)
    k = np.arange(-radius, radius + 1)
    gx = np.exp(-0.5 * ((iu[:, None] + k - u[:, None]) / sigma_px) ** 2)
    gy = np.exp(-0.5 * ((iv[:, None] + k - v[:, None]) / sigma_px) ** 2)
    gx /= gx.sum(axis=1, keepdims=True)
    gy /= gy.sum(axis=1, keepdims=True)
    amp = blobs.brightness * weight
    weights = amp[:, None, None] * gy[:, :, None] * gx[:, None, :]
    rows = (iv[:, None] + k) % h
    cols = (iu[:, None] + k) % w
    idx = rows[:, :, None] * w + cols[:, None, :]
    image = np.bincount(idx.ravel(), weights=weights.ravel(), minlength=h * w)
    return image.reshape(h, w).astype(np.float32)


def _add_blurred(spectrum: np.ndarray, coarse: np.ndarray, sigma_px: float) -> None:
    """Blur a coarse grid by a Gaussian and add it into the full-resolution spectrum."""
    h, w = coarse.shape
    f = scipy.fft.rfft2(coarse, workers=1)
    ky = scipy.fft.fftfreq(h).astype(np.float32)
    kx = scipy.fft.rfftfreq(w).astype(np.float32)
    gy = np.exp(-2 * (math.pi * sigma_px * ky) ** 2)
    gx = np.exp(-2 * (math.pi * sigma_px * kx) ** 2)
    f *= gy[:, None]
    f *= gx[None, :]
    half = h // 2
    cols = w // 2 + 1
    spectrum[:half, :cols] += f[:half]
    spectrum[-half:, :cols] += f[-half:]
