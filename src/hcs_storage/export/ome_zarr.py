"""Export to OME-Zarr: the NGFF 0.5 high-content-screening plate layout (Zarr v3).

::

    plate.zarr/                 plate metadata: rows, columns, wells, acquisitions
      B/                        a row
        3/                      a well: its fields and which acquisition took each
          0/                    a field of view: an image with multiscales + omero
            0/                  the recorded frames, (t, c, z, y, x)
            1/, 2/, ...         the same at 1/2, 1/4, ... in y and x (a pyramid)

Each run is one *acquisition* of the plate; a well's fields are numbered across
acquisitions (a second run's first field in B3 is ``B/3/<n>`` after the first run's).
The metadata are built from the ``yaozarrs`` models of the NGFF 0.5 specification;
``ome-zarr`` reads the result (see the tests).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hcs_storage.export._source import (
    SAMPLE_STEP,
    ExportError,
    ExportProgress,
    FieldStack,
    RunSource,
    display_window,
    prepare_output,
)
from hcs_storage.export.pyramid import pyramid
from hcs_storage.query import split_well, well_sort_key

AXES = ("t", "c", "z", "y", "x")


def export_ome_zarr(
    runs: Any | Sequence[Any],
    out: str | Path,
    *,
    overwrite: bool = False,
    name: str | None = None,
    progress: ExportProgress | None = None,
) -> Path:
    """Write one run, or several runs of one plate, as an OME-Zarr HCS plate.

    Runs at named positions (a slide, a list of points: no plate's wells) are written
    as a collection of images instead, one per field of view.

    Args:
        runs: a run from the catalog, or a list of runs of the same plate (e.g. every
            run of an experiment: ``list(find_runs(catalog, experiment_id=...).values())``).
        out: the plate's path (conventionally ending in ``.zarr``).
        overwrite: replace an earlier export at ``out``.
        name: the plate's name; the experiment id by default.
        progress: told ``(images written, images in all)`` after each field of view.

    Returns:
        The plate's path.

    Raises:
        ExportError: no runs, runs of different plate formats, a run without
            images, or ``out`` exists.
    """
    import zarr
    from yaozarrs import v05

    sources = [RunSource.of(r) for r in (runs if isinstance(runs, list | tuple) else [runs])]
    if not sources:
        raise ExportError("nothing to export: no runs given")
    formats = {(s.info.plate_rows, s.info.plate_columns) for s in sources}
    if len(formats) > 1:
        raise ExportError(
            "the runs are on plates of different formats (or some at positions that are "
            "no plate's wells): export them apart"
        )
    rows, columns = formats.pop()
    out = Path(out)
    prepare_output(out, overwrite=overwrite, marker="zarr.json")
    root = zarr.open_group(out, mode="w-", zarr_format=3)
    if not rows:
        _export_positions(root, sources, progress)
        return out

    total = sum(s.image_count for s in sources)
    done = 0
    # A well's fields are numbered in plate order, run after run, whatever order
    # the fields are read in (the order they were taken).
    wells: dict[str, list[v05.FieldOfView]] = {}
    places: list[list[tuple[str, str]]] = []  # per run, per field: (well group, field path)
    for a, source in enumerate(sources):
        places.append([])
        for well, _ in source.layout.fields:
            row, column = split_well(well)
            if row not in rows or column not in columns:
                raise ExportError(f"well {well} is not on the plate {rows[0]}1..")
            path = str(len(wells.setdefault(well, [])))
            wells[well].append(v05.FieldOfView(path=path, acquisition=a))
            places[a].append((f"{row}/{column}", path))
    well_groups: dict[str, Any] = {}
    acquisitions: list[v05.Acquisition] = []
    for a, source in enumerate(sources):
        info = source.info
        acquisitions.append(
            v05.Acquisition(
                id=a,
                name=info.uid,
                description=f"run {info.uid[:8]} of experiment {info.experiment_id}",
                maximumfieldcount=max(Counter(w for w, _ in source.layout.fields).values()),
                starttime=int(info.start_time * 1000),
                endtime=int(info.stop_time * 1000) if info.stop_time else None,
            )
        )
        for stack in source.fields():
            well_path, path = places[a][stack.index]
            if well_path not in well_groups:
                well_groups[well_path] = root.require_group(well_path)
            _write_field(well_groups[well_path], path, source, stack)
            done += int(stack.taken.sum())
            if progress is not None:
                progress(done, total)

    for well, fields in wells.items():
        row, column = split_well(well)
        root[f"{row}/{column}"].attrs["ome"] = v05.Well(well=v05.WellDef(images=fields)).model_dump(
            mode="json", exclude_none=True
        )
    plate = v05.Plate(
        plate=v05.PlateDef(
            name=name or sources[0].info.experiment_id or None,
            rows=[v05.Row(name=r) for r in rows],
            columns=[v05.Column(name=c) for c in columns],
            wells=[
                v05.PlateWell(
                    path="/".join(split_well(w)),
                    rowIndex=rows.index(split_well(w)[0]),
                    columnIndex=columns.index(split_well(w)[1]),
                )
                for w in sorted(wells, key=well_sort_key)
            ],
            acquisitions=acquisitions,
            field_count=max(len(f) for f in wells.values()),
        )
    )
    attributes = plate.model_dump(mode="json", exclude_none=True)
    # NGFF 0.5 keeps the version next to "plate"; readers built on ome-zarr-models
    # also look for it inside (and warn without it).
    attributes["plate"]["version"] = attributes["version"]
    root.attrs["ome"] = attributes
    root.attrs["hcs"] = {
        "experiment_ids": sorted({s.info.experiment_id for s in sources}),
        "runs": [s.info.uid for s in sources],
    }
    return out


def _export_positions(root: Any, sources: list[RunSource], progress: ExportProgress | None) -> None:
    """Runs at named positions (no plate): a collection of images, one per field of view.

    The layout is NGFF's multi-image collection (``bioformats2raw.layout``): images
    ``0/``, ``1/``, ... and ``OME/`` listing them; each image's name is
    ``<position>/<field>`` and its ``hcs`` attributes say which run and position.
    """
    from yaozarrs import v05

    total = sum(s.image_count for s in sources)
    done = 0
    series: list[str] = []
    for source in sources:
        first = len(series)
        series.extend(str(first + p) for p in range(len(source.layout.fields)))
        for stack in source.fields():
            _write_field(root, str(first + stack.index), source, stack)
            done += int(stack.taken.sum())
            if progress is not None:
                progress(done, total)
    collection = v05.Bf2Raw.model_validate({"version": "0.5", "bioformats2raw.layout": 3})
    root.attrs["ome"] = collection.model_dump(mode="json", by_alias=True)
    root.create_group("OME").attrs["ome"] = v05.Series(version="0.5", series=series).model_dump(
        mode="json"
    )
    root.attrs["hcs"] = {
        "experiment_ids": sorted({s.info.experiment_id for s in sources}),
        "runs": [s.info.uid for s in sources],
    }


def _write_field(parent: Any, path: str, source: RunSource, stack: FieldStack) -> None:
    """One field of view: a group at ``parent/path`` with its image metadata and arrays.

    The group is created with its metadata and each array with its data, one write each.
    """
    from yaozarrs import v05
    from zarr.codecs import BloscCodec, BloscShuffle

    info = source.info
    levels = pyramid(stack.data)
    px = info.pixel_size_um
    dz = source.z_step_um()
    height, width = source.frame_shape
    layout = source.layout
    z0 = float(np.nanmin(layout.z_um[stack.index])) if stack.taken.any() else 0.0
    # The field's corner in stage coordinates, so that viewers place fields correctly.
    y0 = float(layout.y_um[stack.index]) - height * px / 2
    x0 = float(layout.x_um[stack.index]) - width * px / 2
    channels = []
    for c, channel in enumerate(layout.channels):
        planes = stack.data[:, c][stack.taken[:, c]]
        start, end = display_window(
            [p[::SAMPLE_STEP, ::SAMPLE_STEP] for p in planes], stack.data.dtype
        )
        channels.append(
            v05.OmeroChannel(
                label=channel,
                color=info.colours.get(channel, "#FFFFFF"),
                active=True,
                window=v05.OmeroWindow(
                    start=start, end=end, min=0.0, max=float(np.iinfo(stack.data.dtype).max)
                ),
            )
        )
    image = v05.Image(
        multiscales=[
            v05.Multiscale(
                name=f"{stack.well}/{stack.fov}",
                axes=[
                    v05.TimeAxis(name="t"),
                    v05.ChannelAxis(name="c"),
                    v05.SpaceAxis(name="z", unit="micrometer"),
                    v05.SpaceAxis(name="y", unit="micrometer"),
                    v05.SpaceAxis(name="x", unit="micrometer"),
                ],
                datasets=[
                    v05.Dataset(
                        path=str(k),
                        coordinateTransformations=[
                            v05.ScaleTransformation(scale=[1.0, 1.0, dz, px * 2**k, px * 2**k]),
                            # A block mean's pixel centre sits half a block in.
                            v05.TranslationTransformation(
                                translation=[
                                    0.0,
                                    0.0,
                                    z0,
                                    y0 + (2**k - 1) * px / 2,
                                    x0 + (2**k - 1) * px / 2,
                                ]
                            ),
                        ],
                    )
                    for k in range(len(levels))
                ],
            )
        ],
        omero=v05.Omero(
            name=f"{stack.well}/{stack.fov}",
            channels=channels,
            rdefs=v05.OmeroRenderingDefs(
                model="color", defaultT=0, defaultZ=stack.data.shape[2] // 2
            ),
        ),
    )
    hcs = {
        "run": info.uid,
        "well": stack.well,
        "fov": stack.fov,
        "stage_x_um": float(layout.x_um[stack.index]),
        "stage_y_um": float(layout.y_um[stack.index]),
        "time_indices": list(layout.time_indices),
        "z_indices": list(layout.z_indices),
    }
    group = parent.create_group(
        path, attributes={"ome": image.model_dump(mode="json", exclude_none=True), "hcs": hcs}
    )
    for k, level in enumerate(levels):
        group.create_array(
            str(k),
            data=level,
            chunks=(1, 1, 1, *level.shape[-2:]),
            compressors=[BloscCodec(cname="zstd", clevel=3, shuffle=BloscShuffle.bitshuffle)],
            dimension_names=AXES,
            fill_value=0,
        )
