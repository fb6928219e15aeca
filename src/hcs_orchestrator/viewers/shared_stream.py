"""Following the preview stream in shared memory: the newest frame, only when it is new.

A viewer in another process (napari, a script) opens the segment that ``hcs console
--shared-memory`` names and polls it at its own pace. :class:`SharedStream` hands it
each new frame once, with its metadata, and nothing while the camera has written
nothing new; frames written between two polls are skipped (the viewer never holds the
camera up). No GUI here: :mod:`.napari_viewer` puts the frames on screen.
"""

from __future__ import annotations

import numpy as np

from hcs_devices.camera.preview import FrameMeta
from hcs_devices.camera.shared_frame import SharedFrameReader, preview_segments


def newest_segment() -> str:
    """The newest preview segment in shared memory.

    Raises:
        FileNotFoundError: there is none (start ``hcs console --shared-memory``).
    """
    segments = preview_segments()
    if not segments:
        raise FileNotFoundError(
            "no preview segment in shared memory: start hcs console --shared-memory"
        )
    return segments[-1]


def frame_title(meta: FrameMeta) -> str:
    """One line about a frame: number, mode, channel, exposure and stage position."""
    return (
        f"#{meta.seq} {meta.mode} {meta.channel} {meta.exposure_ms:g} ms at "
        f"x {meta.x_um:.1f}, y {meta.y_um:.1f}, z {meta.z_um:.2f} um"
    )


class SharedStream:
    """The newest frames of a preview segment, each handed out once.

    Args:
        segment: the segment's name (:func:`newest_segment` if empty).

    Attributes:
        received: frames handed out.
        skipped: frames the camera wrote between two polls, never seen here.

    Raises:
        FileNotFoundError: naming the segment, when it does not exist.
    """

    def __init__(self, segment: str = "") -> None:
        self.reader = SharedFrameReader(segment or newest_segment())
        self._seq = 0
        self.received = 0
        self.skipped = 0

    @property
    def segment(self) -> str:
        """The segment followed."""
        return self.reader.name

    def poll(self) -> tuple[np.ndarray, FrameMeta] | None:
        """The newest frame and its metadata if one came since the last poll, else None."""
        if self.reader.seq() in (0, self._seq):
            return None
        got = self.reader.read()
        if got is None or self.reader.last_seq == self._seq:
            return None
        if self._seq:
            self.skipped += max(0, (self.reader.last_seq - self._seq) // 2 - 1)
        self._seq = self.reader.last_seq
        self.received += 1
        return got

    def close(self) -> None:
        """Unmap the segment (its writer keeps it)."""
        self.reader.close()

    def __enter__(self) -> SharedStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
