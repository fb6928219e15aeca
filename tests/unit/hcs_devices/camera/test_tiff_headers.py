"""The default frame encoder writes exactly the files tifffile writes, faster."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tifffile

from hcs_devices.camera import writer
from hcs_devices.camera.writer import TiffHeaders, tifffile_write


def encoded(encode: writer.FrameEncoder, frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    encode(buffer, frame)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((16, 16), np.uint16), ((3, 5), np.uint16), ((512, 1024), np.uint16), ((64, 64), np.uint8)],
)
def test_tiff_headers_write_the_bytes_tifffile_writes_for_every_frame_of_a_shape(
    shape: tuple[int, int], dtype: type[np.generic]
) -> None:
    rng = np.random.default_rng(7)
    encode = TiffHeaders()
    for _ in range(3):  # the first frame probes, the next ones reuse the header
        frame = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
        data = encoded(encode, frame)
        assert data == encoded(tifffile_write, frame)
        assert np.array_equal(tifffile.imread(io.BytesIO(data)), frame)


def test_tiff_headers_let_tifffile_write_every_frame_when_pixels_do_not_end_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []

    def pixels_then_trailer(fh: io.BytesIO, frame: np.ndarray) -> None:
        calls.append(frame.shape)
        tifffile.imwrite(fh, frame, photometric="minisblack", metadata=None)
        fh.write(b"trailer")

    monkeypatch.setattr(writer, "tifffile_write", pixels_then_trailer)
    encode = TiffHeaders()
    frame = np.arange(64, dtype=np.uint16).reshape(8, 8)
    data = encoded(encode, frame)
    assert data.endswith(b"trailer")
    assert np.array_equal(tifffile.imread(io.BytesIO(data)), frame)
    encoded(encode, frame)
    assert len(calls) == 2 + 2  # two probes, then tifffile for each frame
