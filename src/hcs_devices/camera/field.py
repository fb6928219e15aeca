"""A field of view as the camera takes it: its frames, and every image's row.

A plan prepares the camera with a :class:`FieldSequence`, the typed description of one
field of view's z x channel stack (as ophyd-async flyers are prepared with a
trajectory). The camera then takes the field's frames, and as it sets each frame up it
records that image's row of metadata in its :class:`FrameRows`, keyed by the image's
index in the run. Images and rows are collected together, and only for images that
reached disk: a frame and its row can never be taken, lost or repeated apart.

A field's ``key`` is its stable identity in the run. Preparing the camera again for the
field it is already taking (a RunEngine replaying the field's messages after an
immediate pause) keeps the frames already on disk and goes on with the missing ones:
replayed messages take no frame twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from event_model import DataKey
from event_model.documents.event_page import PartialEventPage

from hcs_devices.sequencer import SequencedFrame
from hcs_schema import FRAME_DEFAULTS, FRAME_FIELDS, FRAME_KEY_PREFIX, frame_key

_NUMPY = {"string": "|S1", "integer": "<i8", "number": "<f8"}


@dataclass(frozen=True)
class FrameRecipe:
    """One frame of a field: how the hardware is set, and the image's row.

    Attributes:
        settings: focus, light source, intensity, filter and exposure of the frame.
        row: every field of the image's row but ``z_um``, which is recorded as the
            focus reached it (measured where the hardware sequences, else ``settings``).
    """

    settings: SequencedFrame
    row: Mapping[str, Any]


@dataclass(frozen=True)
class FieldSequence:
    """The frames of one field of view, in acquisition order.

    Attributes:
        key: the field's stable identity in the run (e.g. ``"t0/B3/2"``).
        frames: every frame, in order.
        hardware_timed: one hardware-sequenced burst (prepare, kickoff, complete);
            otherwise one software trigger per frame, the plan setting each frame up.
        following: the frames of the field of view taken next, where the plan knows
            them already. Not part of this field: a hint, so that a camera that can
            make frames ahead (a simulated one) goes on with them while this field is
            taken.
    """

    key: str
    frames: tuple[FrameRecipe, ...]
    hardware_timed: bool = False
    following: tuple[FrameRecipe, ...] = ()

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError(f"field {self.key!r}: a field sequence needs at least one frame")


@dataclass(eq=False)  # hashed by identity, as the RunEngine keeps collectables in sets
class FrameRows:
    """Every image's row, collected as EventPages up to the images announced so far.

    Args:
        announced: how many of the run's images the camera has announced (collected).
        name: prefix of the data keys (``frame-well``, ``frame-channel``, ...).
    """

    announced: Callable[[], int]
    name: str = FRAME_KEY_PREFIX
    parent: None = None
    #: Rows collected so far (the first ``collected`` images of the run).
    collected: int = 0
    _rows: dict[int, tuple[dict[str, Any], float]] = field(default_factory=dict, repr=False)

    def record(self, index: int, row: Mapping[str, Any]) -> None:
        """Record the row of image ``index`` (replacing a row of a frame never written).

        Fields of :data:`~hcs_schema.FRAME_DEFAULTS` left out get their default value.

        Raises:
            KeyError: when the row lacks a field or has one the schema does not know.
            ValueError: when image ``index`` was collected already.
        """
        row = {**{k: v for k, v in FRAME_DEFAULTS.items() if k not in row}, **row}
        if row.keys() != FRAME_FIELDS.keys():
            unknown = sorted(set(row) - set(FRAME_FIELDS))
            missing = [f for f in FRAME_FIELDS if f not in row]
            raise KeyError(
                f"a frame row needs exactly the fields {list(FRAME_FIELDS)}; "
                f"unknown {unknown}, missing {missing}"
            )
        if index < self.collected:
            raise ValueError(f"image {index}'s row was collected already")
        self._rows[index] = (dict(row), time.time())

    def peek(self, index: int) -> Mapping[str, Any] | None:
        """The row recorded for image ``index`` and not collected yet, if any."""
        entry = self._rows.get(index)
        return entry[0] if entry is not None else None

    def clear(self) -> None:
        """Forget every row (a new run)."""
        self._rows.clear()
        self.collected = 0

    @property
    def pending(self) -> int:
        """Rows of announced images not collected yet."""
        return max(self.announced() - self.collected, 0)

    def describe_collect(self) -> dict[str, DataKey]:
        """Data keys of every field."""
        keys: dict[str, DataKey] = {}
        for name, (dtype, units) in FRAME_FIELDS.items():
            key = DataKey(source="hcs:frame", dtype=dtype, shape=[])  # type: ignore[typeddict-item]
            if dtype != "string":
                key["dtype_numpy"] = _NUMPY[dtype]
            if units:
                key["units"] = units
            keys[frame_key(name, self.name)] = key
        return keys

    def collect_pages(self) -> Iterator[PartialEventPage]:
        """The rows of the images announced and not collected yet, as one page.

        Raises:
            RuntimeError: when an announced image has no row (a bug, never data).
        """
        stop = self.announced()
        if stop <= self.collected:
            return
        indices = range(self.collected, stop)
        missing = [i for i in indices if i not in self._rows]
        if missing:
            raise RuntimeError(f"images {missing} were announced without their rows")
        rows = [self._rows.pop(i) for i in indices]
        self.collected = stop
        times = [t for _, t in rows]
        keys = {f: frame_key(f, self.name) for f in FRAME_FIELDS}
        yield PartialEventPage(
            data={keys[f]: [row[f] for row, _ in rows] for f in FRAME_FIELDS},
            timestamps={keys[f]: times for f in FRAME_FIELDS},
            time=times,
        )

    def read_configuration(self) -> dict[str, Any]:
        """No configuration."""
        return {}

    def describe_configuration(self) -> dict[str, DataKey]:
        """No configuration."""
        return {}
