"""The frame writer: one complete TIFF per frame, from a thread, closed idempotently."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile

from hcs_devices.camera.writer import FRAME_TEMPLATE, FrameWriteError, TiffSequenceWriter


def _frames(n: int, shape: tuple[int, int] = (32, 48)) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 65535, shape, dtype=np.uint16) for _ in range(n)]


async def test_tiff_writer_writes_one_readable_file_per_frame_when_frames_are_put(
    tmp_path: Path,
) -> None:
    counts: list[int] = []
    writer = TiffSequenceWriter(tmp_path / "set", counts.append, capacity=2)
    frames = _frames(7)
    for frame in frames:
        await writer.put(frame)
    await asyncio.get_running_loop().run_in_executor(None, writer.close)
    names = sorted(p.name for p in (tmp_path / "set").iterdir())
    assert names == [FRAME_TEMPLATE.format(i) for i in range(7)]
    for i, frame in enumerate(frames):
        assert np.array_equal(tifffile.imread(tmp_path / "set" / names[i]), frame)
    assert counts == list(range(1, 8))
    assert writer.frames_written == 7


async def test_tiff_writer_close_raises_nothing_when_called_twice(tmp_path: Path) -> None:
    writer = TiffSequenceWriter(tmp_path / "set", lambda n: None)
    writer.close()
    writer.close()
    with pytest.raises(FrameWriteError, match="is closed"):
        await writer.put(_frames(1)[0])
    assert not any(t.name == "tiff-writer-set" for t in threading.enumerate())


async def test_tiff_writer_keeps_finished_frames_complete_when_a_write_fails(
    tmp_path: Path,
) -> None:
    writer = TiffSequenceWriter(tmp_path / "set", lambda n: None)
    good = _frames(3)
    for frame in good:
        await writer.put(frame)
    await writer.put(np.zeros((4, 4), dtype=object))  # tifffile cannot write this
    with pytest.raises(FrameWriteError, match="failed after 3 frames"):
        writer.close()
    with pytest.raises(FrameWriteError):
        await writer.put(good[0])
    files = sorted((tmp_path / "set").iterdir())  # no half-written file left behind
    assert [p.name for p in files] == [FRAME_TEMPLATE.format(i) for i in range(3)]
    for path, frame in zip(files, good, strict=True):
        assert np.array_equal(tifffile.imread(path), frame)
