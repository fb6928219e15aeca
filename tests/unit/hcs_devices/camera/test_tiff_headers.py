"""The default frame encoder writes exactly the files tifffile writes, faster."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from hcs_devices.camera import writer
from hcs_devices.camera.writer import TiffHeaders, tifffile_write, write_all


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


@pytest.mark.parametrize(("shape", "dtype"), [((512, 1024), np.uint16), ((7, 9), np.uint8)])
def test_tiff_headers_write_file_writes_the_bytes_tifffile_writes(
    tmp_path: Path, shape: tuple[int, int], dtype: type[np.generic]
) -> None:
    rng = np.random.default_rng(3)
    headers = TiffHeaders()
    for i in range(3):
        frame = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
        path = tmp_path / f"{i}.tif"
        path.write_bytes(b"stale bytes of an earlier, longer attempt" * 10**4)
        headers.write_file(path, frame)
        assert path.read_bytes() == encoded(tifffile_write, frame)


def test_write_all_writes_every_byte_when_the_system_writes_less_than_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_writev = os.writev
    calls: list[int] = []

    def short_writev(fd: int, buffers: list[memoryview]) -> int:
        calls.append(sum(len(b) for b in buffers))
        return real_writev(fd, [bytes(memoryview(buffers[0])[:1000])])  # at most 1000 bytes

    monkeypatch.setattr(os, "writev", short_writev)
    header, pixels = b"H" * 1500, np.arange(2000, dtype=np.uint16)
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        write_all(fd, [header, pixels.data])
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == header + pixels.tobytes()
    assert calls == [5500, 4500, 4000, 3000, 2000, 1000]  # each call asks for all the rest
