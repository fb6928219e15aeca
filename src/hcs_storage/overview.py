"""A plate overview picture: a downsampled mosaic per well, channels coloured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from hcs_storage.query import frame_table, well_fields


def _rgb(colour: str) -> np.ndarray:
    value = colour.lstrip("#")
    return np.array([int(value[i : i + 2], 16) / 255.0 for i in (0, 2, 4)], np.float32)


def well_mosaic(
    run: Any, well: str, channels: dict[str, str], pixel_size_um: float, tile_px: int = 128
) -> np.ndarray:
    """An RGB mosaic (float 0..1) of one well: max projection over z, placed by position.

    Args:
        run: the run.
        well: the well.
        channels: channel name -> display colour (``#RRGGBB``).
        pixel_size_um: pixel size of the images at the sample.
        tile_px: size each field of view is shrunk to.
    """
    layers: dict[str, list[tuple[float, float, np.ndarray]]] = {}
    for name in channels:
        per_fov: dict[int, tuple[float, float, np.ndarray]] = {}
        for f in well_fields(run, well, name):
            img = f.image.astype(np.float32)
            if f.fov in per_fov:
                x, y, prev = per_fov[f.fov]
                per_fov[f.fov] = (x, y, np.maximum(prev, img))
            else:
                per_fov[f.fov] = (f.x_um, f.y_um, img)
        layers[name] = list(per_fov.values())
    tiles = [t for fovs in layers.values() for t in fovs]
    if not tiles:
        return np.zeros((tile_px, tile_px, 3), np.float32)
    height, width = tiles[0][2].shape
    scale = tile_px / max(height, width)
    um_per_px = pixel_size_um / scale
    xs = [x for x, _, _ in tiles]
    ys = [y for _, y, _ in tiles]
    x0 = min(xs) - width * pixel_size_um / 2
    y0 = min(ys) - height * pixel_size_um / 2
    out_w = int(np.ceil((max(xs) - min(xs)) / um_per_px)) + tile_px
    out_h = int(np.ceil((max(ys) - min(ys)) / um_per_px)) + tile_px
    mosaic = np.zeros((out_h, out_w, 3), np.float32)
    for name, fovs in layers.items():
        if not fovs:
            continue
        stack = np.stack([img for _, _, img in fovs])
        lo, hi = np.percentile(stack, [1.0, 99.8])
        colour = _rgb(channels[name])
        for x, y, img in fovs:
            small = np.asarray(
                Image.fromarray(img).resize(
                    (max(1, round(width * scale)), max(1, round(height * scale))),
                    Image.Resampling.BOX,
                )
            )
            norm = np.clip((small - lo) / max(hi - lo, 1e-6), 0, 1)
            r = int((y - height * pixel_size_um / 2 - y0) / um_per_px)
            c = int((x - width * pixel_size_um / 2 - x0) / um_per_px)
            region = mosaic[r : r + norm.shape[0], c : c + norm.shape[1]]
            region += norm[: region.shape[0], : region.shape[1], None] * colour
    return np.clip(mosaic, 0, 1)


def plate_overview(run: Any, path: str | Path, tile_px: int = 128) -> Path:
    """Write a PNG with one mosaic per well, laid out as on the plate.

    Returns:
        The path written.
    """
    start = run.metadata["start"]
    config = start["microscope"]
    colours = {c["name"]: c["display_color"] for c in config["channels"]}
    channels = {name: colours.get(name, "#FFFFFF") for name in start["channels"]}
    wells = sorted(set(frame_table(run)["well"].astype(str)), key=_well_key)
    mosaics = {w: well_mosaic(run, w, channels, start["pixel_size_um"], tile_px) for w in wells}
    rows = sorted({_well_key(w)[0] for w in wells})
    cols = sorted({_well_key(w)[1] for w in wells})
    cell_h = max(m.shape[0] for m in mosaics.values()) + 8
    cell_w = max(m.shape[1] for m in mosaics.values()) + 8
    canvas = np.zeros((cell_h * len(rows), cell_w * len(cols), 3), np.float32)
    for w, m in mosaics.items():
        r, c = _well_key(w)
        top, left = rows.index(r) * cell_h + 4, cols.index(c) * cell_w + 4
        canvas[top : top + m.shape[0], left : left + m.shape[1]] = m
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((canvas * 255).astype(np.uint8)).save(out)
    return out


def _well_key(well: str) -> tuple[str, int]:
    letters = well.rstrip("0123456789")
    return (f"{len(letters)}{letters}", int(well[len(letters) :] or 0))
