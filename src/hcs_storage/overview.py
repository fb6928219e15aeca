"""A plate overview picture: a downsampled mosaic per well, channels coloured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from hcs_storage.query import frame_table, image_stack


def _rgb(colour: str) -> np.ndarray:
    value = colour.lstrip("#")
    return np.array([int(value[i : i + 2], 16) / 255.0 for i in (0, 2, 4)], np.float32)


def well_mosaic(
    run: Any,
    well: str,
    channels: dict[str, str],
    pixel_size_um: float,
    tile_px: int = 128,
    previews: tuple[dict[str, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """An RGB mosaic (float 0..1) of one well: max projection over z, placed by position.

    Args:
        run: the run.
        well: the well.
        channels: channel name -> display colour (``#RRGGBB``).
        pixel_size_um: pixel size of the images at the sample.
        tile_px: size each field of view is shrunk to.
        previews: the frame table and the strided image stack, if already read.
    """
    table, stack = previews if previews is not None else read_previews(run, tile_px)
    pixel_size_um *= _step(run, tile_px)
    wells = table["well"].astype(str)
    names = table["channel"].astype(str)
    layers: dict[str, list[tuple[float, float, np.ndarray]]] = {}
    for name in channels:
        per_fov: dict[int, tuple[float, float, np.ndarray]] = {}
        for i in np.flatnonzero((wells == well) & (names == name)):
            fov = int(table["fov"][i])
            img = stack[i].astype(np.float32)
            if fov in per_fov:
                x, y, prev = per_fov[fov]
                per_fov[fov] = (x, y, np.maximum(prev, img))
            else:
                per_fov[fov] = (float(table["x_um"][i]), float(table["y_um"][i]), img)
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
        lo, hi = np.percentile(stack, [1.0, 99.0])
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


def _step(run: Any, tile_px: int) -> int:
    full_shape = image_stack(run).shape[-2:]
    return max(1, max(full_shape) // (2 * tile_px))


def read_previews(run: Any, tile_px: int = 128) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The frame table and every image, strided for a preview, in two requests."""
    step = _step(run, tile_px)
    stack = np.asarray(image_stack(run)[:, 0, ::step, ::step])
    return frame_table(run), stack


def plate_overview(run: Any, path: str | Path, tile_px: int = 128) -> Path:
    """Write a PNG with one mosaic per well, laid out as on the plate.

    Returns:
        The path written.
    """
    start = run.metadata["start"]
    config = start["microscope"]
    colours = {c["name"]: c["display_color"] for c in config["channels"]}
    channels = {name: colours.get(name, "#FFFFFF") for name in start["channels"]}
    previews = read_previews(run, tile_px)
    wells = sorted(set(previews[0]["well"].astype(str)), key=_well_key)
    mosaics = {
        w: well_mosaic(run, w, channels, start["pixel_size_um"], tile_px, previews) for w in wells
    }
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
