"""The documents of MERFISH image runs, with their TIFF files, for QC tests.

One run per (field, round), as the protocol's image units make them: the images (one
TIFF file per image, announced by StreamResource/StreamDatum) and one ``frames`` row per
image carrying well, fov, channel, z index, round and bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from event_model import compose_run

from hcs_schema import (
    CAMERA,
    FIDUCIAL_BIT,
    FRAME_FIELDS,
    FRAMES_STREAM,
    IMAGES_STREAM,
    MERFISH_KEY,
    frame_key,
)
from merfish_synthetic import SyntheticField, bits_of_round

Documents = list[tuple[str, dict[str, Any]]]
_DTYPES = {"string": "string", "integer": "integer", "number": "number"}
_CHANNELS = ("Cy3", "Cy5")


def image_run(
    directory: Path,
    field: SyntheticField,
    round_: int,
    *,
    well: str = "B2",
    fov: int = 0,
    n_z: int = 2,
    experiment_id: str = "exp-1",
    protocol_hash: str = "0123456789abcdef",
) -> Documents:
    """Write one round of one field as TIFF files; return the run's documents.

    Each bit (and the fiducial) gets ``n_z`` planes: the in-focus image, and dimmer
    copies (a z stack whose maximum projection is the in-focus image).
    """
    bundle = compose_run(
        metadata={
            "plan_name": "run_unit",
            "experiment_id": experiment_id,
            MERFISH_KEY: {
                "protocol_hash": protocol_hash,
                "round": round_,
                "unit": f"{protocol_hash[:12]}/r{round_}/s4/{well}-{fov}",
            },
        }
    )
    docs: Documents = [("start", dict(bundle.start_doc))]
    frames_dir = directory / f"{bundle.start_doc['uid']}"
    frames_dir.mkdir(parents=True)
    primary = bundle.compose_descriptor(
        name=IMAGES_STREAM,
        data_keys={
            CAMERA: {
                "dtype": "array",
                "shape": [1, 256, 256],
                "source": "sim",
                "external": "STREAM:",
            }
        },
    )
    rows = bundle.compose_descriptor(
        name=FRAMES_STREAM,
        data_keys={
            frame_key(k): {"dtype": _DTYPES[t], "shape": [], "source": "frames"}
            for k, (t, _) in FRAME_FIELDS.items()
        },
    )
    assert bundle.compose_stream_resource is not None
    resource = bundle.compose_stream_resource(
        mimetype="multipart/related;type=image/tiff",
        uri=frames_dir.as_uri() + "/",
        data_key=CAMERA,
        parameters={"template": "{:06d}.tif"},
    )
    docs += [
        ("descriptor", dict(primary.descriptor_doc)),
        ("descriptor", dict(rows.descriptor_doc)),
        ("stream_resource", dict(resource.stream_resource_doc)),
    ]
    plan = [
        (b, c, field.bit_images[round_][b])
        for b, c in zip(bits_of_round(round_), _CHANNELS, strict=True)
    ]
    plan.append((FIDUCIAL_BIT, "GFP", field.fiducials[round_]))
    index = 0
    for bit, channel, image in plan:
        for z in range(n_z):
            plane = image if z == 0 else (image * (0.5 / z)).astype(np.uint16)
            tifffile.imwrite(frames_dir / f"{index:06d}.tif", plane)
            datum = resource.compose_stream_datum(
                indices={"start": index, "stop": index + 1}, descriptor=primary.descriptor_doc
            )
            docs.append(("stream_datum", dict(datum)))
            row = {
                "experiment_id": experiment_id,
                "well": well,
                "fov": fov,
                "x_um": 0.0,
                "y_um": 0.0,
                "z_um": float(z),
                "channel": channel,
                "z_index": z,
                "time_index": 0,
                "exposure_ms": 50.0,
                "round": round_,
                "bit": bit,
            }
            data = {frame_key(k): v for k, v in row.items()}
            docs.append(
                (
                    "event",
                    dict(
                        rows.compose_event(
                            data=data, timestamps=dict.fromkeys(data, 0.0), seq_num=index + 1
                        )
                    ),
                )
            )
            index += 1
    docs.append(("stop", dict(bundle.compose_stop(exit_status="success"))))
    return docs
