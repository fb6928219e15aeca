"""The frame stream of an Aravis camera: a reader thread hands frames to the event loop.

Aravis receives a frame's packets in its own stream thread and queues the buffer. The
reader thread here pops each buffer, copies a complete frame into a numpy array (16-bit
whatever the pixel format), gives the buffer back to Aravis, and hands the frame to the
asyncio loop with ``call_soon_threadsafe``: the loop never blocks on the camera, and no
Aravis call is made from the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: How long the reader waits for a buffer before checking whether it should stop.
POLL_US = 50_000


@dataclass(frozen=True)
class Received:
    """A frame as the camera sent it.

    Attributes:
        frame_id: the camera's 16-bit frame counter (GigE Vision block id; it wraps).
        pixels: the image (uint16), or None when the frame is incomplete.
        status: Aravis's buffer status name (``SUCCESS`` for a complete frame).
        timestamp_ns: the camera's timestamp of the frame.
    """

    frame_id: int
    pixels: np.ndarray | None
    status: str
    timestamp_ns: int


def pixel_format_bits(pixel_format: int) -> int:
    """Bits per pixel of a GenICam (PFNC) pixel format: they are coded in bits 16-23."""
    return (pixel_format >> 16) & 0xFF


def to_array(data: bytes, width: int, height: int, bytes_per_pixel: int) -> np.ndarray:
    """A frame's bytes as a (height, width) uint16 image (8-bit pixels widened)."""
    dtype = np.uint8 if bytes_per_pixel == 1 else np.dtype("<u2")
    pixels = np.frombuffer(data, dtype=dtype, count=width * height).reshape(height, width)
    return pixels.astype(np.uint16) if bytes_per_pixel == 1 else pixels


class StreamReader:
    """Pops an Aravis stream's buffers in a thread and delivers frames to a loop.

    Args:
        aravis: the Aravis module.
        stream: the camera's ``Aravis.Stream`` (buffers already pushed).
        deliver: called on ``loop`` with each :class:`Received`.
        loop: the asyncio loop frames are handed to.
        name: thread name.
    """

    def __init__(
        self,
        aravis: Any,
        stream: Any,
        deliver: Callable[[Received], None],
        loop: asyncio.AbstractEventLoop,
        *,
        name: str = "genicam-stream",
    ) -> None:
        self._aravis = aravis
        self.stream = stream
        self._deliver = deliver
        self._loop = loop
        self._stop = threading.Event()
        self.frames_received = 0
        self.frames_incomplete = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        success = self._aravis.BufferStatus.SUCCESS
        while not self._stop.is_set():
            buffer = self.stream.timeout_pop_buffer(POLL_US)
            if buffer is None:
                continue
            try:
                status = buffer.get_status()
                pixels = None
                if status == success:
                    bits = pixel_format_bits(buffer.get_image_pixel_format())
                    pixels = to_array(
                        buffer.get_data(),
                        buffer.get_image_width(),
                        buffer.get_image_height(),
                        (bits + 7) // 8,
                    )
                    self.frames_received += 1
                else:
                    self.frames_incomplete += 1
                item = Received(
                    buffer.get_frame_id(),
                    pixels,
                    status.value_nick.upper().replace("-", "_"),
                    buffer.get_timestamp(),
                )
            finally:
                self.stream.push_buffer(buffer)
            try:
                self._loop.call_soon_threadsafe(self._deliver, item)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                return

    def close(self) -> None:
        """Stop the thread (within one poll period)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
