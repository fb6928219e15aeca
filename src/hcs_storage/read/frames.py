"""The frames of a run: its image stack, its per-image rows, selecting and reading frames.

A run's images are one array node, ``(N, 1, H, W)``; its ``frames`` stream holds one
row per image (well, field of view, channel, z plane, time point, stage position).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from hcs_schema import CAMERA as IMAGE_KEY
from hcs_schema import FRAME_KEY_PREFIX, FRAMES_STREAM, IMAGES_STREAM

#: Prefix of the frame-row data keys (``frame-well``...).
FRAME_PREFIX = f"{FRAME_KEY_PREFIX}-"
#: Largest read of consecutive frames in one request (bytes).
READ_BATCH_BYTES = 64 * 2**20


def image_stack(run: Any) -> Any:
    """A run's images as a lazily loaded array node, shape ``(N, 1, H, W)``."""
    return run[IMAGES_STREAM, IMAGE_KEY]  # one request (``run[stream][key]`` makes three)


def has_images(run: Any) -> bool:
    """Whether a run recorded any image stream at all."""
    return IMAGES_STREAM in run and FRAMES_STREAM in run


def frame_table(run: Any, columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """The per-image metadata columns of a run (``well``, ``z_um``...).

    Text columns are numpy string arrays, numbers numeric arrays; entry ``i`` describes
    image ``i`` of the run's ``primary`` stream.

    Args:
        run: a run from the catalog.
        columns: only these columns (e.g. ``["well", "channel"]``); all by default.
    """
    return stream_columns(run, FRAMES_STREAM, FRAME_PREFIX, columns)


def stream_columns(
    run: Any, stream_name: str, prefix: str = "", columns: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """The columns of one event stream of a run whose keys start with ``prefix``.

    Keys are returned without the prefix; text columns are numpy string arrays. Only
    the columns asked for are read (the catalog sends no others).

    Raises:
        KeyError: the run has no such stream.
    """

    def wanted(key: str) -> bool:
        return key.startswith(prefix) and (columns is None or key.removeprefix(prefix) in columns)

    internal = _event_table(run, stream_name)
    if internal is not None:
        table = internal.read(columns=[key for key in internal.columns if wanted(key)])
        return {key.removeprefix(prefix): _column(table[key].to_numpy()) for key in table.columns}
    stream = run[stream_name]
    return {
        key.removeprefix(prefix): np.asarray(stream[key].read()) for key in stream if wanted(key)
    }


def _event_table(run: Any, stream_name: str) -> Any | None:
    """The node of a stream's event table (one request reads it all), if it has one."""
    try:
        internal = run[stream_name, "internal"]  # one request, not one a path segment
    except (KeyError, TypeError):
        return None
    return internal if hasattr(internal, "columns") else None


def _column(values: np.ndarray) -> np.ndarray:
    return values.astype(str) if values.dtype == object else values


def select_frames(
    table: dict[str, np.ndarray],
    *,
    well: str | None = None,
    fov: int | None = None,
    channel: str | None = None,
    z_index: int | None = None,
    time_index: int | None = None,
) -> np.ndarray:
    """The indices (in the run's image stack) of the frames that match every criterion.

    Args:
        table: the run's :func:`frame_table`.
        well: a well name.
        fov: a field of view within the well(s).
        channel: a channel name.
        z_index: a z plane.
        time_index: a time point.

    Returns:
        Frame indices in acquisition order (index ``images[i, 0]``).
    """
    keep = np.ones(len(table["well"]), dtype=bool)
    for key, value in (("well", well), ("channel", channel)):
        if value is not None:
            keep &= table[key].astype(str) == value
    for key, value in (("fov", fov), ("z_index", z_index), ("time_index", time_index)):
        if value is not None:
            keep &= table[key] == value
    return np.flatnonzero(keep)


def read_frames(
    images: Any,
    indices: Sequence[int] | np.ndarray,
    max_bytes: int = READ_BATCH_BYTES,
    *,
    gap_frames: int = 0,
    step: int = 1,
) -> Iterator[tuple[int, np.ndarray]]:
    """Read frames of an image stack, neighbouring ones in one request each.

    A request to the catalog costs about as much as reading tens of small frames, so
    two runs of wanted frames separated by at most ``gap_frames`` others are read in
    one request (the others are dropped); :func:`join_gap_frames` gives a gap worth
    joining for a stack.

    Args:
        images: the run's images (:func:`image_stack`, shape ``(N, 1, H, W)``).
        indices: the frames to read.
        max_bytes: the largest request.
        gap_frames: the most frames not asked for that a request may also read.
        step: read every ``step``-th pixel in y and x only.

    Yields:
        ``(index, frame)`` in ascending index order, one frame at a time.
    """
    per_batch = max(1, max_bytes // _frame_bytes(images))
    wanted = sorted({int(i) for i in indices})
    pos = 0
    while pos < len(wanted):
        end = pos + 1
        while (
            end < len(wanted)
            and wanted[end] - wanted[end - 1] <= 1 + gap_frames
            and wanted[end] - wanted[pos] < per_batch
        ):
            end += 1
        first, last = wanted[pos], wanted[end - 1]
        block = np.asarray(images[first : last + 1, 0, ::step, ::step])
        for index in wanted[pos:end]:
            yield index, block[index - first]
        pos = end


#: Frames not asked for that one read may hold to save a request (see ``join_gap_frames``).
JOIN_GAP_FRAMES = 16
#: ... and their bytes, at most.
JOIN_GAP_BYTES = 2**20


def join_gap_frames(images: Any) -> int:
    """How many unwanted frames a read of ``images`` may skip over to save a request.

    Up to ``JOIN_GAP_FRAMES`` small frames, never more than ``JOIN_GAP_BYTES`` (so
    none at all for large camera frames, whose reads cost more than a request).
    """
    return min(JOIN_GAP_FRAMES, JOIN_GAP_BYTES // _frame_bytes(images))


def _frame_bytes(images: Any) -> int:
    height, width = images.shape[-2:]
    return max(1, int(height) * int(width) * np.dtype(images.dtype).itemsize)
