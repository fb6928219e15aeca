"""Frame writing off the acquisition path: a TIFF sequence written by a thread.

The camera hands frames to :class:`TiffSequenceWriter`, which writes one TIFF file per
frame (``000000.tif``, ``000001.tif``, ...) from its own thread behind a bounded
queue. When the disk is slower than the camera, :meth:`TiffSequenceWriter.put` waits
for room: acquisition slows down, frames are never dropped. A write error (a full
disk) is kept and raised by the next ``put`` and by ``close``; every frame written
before it stays a complete, readable file (a file is written under a temporary name
and renamed into place only once complete).

What "written" promises (when a frame counts as written and is announced):

- by default, a frame counts once its file is complete under its final name: it
  survives the acquisition process being killed, and the operating system writes it
  to the disk in the background (within its writeback interval, 30 s on Linux);
- with ``fsync``, a frame counts only once it is on stable storage: its file and its
  name survive a power cut. A second thread makes frames durable in groups (every
  file written since its last group, then one ``fsync`` of the directory for their
  names) while the first keeps writing, so the disk's flushes overlap the writes.

How a frame becomes bytes is a :data:`FrameEncoder` (``write_tiff`` by default); a test
can wrap it to make the disk slow on purpose, or fail. ``write_tiff`` lets tifffile lay
out the first file of each frame shape, then writes later frames of that shape after the
same header: a file identical to what tifffile writes, without its cost per frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import os
import queue
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import tifffile

#: File name of frame ``i`` inside a frame set's directory.
FRAME_TEMPLATE = "{:06d}.tif"


#: Writes one frame into an open file.
FrameEncoder = Callable[[BinaryIO, np.ndarray], None]


def tifffile_write(fh: BinaryIO, frame: np.ndarray) -> None:
    """Write ``frame`` as a single-page greyscale TIFF with tifffile."""
    tifffile.imwrite(fh, frame, photometric="minisblack", metadata=None)


class TiffHeaders:
    """Single-page TIFFs, byte for byte as :func:`tifffile_write` lays them out.

    For each frame shape and dtype, tifffile encodes two probe frames; when both files
    are one header followed by the raw pixels (uncompressed, contiguous), later frames
    are written as that header plus their pixels. Layouts that are not like that are
    written by tifffile every time.
    """

    def __init__(self) -> None:
        self._headers: dict[tuple[tuple[int, ...], str], bytes | None] = {}

    def header(self, frame: np.ndarray) -> bytes | None:
        """The bytes before the pixels in every file of ``frame``'s shape, if there are."""
        key = (frame.shape, frame.dtype.str)
        if key not in self._headers:
            self._headers[key] = self._probe(frame)
        return self._headers[key]

    def __call__(self, fh: BinaryIO, frame: np.ndarray) -> None:
        """Write ``frame`` into the open file ``fh``."""
        header = self.header(frame)
        if header is None:
            tifffile_write(fh, frame)
            return
        fh.write(header)
        fh.write(np.ascontiguousarray(frame).data)  # the pixels, without a copy

    def write_file(self, path: Path, frame: np.ndarray) -> None:
        """Create (or truncate) ``path`` holding ``frame``, as :meth:`__call__` writes it.

        With a known header: one ``open``, one ``writev`` of the header and the frame's
        own buffer (no copy in Python), one ``close``, as a raw write loop does.
        """
        header = self.header(frame)
        if header is None:
            with open(path, "wb") as fh:
                tifffile_write(fh, frame)
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            write_all(fd, [header, np.ascontiguousarray(frame).data])
        finally:
            os.close(fd)

    @staticmethod
    def _probe(frame: np.ndarray) -> bytes | None:
        """The header every file of this shape and dtype starts with, if there is one."""
        ramp = np.arange(frame.size).reshape(frame.shape).astype(frame.dtype)
        headers, pixels_last = set(), True
        for probe in (np.zeros_like(frame), ramp):
            buffer = io.BytesIO()
            tifffile_write(buffer, probe)
            data = buffer.getvalue()
            headers.add(data[: len(data) - probe.nbytes])
            pixels_last &= data[len(data) - probe.nbytes :] == probe.tobytes()
        return headers.pop() if len(headers) == 1 and pixels_last else None


def write_all(fd: int, buffers: list[bytes | memoryview]) -> None:
    """Write ``buffers`` one after the other to ``fd``, going on after short writes.

    Raises:
        OSError: as ``writev`` does (``ENOSPC`` on a full disk, at the latest on the
            call after a short write).
    """
    views = [memoryview(b).cast("B") for b in buffers]
    while views:
        done = os.writev(fd, views)
        if done == 0:
            raise OSError(errno.EIO, f"a write of {sum(map(len, views))} bytes wrote none")
        while views and done >= len(views[0]):
            done -= len(views[0])
            views.pop(0)
        if views:
            views[0] = views[0][done:]


def write_tiff(fh: BinaryIO, frame: np.ndarray) -> None:
    """Write ``frame`` as a single-page greyscale TIFF (the default encoder)."""
    _HEADERS(fh, frame)


_HEADERS = TiffHeaders()


class FrameWriteError(OSError):
    """Writing a frame failed (for example, the disk is full)."""


class TiffSequenceWriter:
    """Writes frames as numbered TIFF files in a directory, from a thread.

    Args:
        directory: where the files go (created if missing).
        on_written: called from a writer thread with the count of frames written (in
            order: every frame before that count is written too).
        capacity: frames that may wait in memory before ``put`` blocks; with
            ``fsync``, also the most frames written but not yet durable.
        fsync: count a frame as written only once it is on stable storage.
        encode: writes a frame into an open file.
        on_error: called from a writer thread with the error that stopped it.
    """

    def __init__(
        self,
        directory: Path,
        on_written: Callable[[int], None],
        *,
        capacity: int = 8,
        fsync: bool = False,
        encode: FrameEncoder = write_tiff,
        on_error: Callable[[FrameWriteError], None] | None = None,
    ) -> None:
        self.directory = directory
        self._encode = encode
        self._on_error = on_error
        directory.mkdir(parents=True, exist_ok=True)
        self._on_written = on_written
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=capacity)
        self._space = threading.Semaphore(capacity)
        self._error: BaseException | None = None
        self._error_lock = threading.Lock()
        self._cause = ""
        self._disk_full = False
        self._closed = False
        self.frames_queued = 0
        self.frames_written = 0
        self._frames_encoded = 0
        #: Frames written but not yet durable (their indices), with ``fsync`` only.
        self._unsynced: queue.Queue[int | None] | None = None
        self._threads = [
            threading.Thread(target=self._run, name=f"tiff-writer-{directory.name}", daemon=True)
        ]
        if fsync:
            self._unsynced = queue.Queue(maxsize=capacity)
            self._threads.append(
                threading.Thread(
                    target=self._run_syncs, name=f"tiff-sync-{directory.name}", daemon=True
                )
            )
        for thread in self._threads:
            thread.start()

    @property
    def error(self) -> BaseException | None:
        """The write error that stopped the writer, if any."""
        return self._error

    async def put(self, frame: np.ndarray) -> None:
        """Queue a frame, waiting (without blocking the event loop) while the queue is full.

        Raises:
            FrameWriteError: when an earlier write failed; the frame is not queued.
        """
        self._raise_error()
        if self._closed:
            raise FrameWriteError(f"writer for {self.directory} is closed")
        if not self._space.acquire(blocking=False):
            await asyncio.get_running_loop().run_in_executor(None, self._space.acquire)
        self._raise_error()
        self.frames_queued += 1
        self._queue.put_nowait(frame)

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self.write_error() from self._error

    def write_error(self) -> FrameWriteError:
        """The error to report for the failed write (``error`` must be set)."""
        written = self.frames_written
        if self._disk_full:
            return FrameWriteError(
                f"the disk holding {self.directory} is full: writing frames failed after "
                f"{written} frames (all {written} are complete on disk); {self._cause}"
            )
        return FrameWriteError(
            f"writing frames to {self.directory} failed after {written} "
            f"frames (all {written} are complete on disk): {self._cause}"
        )

    def _diagnose(self, exc: BaseException, frame_bytes: int) -> tuple[bool, str]:
        """Whether the disk is full, and the cause: libraries word a short write differently."""
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True, str(exc)
        try:
            free = shutil.disk_usage(self.directory).free
        except OSError:
            return False, str(exc)
        if free < frame_bytes:
            return True, f"No space left on device ({free} bytes free; {exc})"
        return False, str(exc)

    def _fail(self, exc: BaseException, frame_bytes: int) -> None:
        """Keep the first error (the writing and the syncing thread may both fail)."""
        with self._error_lock:
            if self._error is not None:
                return
            self._disk_full, self._cause = self._diagnose(exc, frame_bytes)
            self._error = exc
        if self._on_error is not None:
            self._on_error(self.write_error())

    def _run(self) -> None:
        try:
            while True:
                frame = self._queue.get()
                if frame is None:
                    self._queue.task_done()
                    return
                try:
                    if self._error is None:
                        self._write(frame)
                except BaseException as exc:
                    self._fail(exc, frame.nbytes)
                finally:
                    self._space.release()
                    self._queue.task_done()
        finally:
            if self._unsynced is not None:
                self._unsynced.put(None)

    def _path(self, index: int) -> Path:
        return self.directory / FRAME_TEMPLATE.format(index)

    def _write(self, frame: np.ndarray) -> None:
        index = self._frames_encoded
        final = self._path(index)
        partial = final.with_suffix(".tif.partial")
        try:
            if self._encode is write_tiff:  # the default: header and pixels in one call
                _HEADERS.write_file(partial, frame)
            else:
                with open(partial, "wb") as fh:
                    self._encode(fh, frame)
        except BaseException:
            partial.unlink(missing_ok=True)  # leave no half-written file behind
            raise
        self._frames_encoded = index + 1
        if self._unsynced is not None:
            self._unsynced.put(index)  # waits while the sync thread is far behind
            return
        os.replace(partial, final)
        self.frames_written = index + 1
        self._on_written(self.frames_written)

    def _run_syncs(self) -> None:
        """Make written frames durable in groups, then rename and count them."""
        assert self._unsynced is not None
        unsynced = self._unsynced
        first, failed = True, False
        while True:
            index = unsynced.get()
            group: list[int] = []
            end = index is None
            while index is not None:
                group.append(index)
                try:
                    index = unsynced.get_nowait()
                except queue.Empty:
                    break
                end = index is None
            try:
                if group and not failed:  # complete frames, even if a later write failed
                    self._sync(group, parents=first)
                    first = False
                else:
                    self._discard(group)
            except BaseException as exc:
                failed = True
                self._discard(group)
                self._fail(exc, 0)
            finally:
                for _ in range(len(group) + end):
                    unsynced.task_done()
            if end:
                return

    def _discard(self, group: list[int]) -> None:
        """Remove frames that will never be counted (not durable): no file of theirs left.

        Renamed ones too (their directory's flush failed): a frame file in the
        directory is always a counted frame.
        """
        for index in group:
            final = self._path(index)
            for path in (final.with_suffix(".tif.partial"), final):
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)

    def _sync(self, group: list[int], *, parents: bool) -> None:
        """Flush ``group``'s files, name them, then flush their names (the directory)."""
        for index in group:
            fd = os.open(self._path(index).with_suffix(".tif.partial"), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for index in group:
            final = self._path(index)
            os.replace(final.with_suffix(".tif.partial"), final)
        for directory in (self.directory, self.directory.parent) if parents else (self.directory,):
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self.frames_written = group[-1] + 1
        self._on_written(self.frames_written)

    def drain(self) -> None:
        """Return once every frame queued so far is written (or its write failed)."""
        self._queue.join()
        if self._unsynced is not None:
            self._unsynced.join()

    def close(self) -> None:
        """Write what is queued, then stop the threads. Safe to call more than once.

        Raises:
            FrameWriteError: when a write failed.
        """
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            for thread in self._threads:
                thread.join()
        self._raise_error()
