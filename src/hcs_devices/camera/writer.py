"""Frame writing off the acquisition path: a TIFF sequence written by a thread.

The camera hands frames to :class:`TiffSequenceWriter`, which writes one TIFF file per
frame (``000000.tif``, ``000001.tif``, ...) from its own thread behind a bounded
queue. When the disk is slower than the camera, :meth:`TiffSequenceWriter.put` waits
for room: acquisition slows down, frames are never dropped. A write error (a full
disk) is kept and raised by the next ``put`` and by ``close``; every frame written
before it stays a complete, readable file (a file is written under a temporary name
and renamed into place only once complete).

How a frame becomes bytes is a :data:`FrameEncoder` (``write_tiff`` by default); a test
can wrap it to make the disk slow on purpose, or fail. ``write_tiff`` lets tifffile lay
out the first file of each frame shape, then writes later frames of that shape after the
same header: a file identical to what tifffile writes, without its cost per frame.
"""

from __future__ import annotations

import asyncio
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

    def __call__(self, fh: BinaryIO, frame: np.ndarray) -> None:
        """Write ``frame`` into the open file ``fh``."""
        key = (frame.shape, frame.dtype.str)
        if key not in self._headers:
            self._headers[key] = self._probe(frame)
        header = self._headers[key]
        if header is None:
            tifffile_write(fh, frame)
            return
        fh.write(header)
        fh.write(np.ascontiguousarray(frame).data)  # the pixels, without a copy

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
        on_written: called from the writer thread with the count of frames on disk.
        capacity: frames that may wait in memory before ``put`` blocks.
        fsync: flush each file to stable storage before counting it as written.
        encode: writes a frame into an open file.
        on_error: called from the writer thread with the error that stopped it.
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
        self._fsync = fsync
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=capacity)
        self._space = threading.Semaphore(capacity)
        self._error: BaseException | None = None
        self._cause = ""
        self._disk_full = False
        self._closed = False
        self.frames_queued = 0
        self.frames_written = 0
        self._thread = threading.Thread(
            target=self._run, name=f"tiff-writer-{directory.name}", daemon=True
        )
        self._thread.start()

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

    def _run(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is None:
                self._queue.task_done()
                return
            try:
                if self._error is None:
                    self._write(frame)
            except BaseException as exc:
                self._error = exc
                self._disk_full, self._cause = self._diagnose(exc, frame.nbytes)
                if self._on_error is not None:
                    self._on_error(self.write_error())
            finally:
                self._space.release()
                self._queue.task_done()

    def _write(self, frame: np.ndarray) -> None:
        index = self.frames_written
        final = self.directory / FRAME_TEMPLATE.format(index)
        partial = final.with_suffix(".tif.partial")
        try:
            with open(partial, "wb") as fh:
                self._encode(fh, frame)
                if self._fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
        except BaseException:
            partial.unlink(missing_ok=True)  # leave no half-written file behind
            raise
        os.replace(partial, final)
        self.frames_written = index + 1
        self._on_written(self.frames_written)

    def drain(self) -> None:
        """Return once every frame queued so far is written (or its write failed)."""
        self._queue.join()

    def close(self) -> None:
        """Write what is queued, then stop the thread. Safe to call more than once.

        Raises:
            FrameWriteError: when a write failed.
        """
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()
        self._raise_error()
