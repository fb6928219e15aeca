"""Export to OME-TIFF: one file per field of view, ``TCZYX``, written by tifffile.

Each file holds one field's images with OME-XML metadata: channel names and colours,
pixel sizes (``PhysicalSizeX/Y/Z`` in micrometres), and per plane the stage position
and exposure time. Files are named ``<well>_f<fov>.ome.tif`` (``B3_f000.ome.tif``);
a small ``hcs-export.json`` lists them with the run they came from.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from hcs_storage.export._source import (
    ExportError,
    ExportProgress,
    FieldStack,
    RunSource,
    prepare_output,
)

MANIFEST = "hcs-export.json"


def ome_colour(hex_colour: str) -> int:
    """An ``#RRGGBB`` colour as OME's signed 32-bit RGBA integer (opaque)."""
    value = hex_colour.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"{hex_colour!r} is not a #RRGGBB colour")
    rgba = (int(value, 16) << 8) | 0xFF
    return rgba - (1 << 32) if rgba >= 1 << 31 else rgba


def field_file_name(well: str, fov: int) -> str:
    """The file name of one field of view's OME-TIFF.

    A position's name may hold any text (``slide 1/left``): characters other than
    letters, digits, ``-`` and ``.`` become ``_``.
    """
    safe = re.sub(r"[^A-Za-z0-9.-]", "_", well).strip(".") or "_"
    return f"{safe}_f{fov:03d}.ome.tif"


def export_ome_tiff(
    run: Any,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    progress: ExportProgress | None = None,
) -> list[Path]:
    """Write one OME-TIFF file per field of view of a run.

    Args:
        run: a run from the catalog.
        out_dir: the directory to create for the files.
        overwrite: replace an earlier export in ``out_dir``.
        progress: told ``(images written, images in all)`` after each field of view.

    Returns:
        The files written, in field order.

    Raises:
        ExportError: the run has no images, or ``out_dir`` exists.
    """
    source = RunSource.of(run)
    out = Path(out_dir)
    prepare_output(out, overwrite=overwrite, marker=MANIFEST)
    out.mkdir(parents=True)
    written: dict[int, Path] = {}  # by the field's place in the layout
    done = 0
    for stack in source.fields():
        path = out / field_file_name(stack.well, stack.fov)
        if path.exists():
            raise ExportError(f"two fields of view map to {path.name}")
        _write_field(path, source, stack)
        written[stack.index] = path
        done += int(stack.taken.sum())
        if progress is not None:
            progress(done, source.image_count)
    in_order = [written[p] for p in sorted(written)]
    files = [
        {"file": path.name, "well": well, "fov": fov}
        for path, (well, fov) in zip(in_order, source.layout.fields, strict=True)
    ]
    manifest = {"run": source.info.uid, "experiment_id": source.info.experiment_id, "files": files}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return in_order


def _write_field(path: Path, source: RunSource, stack: FieldStack) -> None:
    import tifffile

    info = source.info
    layout = source.layout
    px = info.pixel_size_um
    frames = layout.frames[stack.index]
    n_t, n_c, n_z = frames.shape
    # Per plane, in the order the planes are stored (t, then c, then z).
    positions_z = np.nan_to_num(layout.z_um[stack.index].reshape(-1), nan=0.0).tolist()
    exposures = [
        float(source.table["exposure_ms"][i]) if i >= 0 else 0.0 for i in frames.reshape(-1)
    ]
    planes = n_t * n_c * n_z
    metadata: dict[str, Any] = {
        "axes": "TCZYX",
        "Name": f"{stack.well} field {stack.fov} (run {info.uid[:8]})",
        "PhysicalSizeX": px,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": px,
        "PhysicalSizeYUnit": "µm",
        "PhysicalSizeZ": source.z_step_um(),
        "PhysicalSizeZUnit": "µm",
        "Channel": {
            "Name": list(layout.channels),
            "Color": [ome_colour(info.colours.get(c, "#FFFFFF")) for c in layout.channels],
        },
        "Plane": {
            "PositionX": [float(layout.x_um[stack.index])] * planes,
            "PositionXUnit": ["µm"] * planes,
            "PositionY": [float(layout.y_um[stack.index])] * planes,
            "PositionYUnit": ["µm"] * planes,
            "PositionZ": positions_z,
            "PositionZUnit": ["µm"] * planes,
            "ExposureTime": exposures,
            "ExposureTimeUnit": ["ms"] * planes,
        },
    }
    tifffile.imwrite(path, stack.data, ome=True, metadata=metadata, photometric="minisblack")
