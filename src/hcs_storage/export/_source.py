"""What the exporters read: a run's description, layout and frames, field by field."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from hcs_storage.query import (
    READ_BATCH_BYTES,
    RunInfo,
    RunLayout,
    frame_table,
    has_images,
    image_stack,
    join_gap_frames,
    read_frames,
    run_info,
    run_layout,
)

#: Told ``(images written so far, images in the export)`` after each field of view.
ExportProgress = Callable[[int, int], None]

#: Every ``SAMPLE_STEP``-th pixel feeds the display window (contrast limits).
SAMPLE_STEP = 8


class ExportError(ValueError):
    """A run cannot be exported as asked (nothing to export, existing output...)."""


class ExportExistsError(ExportError):
    """The output path exists and replacing it was not asked for.

    Attributes:
        path: the output path.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} exists (export with overwrite=True to replace it)")
        self.path = path


@dataclass(frozen=True)
class FieldStack:
    """One field of view's images.

    Attributes:
        index: the field's position in the run's layout.
        well: the well name.
        fov: the field of view within the well.
        data: the images, ``(t, c, z, y, x)``; zeros where no frame was taken.
        taken: which ``(t, c, z)`` frames were taken.
    """

    index: int
    well: str
    fov: int
    data: np.ndarray
    taken: np.ndarray


@dataclass(frozen=True)
class RunSource:
    """A run ready to export: its description, its frame layout and its images.

    Attributes:
        run: the run (a Tiled client node).
        info: what the start document says.
        layout: where every frame sits.
        table: the per-frame metadata (:func:`hcs_storage.query.frame_table`).
    """

    run: Any
    info: RunInfo
    layout: RunLayout
    table: dict[str, np.ndarray]

    @classmethod
    def of(cls, run: Any) -> RunSource:
        """Read a run's description and frame table.

        Raises:
            ExportError: the run has no images.
        """
        info = run_info(run)
        if not has_images(run):
            raise ExportError(f"run {info.uid[:8]} has no images")
        table = frame_table(run)
        if len(table.get("well", ())) == 0:
            raise ExportError(f"run {info.uid[:8]} has no images")
        return cls(
            run=run,
            info=info,
            layout=run_layout(table, info.channels, on_plate=info.on_plate),
            table=table,
        )

    @cached_property
    def images(self) -> Any:
        """The run's image stack, ``(N, 1, H, W)``."""
        return image_stack(self.run)

    @cached_property
    def frame_shape(self) -> tuple[int, int]:
        """(height, width) of every frame."""
        height, width = self.images.shape[-2:]
        return int(height), int(width)

    @cached_property
    def dtype(self) -> np.dtype[Any]:
        """The frames' data type."""
        return np.dtype(self.images.dtype)

    @property
    def image_count(self) -> int:
        """How many recorded images the export holds."""
        return int((self.layout.frames >= 0).sum())

    def z_step_um(self) -> float:
        """The z step (1 um with a single plane)."""
        return self.layout.z_step_um() or 1.0

    def fields(self, max_bytes: int = READ_BATCH_BYTES) -> Iterator[FieldStack]:
        """Every field of view's images, in the order the run took them.

        Fields are read in batches of about ``max_bytes`` (their frames are mostly
        consecutive, so a batch is a few requests to the catalog, not one a field),
        and only one batch is in memory at a time.
        """
        images = self.images
        height, width = self.frame_shape
        _, n_t, n_c, n_z = self.layout.shape
        field_bytes = n_t * n_c * n_z * height * width * self.dtype.itemsize
        for batch in _batches(self.acquisition_order(), field_bytes, max_bytes):
            where: dict[int, tuple[int, tuple[int, ...]]] = {}
            data = {p: np.zeros((n_t, n_c, n_z, height, width), dtype=self.dtype) for p in batch}
            taken = {p: self.layout.frames[p] >= 0 for p in batch}
            for p in batch:
                frames = self.layout.frames[p]
                for tcz in zip(*np.nonzero(taken[p]), strict=True):
                    where[int(frames[tcz])] = (p, tuple(int(i) for i in tcz))
            for row, frame in read_frames(
                images, sorted(where), max_bytes, gap_frames=join_gap_frames(images)
            ):
                p, tcz = where[row]
                data[p][tcz] = frame
            for p in batch:
                well, fov = self.layout.fields[p]
                yield FieldStack(index=p, well=well, fov=fov, data=data.pop(p), taken=taken[p])

    def acquisition_order(self) -> list[int]:
        """The fields' positions in the layout, ordered by the first frame of each."""
        frames = self.layout.frames.reshape(len(self.layout.fields), -1)
        first = np.where(frames >= 0, frames, np.iinfo(np.int64).max).min(axis=1)
        return [int(p) for p in np.argsort(first, kind="stable")]


def _batches(order: list[int], field_bytes: int, max_bytes: int) -> Iterator[list[int]]:
    """``order`` cut into runs of fields holding at most ``max_bytes`` (one field at least)."""
    per_batch = max(1, max_bytes // max(1, field_bytes))
    for start in range(0, len(order), per_batch):
        yield order[start : start + per_batch]


def display_window(samples: list[np.ndarray], dtype: np.dtype[Any]) -> tuple[float, float]:
    """Contrast limits of a channel: the 0.1 and 99.9 percentiles of its pixels."""
    if not samples:
        return 0.0, float(np.iinfo(dtype).max) if dtype.kind in "iu" else 1.0
    pixels = np.concatenate([s.reshape(-1) for s in samples])
    lo, hi = np.percentile(pixels, [0.1, 99.9])
    return float(lo), float(max(hi, lo + 1))


def prepare_output(out: Path, *, overwrite: bool, marker: str) -> None:
    """Make room for an export at ``out``.

    Args:
        out: the output path.
        overwrite: replace an earlier export there.
        marker: a file that only an earlier export of this kind has (e.g.
            ``zarr.json``); anything else at ``out`` is never deleted.

    Raises:
        ExportExistsError: ``out`` exists and ``overwrite`` is False.
        ExportError: ``out`` exists and cannot safely be replaced.
    """
    if not out.exists():
        return
    if not overwrite:
        raise ExportExistsError(out)
    if out.is_dir() and (out / marker).exists():
        shutil.rmtree(out)
        return
    raise ExportError(f"{out} exists and is not an earlier export: not replacing it")
