"""A small synthetic plate run, written into a data directory without a microscope.

For trying the browsing and export tools (and for their tests): the run has the same
documents an ``acquire_plate`` run has (start metadata, a ``frames`` stream of per-image
fields, camera frames as a TIFF sequence announced by StreamResource/StreamDatum),
written through Bluesky's ``TiledWriter``. Every pixel of a frame holds a value
that says which frame it is (:func:`sample_frame`), so a reader can check it got the
right one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hcs_storage.catalog import frames_dir
from hcs_storage.query import FRAME_PREFIX, FRAMES_STREAM, IMAGE_KEY, IMAGES_STREAM

TIFF_SEQUENCE = "multipart/related;type=image/tiff"
TEMPLATE = "{:06d}.tif"
#: Rows x columns of the plate formats the sample knows.
PLATES = {"6": (2, 3), "12": (3, 4), "24": (4, 6), "48": (6, 8), "96": (8, 12), "384": (16, 24)}
#: Display colours of the sample's channels.
COLOURS = {"BF": "#FFFFFF", "DAPI": "#3060FF", "GFP": "#30FF30", "Cy3": "#FFB000", "Cy5": "#FF2020"}


@dataclass(frozen=True)
class SampleSpec:
    """What the sample run images.

    Attributes:
        experiment_id: the experiment id.
        plate_format: the plate format (a key of :data:`PLATES`), or None for positions
            that are no plate's wells (a slide, a list of points).
        wells: the wells (or position names), in acquisition order.
        fields_per_well: fields of view per well.
        channels: channel names (from :data:`COLOURS`).
        z_planes: z planes per field.
        time_points: time points.
        shape: (height, width) of a frame.
        pixel_size_um: pixel size at the sample.
        z_step_um: distance between z planes.
        skip: ``(well, fov, channel, z_index, time_index)`` of frames not taken.
        stop_after: end the run (aborted, as Ctrl-C would) after this many frames;
            its start document still plans them all.
    """

    experiment_id: str = "sample"
    plate_format: str | None = "96"
    wells: tuple[str, ...] = ("B2", "B3")
    fields_per_well: int = 2
    channels: tuple[str, ...] = ("DAPI", "GFP")
    z_planes: int = 2
    time_points: int = 1
    shape: tuple[int, int] = (64, 64)
    pixel_size_um: float = 0.65
    z_step_um: float = 1.5
    skip: frozenset[tuple[str, int, str, int, int]] = field(default_factory=frozenset)
    stop_after: int | None = None

    def frames(self) -> Iterator[dict[str, Any]]:
        """Every frame's ``frame-*`` fields, in acquisition order (t, well, fov, c, z)."""
        for t in range(self.time_points):
            for w, well in enumerate(self.wells):
                for fov in range(self.fields_per_well):
                    x_um = 10_000.0 * (w + 1) + 600.0 * fov
                    y_um = 20_000.0 + 600.0 * fov
                    for channel in self.channels:
                        for z in range(self.z_planes):
                            if (well, fov, channel, z, t) in self.skip:
                                continue
                            yield {
                                "experiment_id": self.experiment_id,
                                "well": well,
                                "fov": fov,
                                "x_um": x_um,
                                "y_um": y_um,
                                "z_um": 3000.0 + self.z_step_um * z,
                                "channel": channel,
                                "z_index": z,
                                "time_index": t,
                                "exposure_ms": 10.0 * (1 + self.channels.index(channel)),
                            }


def sample_frame(spec: SampleSpec, frame: dict[str, Any]) -> np.ndarray:
    """The image of one frame: a constant that encodes well, fov, channel, z and t.

    ``1000 * (well + 1) + 100 * fov + 10 * channel + z + 5000 * t`` (indices into the
    spec's lists), plus a gradient along x so orientation errors show.
    """
    value = (
        1000 * (spec.wells.index(frame["well"]) + 1)
        + 100 * frame["fov"]
        + 10 * spec.channels.index(frame["channel"])
        + frame["z_index"]
        + 5000 * frame["time_index"]
    )
    height, width = spec.shape
    return np.full((height, width), value, np.uint16) + np.arange(width, dtype=np.uint16)


def _kind(value: Any) -> tuple[str, str]:
    if isinstance(value, str):
        return "string", "<U0"
    if isinstance(value, int):
        return "integer", "<i8"
    return "number", "<f8"


def sample_documents(spec: SampleSpec, data_dir: str | Path) -> Iterator[tuple[str, Any]]:
    """The documents of a sample run; its frames are written as the documents go.

    Yields:
        ``(name, document)`` pairs, start to stop, as a RunEngine emits them.
    """
    import tifffile
    from event_model import compose_run

    frames = list(spec.frames())
    plate = spec.plate_format
    plate_formats: dict[str, dict[str, int]] = {}
    if plate is not None:
        rows, columns = PLATES[plate]
        plate_formats[plate] = {"rows": rows, "columns": columns}
    start_md = {
        "plan_name": "acquire_plate",
        "experiment_id": spec.experiment_id,
        "plate_format": spec.plate_format,
        "wells": sorted(set(spec.wells)),
        "num_fields": len(spec.wells) * spec.fields_per_well,
        "num_images": len(frames),
        "channels": list(spec.channels),
        "microscope": {
            "name": "sample",
            "channels": [
                {"name": c, "display_color": COLOURS.get(c, "#FFFFFF")} for c in spec.channels
            ],
            "plate_formats": plate_formats,
        },
        "pixel_size_um": spec.pixel_size_um,
        "binning": 1,
    }
    run = compose_run(metadata=start_md)
    yield "start", run.start_doc
    height, width = spec.shape
    image_keys: dict[str, Any] = {
        IMAGE_KEY: {
            "source": "sample",
            "shape": [1, height, width],
            "dtype": "array",
            "dtype_numpy": "<u2",
            "external": "STREAM:",
        }
    }
    images = run.compose_descriptor(
        name=IMAGES_STREAM, data_keys=image_keys, object_keys={IMAGE_KEY: [IMAGE_KEY]}
    )
    yield "descriptor", images.descriptor_doc
    frame_keys: dict[str, Any] = {}
    for key, value in frames[0].items():
        dtype, dtype_numpy = _kind(value)
        frame_keys[f"{FRAME_PREFIX}{key}"] = {
            "source": "hcs:frame",
            "dtype": dtype,
            "shape": [],
            "dtype_numpy": dtype_numpy,
        }
    rows = run.compose_descriptor(name=FRAMES_STREAM, data_keys=frame_keys)
    yield "descriptor", rows.descriptor_doc
    directory = frames_dir(data_dir) / str(uuid.uuid4())
    directory.mkdir(parents=True)
    compose_resource = run.compose_stream_resource
    assert compose_resource is not None  # event-model types it as optional
    resource = compose_resource(
        mimetype=TIFF_SEQUENCE,
        uri=f"file://localhost{directory.as_posix()}/",
        data_key=IMAGE_KEY,
        parameters={"chunk_shape": [1, height, width], "template": TEMPLATE},
    )
    yield "stream_resource", resource.stream_resource_doc
    taken = frames if spec.stop_after is None else frames[: spec.stop_after]
    for i, frame in enumerate(taken):
        tifffile.imwrite(directory / TEMPLATE.format(i), sample_frame(spec, frame))
        yield (
            "stream_datum",
            resource.compose_stream_datum(
                indices={"start": i, "stop": i + 1},
                seq_nums={"start": i + 1, "stop": i + 2},
                descriptor=images.descriptor_doc,
            ),
        )
        now = time.time()
        yield (
            "event",
            rows.compose_event(
                data={f"{FRAME_PREFIX}{k}": v for k, v in frame.items()},
                timestamps={f"{FRAME_PREFIX}{k}": now for k in frame},
                seq_num=i + 1,
            ),
        )
    if len(taken) < len(frames):
        yield "stop", run.compose_stop(exit_status="abort", reason="aborted by Ctrl-C")
    else:
        yield "stop", run.compose_stop(exit_status="success")


def write_sample_run(
    catalog: Any, data_dir: str | Path, spec: SampleSpec | None = None, **changes: Any
) -> str:
    """Write a sample run into a catalog; its frames go to ``data_dir/frames``.

    Args:
        catalog: a writable Tiled client (``open_catalog(data_dir)``, or a server's
            client with the API key).
        data_dir: the catalog's data directory.
        spec: what to image; :class:`SampleSpec` defaults otherwise.
        changes: fields of :class:`SampleSpec` to change (``wells=("A1",)``).

    Returns:
        The run's uid.
    """
    from bluesky_tiled_plugins import TiledWriter

    spec = spec or SampleSpec(**_normalised(changes))
    writer = TiledWriter(catalog)
    uid = ""
    for name, doc in sample_documents(spec, data_dir):
        if name == "start":
            uid = doc["uid"]
        writer(name, doc)
    return uid


def _normalised(changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(changes)
    for key in ("wells", "channels"):
        if key in out and not isinstance(out[key], tuple):
            out[key] = tuple(out[key])
    if "skip" in out:
        out["skip"] = frozenset(out["skip"])
    return out
