"""The run schema: what every hcs run's documents and data directory are made of.

One leaf module that the devices, plans, storage, orchestrator and tests import, so
the names below are spelled once. It imports nothing of hcs.

A plate run has two streams that line up row for row: :data:`IMAGES_STREAM` holds the
camera's images (external TIFF files announced by StreamResource/StreamDatum),
:data:`FRAMES_STREAM` holds one row of metadata per image (:data:`FRAME_FIELDS`), with
data keys ``frame-<field>`` (:func:`frame_key`).
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "CAMERA",
    "CATALOG_FILE",
    "FIDUCIAL_BIT",
    "FRAMES_DIR",
    "FRAMES_STREAM",
    "FRAME_DEFAULTS",
    "FRAME_FIELDS",
    "FRAME_KEY_PREFIX",
    "IMAGES_STREAM",
    "MERFISH_FIELDS",
    "MERFISH_KEY",
    "FieldType",
    "frame_key",
]

#: The stream of the images (the camera's StreamDatum).
IMAGES_STREAM: Final = "primary"
#: The stream of the per-image metadata (one row per image, in image order).
FRAMES_STREAM: Final = "frames"
#: The main camera's device name (its image data key too).
CAMERA: Final = "camera"
#: The data directory's folder of frame files (one folder per run's frame set).
FRAMES_DIR: Final = "frames"
#: The data directory's SQLite catalog (runs, their metadata, their data sources).
CATALOG_FILE: Final = "catalog.db"
#: Prefix of the frame-row data keys.
FRAME_KEY_PREFIX: Final = "frame"

FieldType = Literal["string", "integer", "number"]

#: Every image's row: field -> (JSON type, unit or None).
FRAME_FIELDS: Final[dict[str, tuple[FieldType, str | None]]] = {
    "experiment_id": ("string", None),
    "well": ("string", None),
    "fov": ("integer", None),
    "x_um": ("number", "um"),
    "y_um": ("number", "um"),
    "z_um": ("number", "um"),
    "channel": ("string", None),
    "z_index": ("integer", None),
    "time_index": ("integer", None),
    "exposure_ms": ("number", "ms"),
    "round": ("integer", None),
    "bit": ("string", None),
}

#: Row fields a plate acquisition leaves out, and their value then: MERFISH images carry
#: their ``round`` (from 1) and ``bit`` (a codebook bit name, or :data:`FIDUCIAL_BIT`).
FRAME_DEFAULTS: Final[dict[str, int | str]] = {"round": 0, "bit": ""}
#: The ``bit`` of a MERFISH fiducial-bead image.
FIDUCIAL_BIT: Final = "fiducial"
#: Start-document key of a MERFISH run: ``{protocol_hash, round, unit}``.
MERFISH_KEY: Final = "merfish"
#: The fields of :data:`MERFISH_KEY`: the protocol's hash, the round (from 1), the unit id.
MERFISH_FIELDS: Final = ("protocol_hash", "round", "unit")


def frame_key(field: str, prefix: str = FRAME_KEY_PREFIX) -> str:
    """The data key of a frame-row field (``frame-well``, ...)."""
    return f"{prefix}-{field}"
