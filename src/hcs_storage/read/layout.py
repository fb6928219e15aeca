"""Where every frame of a run sits in a field x time x channel x z grid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hcs_storage.read.wells import well_sort_key


@dataclass(frozen=True)
class RunLayout:
    """Where every frame of a run sits in a field x time x channel x z grid.

    Attributes:
        fields: ``(well, fov)`` of each field of view, row by row, then by fov.
        time_indices: the time points.
        channels: the channel names, in acquisition order.
        z_indices: the z planes.
        frames: frame index of each (field, t, c, z), -1 where no frame was taken.
        x_um: stage x of each field's centre.
        y_um: stage y of each field's centre.
        z_um: stage z of each frame (NaN where none was taken).
    """

    fields: tuple[tuple[str, int], ...]
    time_indices: tuple[int, ...]
    channels: tuple[str, ...]
    z_indices: tuple[int, ...]
    frames: np.ndarray
    x_um: np.ndarray
    y_um: np.ndarray
    z_um: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(fields, time points, channels, z planes)."""
        p, t, c, z = self.frames.shape
        return p, t, c, z

    @property
    def wells(self) -> tuple[str, ...]:
        """The wells, in field order."""
        return tuple(dict.fromkeys(w for w, _ in self.fields))

    def z_step_um(self) -> float | None:
        """The median distance between neighbouring z planes (None with one plane)."""
        if len(self.z_indices) < 2:
            return None
        steps = np.diff(self.z_um, axis=-1) / np.diff(np.asarray(self.z_indices, float))
        steps = steps[np.isfinite(steps)]
        return float(np.median(np.abs(steps))) if steps.size else None

    def subset(
        self,
        *,
        wells: Sequence[str] | None = None,
        channels: Sequence[str] | None = None,
        time_indices: Sequence[int] | None = None,
    ) -> RunLayout:
        """The same layout restricted to some wells, channels or time points.

        Raises:
            KeyError: naming a well, channel or time point the run does not have.
        """
        p = _positions([w for w, _ in self.fields], wells, "well", many=True)
        t = _positions(list(self.time_indices), time_indices, "time point")
        c = _positions(list(self.channels), channels, "channel")
        grid = np.ix_(p, t, c, np.arange(len(self.z_indices)))
        return RunLayout(
            fields=tuple(self.fields[i] for i in p),
            time_indices=tuple(self.time_indices[i] for i in t),
            channels=tuple(self.channels[i] for i in c),
            z_indices=self.z_indices,
            frames=self.frames[grid],
            x_um=self.x_um[p],
            y_um=self.y_um[p],
            z_um=self.z_um[grid],
        )


def _positions(
    have: list[Any], wanted: Sequence[Any] | None, what: str, many: bool = False
) -> np.ndarray:
    if wanted is None:
        return np.arange(len(have))
    missing = [w for w in wanted if w not in have]
    if missing:
        raise KeyError(f"the run has no {what} {missing[0]!r}; it has {sorted(set(have))}")
    if many:
        keep = set(wanted)
        return np.array([i for i, h in enumerate(have) if h in keep], dtype=int)
    return np.array([have.index(w) for w in wanted], dtype=int)


def run_layout(
    table: dict[str, np.ndarray], channels: Sequence[str] = (), *, on_plate: bool = True
) -> RunLayout:
    """Arrange a run's frames in a field x time x channel x z grid.

    A frame recorded twice (a step repeated after a pause) counts once: the later one.

    Args:
        table: the run's :func:`frame_table`.
        channels: the channel order (the start document's ``channels``); channels
            only the frames name come after these.
        on_plate: fields are in a plate's wells, in plate order (B2 before B10); else
            they are at named positions, kept in the order they were acquired.
    """
    wells = table["well"].astype(str)
    fovs = table["fov"].astype(int)
    names = table["channel"].astype(str)
    ts = table["time_index"].astype(int)
    zs = table["z_index"].astype(int)
    fields = list(dict.fromkeys(zip(wells.tolist(), fovs.tolist(), strict=True)))
    if on_plate:
        fields.sort(key=lambda f: (well_sort_key(f[0]), f[1]))
    order = list(dict.fromkeys([*channels, *names.tolist()]))
    order = [c for c in order if c in set(names.tolist())]
    t_values = sorted(set(ts.tolist()))
    z_values = sorted(set(zs.tolist()))
    p_of = {f: i for i, f in enumerate(fields)}
    c_of = {c: i for i, c in enumerate(order)}
    t_of = {t: i for i, t in enumerate(t_values)}
    z_of = {z: i for i, z in enumerate(z_values)}
    shape = (len(fields), len(t_values), len(order), len(z_values))
    frames = np.full(shape, -1, dtype=np.int64)
    z_um = np.full(shape, np.nan)
    x_um = np.full(len(fields), np.nan)
    y_um = np.full(len(fields), np.nan)
    for i in range(len(wells)):
        p = p_of[(str(wells[i]), int(fovs[i]))]
        where = (p, t_of[int(ts[i])], c_of[str(names[i])], z_of[int(zs[i])])
        frames[where] = i
        z_um[where] = float(table["z_um"][i])
        if np.isnan(x_um[p]):
            x_um[p], y_um[p] = float(table["x_um"][i]), float(table["y_um"][i])
    return RunLayout(
        fields=tuple(fields),
        time_indices=tuple(t_values),
        channels=tuple(order),
        z_indices=tuple(z_values),
        frames=frames,
        x_um=x_um,
        y_um=y_um,
        z_um=z_um,
    )
