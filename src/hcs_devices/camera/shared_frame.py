"""The latest preview frame in shared memory, for viewers in other processes (napari, say).

One POSIX shared-memory segment holds a single slot: a sequence number, the frame's
shape, its metadata as JSON and its pixels (uint16). The writer
(:class:`SharedFrameSlot`, fed by the preview tap's thread) makes the sequence number
odd while it writes and even when the slot is whole again; a reader
(:class:`SharedFrameReader`) copies the slot and keeps the copy only if the number was
even and unchanged around it (a sequence lock: the writer never waits for readers).

The segment belongs to the writer: :meth:`SharedFrameSlot.close` unlinks it. Readers
map it read-only without registering it with Python's resource tracker (which would
unlink it when the reader's process ends), so a reader never removes it.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import time
import uuid
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

from hcs_devices.camera.preview import FrameMeta, PreviewFrame

#: Where Linux exposes POSIX shared memory.
SHM_DIR = Path("/dev/shm")
#: Name prefix of every preview segment.
SEGMENT_PREFIX = "hcs-preview-"
#: seq (u64), height (u32), width (u32), metadata length (u32).
_HEADER = struct.Struct("<QIII")
_META_OFFSET = 64
_META_BYTES = 1024
_PIXELS_OFFSET = _META_OFFSET + _META_BYTES
#: How long a reader keeps trying while the writer rewrites the slot (seconds).
READ_TIMEOUT_S = 1.0


class SharedFrameSlot:
    """Writes the latest preview frame into a shared-memory segment it owns.

    Args:
        max_height_px: tallest frame the slot holds.
        max_width_px: widest frame the slot holds.
        name: the segment's name (a new unique ``hcs-preview-...`` name by default).
    """

    def __init__(self, max_height_px: int, max_width_px: int, *, name: str = "") -> None:
        self.name = name or f"{SEGMENT_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.capacity_px = max_height_px * max_width_px
        size = _PIXELS_OFFSET + self.capacity_px * 2
        self._shm: shared_memory.SharedMemory | None = shared_memory.SharedMemory(
            name=self.name, create=True, size=size
        )
        self._seq = 0
        self.written = 0
        self.skipped = 0

    def __call__(self, frame: PreviewFrame) -> None:
        """Write ``frame`` into the slot (a frame too large for the slot is skipped)."""
        shm = self._shm
        pixels = frame.pixels
        if shm is None or pixels.size > self.capacity_px or pixels.ndim != 2:
            self.skipped += 1
            return
        meta = json.dumps(frame.meta.as_dict()).encode()[:_META_BYTES]
        buf = shm.buf
        assert buf is not None  # an open segment has its buffer
        height, width = pixels.shape
        self._seq += 1  # odd: being written
        _HEADER.pack_into(buf, 0, self._seq, height, width, len(meta))
        buf[_META_OFFSET : _META_OFFSET + len(meta)] = meta
        target = np.ndarray((height, width), np.uint16, buf, _PIXELS_OFFSET)
        target[...] = pixels
        del target
        self._seq += 1  # even: whole
        _HEADER.pack_into(buf, 0, self._seq, height, width, len(meta))
        self.written += 1

    def close(self) -> None:
        """Unmap and unlink the segment (safe to call twice)."""
        shm, self._shm = self._shm, None
        if shm is not None:
            shm.close()
            shm.unlink()


class SharedFrameReader:
    """Reads the latest frame of a :class:`SharedFrameSlot`, from any process.

    Args:
        name: the segment's name (``SharedFrameSlot.name``).

    Raises:
        FileNotFoundError: naming the segment, when it does not exist (closed, or never
            made).
    """

    def __init__(self, name: str) -> None:
        path = SHM_DIR / name
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise FileNotFoundError(f"no preview segment {name!r} in {SHM_DIR}") from None
        try:
            self._map: mmap.mmap | None = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        self.name = name
        self.last_seq = 0

    def seq(self) -> int:
        """The slot's sequence number now (it grows by 2 with every frame written)."""
        view = self._map
        if view is None:
            raise ValueError(f"the reader of {self.name!r} is closed")
        return int(_HEADER.unpack_from(view, 0)[0])

    def read(self) -> tuple[np.ndarray, FrameMeta] | None:
        """A copy of the latest frame and its metadata, or None if none was written yet.

        Raises:
            TimeoutError: the writer kept rewriting the slot for ``READ_TIMEOUT_S``.
        """
        view = self._map
        if view is None:
            raise ValueError(f"the reader of {self.name!r} is closed")
        deadline = time.monotonic() + READ_TIMEOUT_S
        while time.monotonic() < deadline:
            seq, height, width, meta_len = _HEADER.unpack_from(view, 0)
            if seq == 0:
                return None
            if seq % 2:  # being written: let the writer finish
                os.sched_yield()
                continue
            meta = bytes(view[_META_OFFSET : _META_OFFSET + meta_len])
            pixels = np.frombuffer(view, np.uint16, height * width, _PIXELS_OFFSET)
            copy = pixels.reshape(height, width).copy()
            del pixels
            if _HEADER.unpack_from(view, 0)[0] == seq:
                self.last_seq = seq
                return copy, FrameMeta(**json.loads(meta))
        raise TimeoutError(f"the preview slot {self.name!r} was rewritten during every read")

    def close(self) -> None:
        """Unmap the segment (it stays for other readers until its writer closes)."""
        view, self._map = self._map, None
        if view is not None:
            view.close()


def preview_segments() -> list[str]:
    """Names of every preview segment in shared memory (of any process), oldest first."""
    found = [p for p in SHM_DIR.glob(f"{SEGMENT_PREFIX}*") if p.is_file()]
    return [p.name for p in sorted(found, key=lambda p: p.stat().st_mtime)]


def leftover_segments() -> list[str]:
    """Names of preview segments of this process still in shared memory."""
    prefix = f"{SEGMENT_PREFIX}{os.getpid()}-"
    return sorted(p.name for p in SHM_DIR.glob(f"{prefix}*"))
