"""The frame writer: one complete TIFF per frame, from a thread, closed idempotently."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
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


class _SyncLog:
    """Records, in order, each ``fsync`` (of which path) and each count announced."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_at: int | None = None) -> None:
        self.events: list[tuple[str, str | int]] = []
        self._fsync = os.fsync
        self._fail_at = fail_at
        monkeypatch.setattr(os, "fsync", self.fsync)

    def fsync(self, fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        if self._fail_at is not None and len(self.fsyncs()) == self._fail_at:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._fsync(fd)
        self.events.append(("fsync", path))

    def announce(self, count: int) -> None:
        self.events.append(("written", count))

    def fsyncs(self) -> list[str | int]:
        return [what for kind, what in self.events if kind == "fsync"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd")
async def test_tiff_writer_counts_a_frame_only_once_its_file_and_name_are_durable_when_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _SyncLog(monkeypatch)
    directory = tmp_path / "set"
    written_names: list[list[str]] = []

    def on_written(count: int) -> None:
        log.announce(count)
        written_names.append(sorted(p.name for p in directory.glob("*.tif")))

    writer = TiffSequenceWriter(directory, on_written, capacity=3, fsync=True)
    frames = _frames(10)
    for frame in frames:
        await writer.put(frame)
    await asyncio.get_running_loop().run_in_executor(None, writer.close)

    counts = [what for kind, what in log.events if kind == "written"]
    assert counts == sorted(set(counts)) and counts[-1] == 10  # in order, each once
    # Every counted frame's file, then the directory (its name), was flushed before
    # the count that includes it; and a counted frame is there under its final name.
    flushed: set[str] = set()
    for kind, what in log.events:
        if kind == "fsync":
            flushed.add(str(Path(str(what)).name))
            continue
        assert isinstance(what, int)
        for i in range(what):
            assert FRAME_TEMPLATE.format(i) + ".partial" in flushed
        assert "set" in flushed
        flushed.discard("set")  # the next count needs the directory flushed again
    assert written_names[-1] == [FRAME_TEMPLATE.format(i) for i in range(10)]
    for count, names in zip(counts, written_names, strict=True):
        assert names[:count] == [FRAME_TEMPLATE.format(i) for i in range(count)]
    for i, frame in enumerate(frames):
        assert np.array_equal(tifffile.imread(directory / FRAME_TEMPLATE.format(i)), frame)
    assert not list(directory.glob("*.partial"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd")
async def test_tiff_writer_counts_only_durable_frames_when_an_fsync_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "set"
    counts: list[int] = []
    log = _SyncLog(monkeypatch, fail_at=4)  # the 5th fsync: a frame's, or the directory's
    writer = TiffSequenceWriter(directory, counts.append, capacity=1, fsync=True)
    frames = _frames(6)
    for frame in frames:
        with contextlib.suppress(FrameWriteError):  # later puts see the failure
            await writer.put(frame)
    with pytest.raises(FrameWriteError, match=r"disk holding .* is full") as failure:
        writer.close()

    done = writer.frames_written
    assert f"failed after {done} frames" in str(failure.value)
    assert counts[-1:] == ([done] if done else [])
    names = sorted(p.name for p in directory.iterdir())  # no .partial file left
    assert names == [FRAME_TEMPLATE.format(i) for i in range(done)]
    for i in range(done):
        assert np.array_equal(tifffile.imread(directory / names[i]), frames[i])
        assert str(directory.resolve() / f"{names[i]}.partial") in log.fsyncs()


async def test_tiff_writer_keeps_frames_before_a_failed_write_durable_when_fsync(
    tmp_path: Path,
) -> None:
    counts: list[int] = []
    writer = TiffSequenceWriter(tmp_path / "set", counts.append, fsync=True)
    good = _frames(3)
    for frame in good:
        await writer.put(frame)
    await writer.put(np.zeros((4, 4), dtype=object))  # tifffile cannot write this
    with pytest.raises(FrameWriteError, match="failed after 3 frames"):
        writer.close()
    files = sorted((tmp_path / "set").iterdir())
    assert [p.name for p in files] == [FRAME_TEMPLATE.format(i) for i in range(3)]
    assert counts[-1] == 3
    assert not any(t.name == "tiff-sync-set" for t in threading.enumerate())
