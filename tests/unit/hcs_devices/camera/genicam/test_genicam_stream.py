"""Frames out of Aravis buffers: pixel formats to 16-bit images."""

from __future__ import annotations

import numpy as np
import pytest

from hcs_devices.camera.genicam.stream import pixel_format_bits, to_array

# PFNC codes (GenICam Pixel Format Naming Convention): bits per pixel in bits 16-23.
MONO8, MONO12, MONO16 = 0x01080001, 0x01100005, 0x01100007


@pytest.mark.parametrize(("code", "bits"), [(MONO8, 8), (MONO12, 16), (MONO16, 16)])
def test_pixel_format_bits_reads_the_pfnc_size_field_when_given_a_format(
    code: int, bits: int
) -> None:
    assert pixel_format_bits(code) == bits


def test_to_array_widens_8_bit_pixels_to_16_bits_when_the_format_is_mono8() -> None:
    data = bytes(range(6))
    image = to_array(data, width=3, height=2, bytes_per_pixel=1)
    assert image.dtype == np.uint16
    assert image.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_to_array_reads_little_endian_16_bit_pixels_when_the_format_is_mono16() -> None:
    pixels = np.array([[1, 256], [65535, 4096]], dtype="<u2")
    image = to_array(pixels.tobytes(), width=2, height=2, bytes_per_pixel=2)
    assert image.dtype == np.uint16
    assert np.array_equal(image, pixels)
