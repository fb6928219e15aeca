"""Reading runs back: finding runs, selecting frames, images as arrays with coordinates.

Runs are found by what their start document says (:func:`find_runs`: experiment id,
plate format, well, channel, plan, start time), frames within a run by what each
image's row in the ``frames`` stream says (:func:`select_frames`: well, field of view,
channel, z plane, time point). A run's images are a lazily loaded
``xarray.DataArray`` (:func:`run_images`, dimensions field x t x c x z x y x x) or, one
well at a time, :func:`well_fields`.

Everything here works the same on an embedded catalog (``open_catalog``) and on a
Tiled server's client (``tiled.client.from_uri``).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hcs_schema import CAMERA as IMAGE_KEY
from hcs_schema import FRAME_KEY_PREFIX, FRAMES_STREAM, IMAGES_STREAM

#: Prefix of the frame-row data keys (``frame-well``...).
FRAME_PREFIX = f"{FRAME_KEY_PREFIX}-"
#: Largest read of consecutive frames in one request (bytes).
READ_BATCH_BYTES = 64 * 2**20

_WELL = re.compile(r"^([A-Za-z]+)(\d+)$")


@dataclass(frozen=True)
class FieldImage:
    """One image of a field of view, with where and how it was taken."""

    well: str
    fov: int
    channel: str
    z_index: int
    time_index: int
    x_um: float
    y_um: float
    z_um: float
    image: np.ndarray


# --- finding runs ------------------------------------------------------------------


def find_runs(
    catalog: Any,
    *,
    experiment_id: str | None = None,
    plate_format: str | None = None,
    well: str | None = None,
    channel: str | None = None,
    plan_name: str | None = None,
    exit_status: str | None = None,
    since: float | datetime.datetime | None = None,
    until: float | datetime.datetime | None = None,
) -> Any:
    """The runs of a catalog that match every criterion given (all runs if none).

    The criteria become Tiled queries answered by the catalog's database (SQLite or
    PostgreSQL), so this is as fast on a catalog of thousands of runs as on one.

    Args:
        catalog: a Tiled client on a catalog of Bluesky runs.
        experiment_id: the start document's ``experiment_id``.
        plate_format: the plate format, e.g. ``"96"``.
        well: a well the run imaged, e.g. ``"B3"``.
        channel: a channel the run used, e.g. ``"DAPI"``.
        plan_name: the plan, e.g. ``"acquire_plate"``.
        exit_status: how the run ended: ``"success"``, ``"abort"`` or ``"fail"``.
        since: runs started at or after this time (epoch seconds or a datetime).
        until: runs started before this time.

    Returns:
        A Tiled container of the matching runs (iterate it, index it by uid, or
        narrow it further with ``.search``).
    """
    from tiled.queries import Comparison, Contains, Key

    queries: list[Any] = []
    for key, value in (
        ("start.experiment_id", experiment_id),
        ("start.plate_format", plate_format),
        ("start.plan_name", plan_name),
        ("stop.exit_status", exit_status),
    ):
        if value is not None:
            queries.append(Key(key) == value)
    # Lists are matched as JSON text: the quotes make "B1" not match "B10".
    for key, value in (("start.wells", well), ("start.channels", channel)):
        if value is not None:
            queries.append(Contains(key, _json_string(value)))
    if since is not None:
        queries.append(Comparison("ge", "start.time", _epoch(since)))
    if until is not None:
        queries.append(Comparison("lt", "start.time", _epoch(until)))
    found = catalog
    for query in queries:
        found = found.search(query)
    return found


def lookup_run(catalog: Any, uid: str) -> Any:
    """The run whose uid is ``uid`` or starts with it (as ``hcs runs`` shows it).

    Raises:
        KeyError: no run, or more than one, matches.
    """
    from tiled.queries import Like

    if not re.fullmatch(r"[0-9a-fA-F-]+", uid):
        raise KeyError(f"{uid!r} is not a run uid (hexadecimal digits and dashes)")
    matches = list(catalog.search(Like("start.uid", f"{uid}%")).keys()[:2])
    if not matches:
        raise KeyError(f"no run with a uid starting with {uid!r}")
    if len(matches) > 1:
        raise KeyError(f"more than one run has a uid starting with {uid!r}: give more of it")
    return catalog[matches[0]]


def _json_string(value: str) -> str:
    if '"' in value or "\\" in value:
        raise ValueError(f"names with quotes or backslashes cannot be searched: {value!r}")
    return f'"{value}"'


def _epoch(when: float | datetime.datetime) -> float:
    return when.timestamp() if isinstance(when, datetime.datetime) else float(when)


# --- what a run is -----------------------------------------------------------------


@dataclass(frozen=True)
class RunInfo:
    """What a run's start document says about its images.

    Attributes:
        uid: the run's uid.
        experiment_id: the experiment the run belongs to.
        plate_format: the plate format (``"96"``), or None outside plates.
        plate_rows: the plate's row names (``A`` ... ``H``), or the rows imaged.
        plate_columns: the plate's column names (``1`` ... ``12``), or those imaged.
        channels: channel names in acquisition order.
        colours: channel name -> display colour ``#RRGGBB``.
        pixel_size_um: pixel size at the sample, binning included (um).
        start_time: epoch seconds of the run's start.
        stop_time: epoch seconds of its end (None while open).
    """

    uid: str
    experiment_id: str
    plate_format: str | None
    plate_rows: tuple[str, ...]
    plate_columns: tuple[str, ...]
    channels: tuple[str, ...]
    colours: dict[str, str] = field(default_factory=dict)
    pixel_size_um: float = 1.0
    start_time: float = 0.0
    stop_time: float | None = None


def row_name(index: int) -> str:
    """A plate row's name from its 0-based index: A ... Z, AA, AB ..."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


def split_well(well: str) -> tuple[str, str]:
    """A well name's row and column names: ``"B3"`` -> ``("B", "3")``.

    Raises:
        ValueError: the name is not a row letter followed by a column number.
    """
    match = _WELL.match(well)
    if match is None:
        raise ValueError(f"{well!r} is not a well name like 'B3'")
    return match.group(1).upper(), str(int(match.group(2)))


def well_sort_key(well: str) -> tuple[int, int, str]:
    """Sort wells row by row, then by column number (B2 before B10), others last."""
    try:
        row, column = split_well(well)
    except ValueError:
        return (1 << 30, 0, well)
    index = 0
    for letter in row:
        index = index * 26 + (ord(letter) - ord("A") + 1)
    return (index, int(column), well)


def run_info(run: Any) -> RunInfo:
    """What a run's start (and stop) document says about its images."""
    start = run.metadata.get("start") or {}
    stop = run.metadata.get("stop") or {}
    microscope = start.get("microscope") or {}
    colours = {c["name"]: c.get("display_color", "#FFFFFF") for c in microscope.get("channels", [])}
    plate_format = start.get("plate_format")
    shape = (microscope.get("plate_formats") or {}).get(plate_format or "")
    if shape is None:
        positions = (start.get("sequence") or {}).get("stage_positions")
        shape = positions.get("plate") if isinstance(positions, dict) else None
    wells = [w for w in start.get("wells", []) if _WELL.match(w)]
    if shape is not None:
        rows = tuple(row_name(i) for i in range(int(shape["rows"])))
        columns = tuple(str(i + 1) for i in range(int(shape["columns"])))
    else:
        rows = tuple(sorted({split_well(w)[0] for w in wells}, key=lambda r: (len(r), r)))
        columns = tuple(sorted({split_well(w)[1] for w in wells}, key=int))
    return RunInfo(
        uid=start.get("uid", ""),
        experiment_id=start.get("experiment_id", ""),
        plate_format=plate_format,
        plate_rows=rows,
        plate_columns=columns,
        channels=tuple(start.get("channels", [])),
        colours=colours,
        pixel_size_um=float(start.get("pixel_size_um", 1.0)),
        start_time=float(start.get("time", 0.0)),
        stop_time=float(stop["time"]) if "time" in stop else None,
    )


# --- the frames of a run -----------------------------------------------------------


def image_stack(run: Any) -> Any:
    """A run's images as a lazily loaded array node, shape ``(N, 1, H, W)``."""
    return run[IMAGES_STREAM][IMAGE_KEY]


def has_images(run: Any) -> bool:
    """Whether a run recorded any image stream at all."""
    return IMAGES_STREAM in run and FRAMES_STREAM in run


def frame_table(run: Any) -> dict[str, np.ndarray]:
    """The per-image metadata columns of a run (``well``, ``z_um``...).

    Text columns are numpy string arrays, numbers numeric arrays; entry ``i`` describes
    image ``i`` of the run's ``primary`` stream.
    """
    stream = run[FRAMES_STREAM]
    internal = _event_table(stream)
    if internal is not None:
        return {
            key.removeprefix(FRAME_PREFIX): _column(internal[key].to_numpy())
            for key in internal.columns
            if key.startswith(FRAME_PREFIX)
        }
    columns = {}
    for key in stream:
        if key.startswith(FRAME_PREFIX):
            columns[key.removeprefix(FRAME_PREFIX)] = np.asarray(stream[key].read())
    return columns


def _event_table(stream: Any) -> Any | None:
    """The stream's whole event table in one request, where the stream has one."""
    base = getattr(stream, "base", None)
    if base is None:
        return None
    try:
        return base["internal"].read()
    except (KeyError, AttributeError, TypeError):
        return None


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
    images: Any, indices: Sequence[int] | np.ndarray, max_bytes: int = READ_BATCH_BYTES
) -> Iterator[tuple[int, np.ndarray]]:
    """Read frames of an image stack, consecutive ones in one request each.

    Args:
        images: the run's images (:func:`image_stack`, shape ``(N, 1, H, W)``).
        indices: the frames to read.
        max_bytes: the largest request.

    Yields:
        ``(index, frame)`` in ascending index order, one ``(H, W)`` frame at a time.
    """
    height, width = images.shape[-2:]
    per_batch = max(1, max_bytes // max(1, height * width * np.dtype(images.dtype).itemsize))
    wanted = sorted({int(i) for i in indices})
    pos = 0
    while pos < len(wanted):
        end = pos + 1
        while end < len(wanted) and wanted[end] == wanted[end - 1] + 1 and end - pos < per_batch:
            end += 1
        first, last = wanted[pos], wanted[end - 1]
        block = np.asarray(images[first : last + 1, 0])
        for k in range(end - pos):
            yield first + k, block[k]
        pos = end


# --- a run's images as a (field, t, c, z) grid ---------------------------------------


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


def run_layout(table: dict[str, np.ndarray], channels: Sequence[str] = ()) -> RunLayout:
    """Arrange a run's frames in a field x time x channel x z grid.

    A frame recorded twice (a step repeated after a pause) counts once: the later one.

    Args:
        table: the run's :func:`frame_table`.
        channels: the channel order (the start document's ``channels``); channels
            only the frames name come after these.
    """
    wells = table["well"].astype(str)
    fovs = table["fov"].astype(int)
    names = table["channel"].astype(str)
    ts = table["time_index"].astype(int)
    zs = table["z_index"].astype(int)
    fields = sorted(set(zip(wells.tolist(), fovs.tolist(), strict=True)))
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


def run_images(
    run: Any,
    *,
    wells: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
    time_indices: Sequence[int] | None = None,
    table: dict[str, np.ndarray] | None = None,
) -> Any:
    """A run's images as a lazily loaded array with coordinates.

    Nothing is read until values are needed (``.values``, ``.compute()``, plotting):
    each frame is then one read through Tiled. Frames that were never taken (an
    aborted run) read as zeros.

    Args:
        run: a run from the catalog.
        wells: only these wells.
        channels: only these channels (in this order).
        time_indices: only these time points.
        table: the run's :func:`frame_table`, if already read.

    Returns:
        An ``xarray.DataArray`` with dimensions ``(field, t, c, z, y, x)``, backed by
        dask; coordinates: ``field`` (``"B3/0"``), ``well`` and ``fov`` and the stage
        ``x_um``/``y_um`` per field, ``t``, ``c`` (channel names), ``z`` (plane index),
        ``z_um`` per frame, and ``y``/``x`` in micrometres from the image's corner.
        ``attrs`` hold the uid, pixel size and channel colours.
    """
    import dask.array as da
    import xarray as xr
    from dask.delayed import delayed

    info = run_info(run)
    layout = run_layout(table if table is not None else frame_table(run), info.channels)
    layout = layout.subset(wells=wells, channels=channels, time_indices=time_indices)
    images = image_stack(run)
    height, width = (int(n) for n in images.shape[-2:])
    dtype = np.dtype(images.dtype)

    def read_one(index: int) -> np.ndarray:
        return np.asarray(images[index, 0])

    def frame(index: int) -> Any:
        if index < 0:
            return da.zeros((height, width), dtype=dtype, chunks=(height, width))
        return da.from_delayed(
            delayed(read_one)(index, dask_key_name=f"hcs-frame-{info.uid}-{index}"),
            shape=(height, width),
            dtype=dtype,
        )

    flat = [frame(int(i)) for i in layout.frames.reshape(-1)]
    if flat:
        data = da.stack(flat).reshape((*layout.shape, height, width))
    else:
        data = da.zeros((*layout.shape, height, width), dtype=dtype)
    px = info.pixel_size_um
    return xr.DataArray(
        data,
        dims=("field", "t", "c", "z", "y", "x"),
        coords={
            "field": [f"{w}/{f}" for w, f in layout.fields],
            "well": ("field", [w for w, _ in layout.fields]),
            "fov": ("field", [f for _, f in layout.fields]),
            "x_um": ("field", layout.x_um),
            "y_um": ("field", layout.y_um),
            "t": list(layout.time_indices),
            "c": list(layout.channels),
            "z": list(layout.z_indices),
            "z_um": (("field", "t", "c", "z"), layout.z_um),
            "y": np.arange(height) * px,
            "x": np.arange(width) * px,
        },
        attrs={
            "uid": info.uid,
            "experiment_id": info.experiment_id,
            "pixel_size_um": px,
            "colours": [info.colours.get(c, "#FFFFFF") for c in layout.channels],
        },
        name="camera",
    )


def well_fields(
    run: Any,
    well: str,
    channel: str,
    *,
    z_index: int | None = None,
    time_index: int = 0,
    step: int = 1,
    table: dict[str, np.ndarray] | None = None,
) -> list[FieldImage]:
    """Every field of view of one well in one channel, with stage coordinates.

    Args:
        run: a run from the catalog (``catalog[uid]``).
        well: the well name, e.g. ``"B3"``.
        channel: the channel name, e.g. ``"DAPI"``.
        z_index: one z plane; by default every plane.
        time_index: the time point.
        step: read every ``step``-th pixel only (a cheap preview, served by Tiled).
        table: the run's :func:`frame_table`, if already read.

    Returns:
        The images in field-of-view order (then z). Frames are read lazily from
        their files, one at a time.
    """
    table = table if table is not None else frame_table(run)
    rows = select_frames(table, well=well, channel=channel, z_index=z_index, time_index=time_index)
    images = image_stack(run)
    found = [
        FieldImage(
            well=well,
            fov=int(table["fov"][i]),
            channel=channel,
            z_index=int(table["z_index"][i]),
            time_index=time_index,
            x_um=float(table["x_um"][i]),
            y_um=float(table["y_um"][i]),
            z_um=float(table["z_um"][i]),
            image=np.asarray(images[int(i), 0, ::step, ::step]),
        )
        for i in rows
    ]
    return sorted(found, key=lambda f: (f.fov, f.z_index))
