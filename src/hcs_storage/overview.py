"""A plate overview picture: the acquired wells laid out as on the plate.

Every acquired well is drawn at its plate position under its column number and
beside its row letter, with its name above it. Inside a well, every field of view
is placed at its recorded stage position relative to the well's centre (from the
plate calibration recorded in the run), as the maximum projection over z of its
first time point. Each channel is contrast-stretched on its own (between
percentiles of its pixels over the whole run) and drawn in a colour chosen from
its emission (:mod:`hcs_storage.dye_colours`); colours add up where dyes overlap.
A legend names the channels and a scale bar gives micrometres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from hcs_storage.dye_colours import RGB, channel_colour
from hcs_storage.query import frame_table, image_stack, is_well_name, row_name, well_sort_key

#: The picture's longer side, at most (pixels): wells are drawn smaller on big plates.
MAX_PICTURE_PX = 4096
#: A well's drawing, at least (pixels).
MIN_WELL_PX = 48
#: Percentiles of a channel's pixels (whole run) mapped to black and to full colour.
STRETCH_PERCENTILES = (1.0, 99.5)
BACKGROUND: RGB = (24, 24, 24)
WELL_BACKGROUND: RGB = (0, 0, 0)
TEXT: RGB = (235, 235, 235)
EMPTY_WELL: RGB = (70, 70, 70)
FONT_PX = 14
GAP_PX = 8
HEADER_PX = 24
LABEL_PX = 18
LEGEND_PX = 30


@dataclass(frozen=True)
class Box:
    """A rectangle in the picture, in pixels: ``left <= x < right``, ``top <= y < bottom``."""

    left: int
    top: int
    right: int
    bottom: int


@dataclass(frozen=True)
class OverviewLayout:
    """Where the renderer put everything, for callers and tests.

    Attributes:
        size: (width, height) of the picture in pixels.
        um_per_px: micrometres at the sample per picture pixel.
        wells: well name -> the box its fields are drawn in.
        labels: text drawn (well names, row letters, column numbers) -> its box.
        legend: channel name -> (its colour swatch's box, its colour).
        scale_bar: the scale bar's box.
        scale_bar_um: the scale bar's length in micrometres.
    """

    size: tuple[int, int]
    um_per_px: float
    wells: dict[str, Box]
    labels: dict[str, Box]
    legend: dict[str, tuple[Box, RGB]]
    scale_bar: Box
    scale_bar_um: float


@dataclass(frozen=True)
class _Field:
    well: str
    channel: str
    x_um: float
    y_um: float
    frames: np.ndarray  # indices into the run's image stack


def plate_overview(run: Any, path: str | Path, well_px: int = 256) -> Path:
    """Write a run's plate overview as a PNG.

    Args:
        run: a run from the catalog.
        path: the PNG to write (its directory is created).
        well_px: the longer side of a well's drawing, in pixels.

    Returns:
        The path written.
    """
    picture, _ = render_overview(run, well_px)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    picture.save(out)
    return out


def render_overview(run: Any, well_px: int = 256) -> tuple[Image.Image, OverviewLayout]:
    """A run's plate overview picture and where everything in it is.

    Args:
        run: a run from the catalog.
        well_px: the longer side of a well's drawing, in pixels.
    """
    start = run.metadata["start"]
    pixel_um = float(start["pixel_size_um"])
    configs = {c["name"]: c for c in start["microscope"]["channels"]}
    channels = [c for c in start["channels"]]
    colours = {c: channel_colour(configs.get(c, {"name": c})) for c in channels}
    table = frame_table(run)
    stack = image_stack(run)
    height, width = (int(n) for n in stack.shape[-2:])
    fields = _fields(table)
    # Outside a plate (a slide, a list of points) names such as P0 are positions.
    on_plate = start.get("plate_format") is not None
    centres = _well_centres(start, fields, on_plate)
    wells = sorted(centres, key=well_sort_key)

    # One extent (around the well centre, um) shared by every well: same scale everywhere.
    half_w, half_h = width * pixel_um / 2, height * pixel_um / 2
    dx = [f.x_um - centres[f.well][0] for f in fields]
    dy = [f.y_um - centres[f.well][1] for f in fields]
    x0, x1 = min(dx) - half_w, max(dx) + half_w
    y0, y1 = min(dy) - half_h, max(dy) + half_h
    places, rows, columns, plate = _grid(wells, on_plate)
    well_px = min(well_px, max(MIN_WELL_PX, MAX_PICTURE_PX // max(len(rows), len(columns))))
    um_per_px = max(x1 - x0, y1 - y0) / well_px
    cell_w = math.ceil((x1 - x0) / um_per_px)
    cell_h = math.ceil((y1 - y0) / um_per_px)

    font = ImageFont.load_default(size=FONT_PX)
    pitch_w, pitch_h = cell_w + GAP_PX, cell_h + LABEL_PX + GAP_PX
    grid_w = HEADER_PX + len(columns) * pitch_w
    legend_w = sum(_legend_item_px(c, font) for c in channels) + 160
    size = (max(grid_w, legend_w) + GAP_PX, HEADER_PX + len(rows) * pitch_h + LEGEND_PX + GAP_PX)

    def cell(row: int, column: int) -> Box:
        left = HEADER_PX + (column - columns[0]) * pitch_w
        top = HEADER_PX + (row - rows[0]) * pitch_h + LABEL_PX
        return Box(left, top, left + cell_w, top + cell_h)

    boxes = {w: cell(*places[w]) for w in wells}

    # Per channel: a layer of the whole picture, each field stretched by the run's window.
    step = max(1, int(um_per_px / pixel_um / 2))
    previews = np.asarray(stack[:, 0, ::step, ::step], dtype=np.float32)
    tile_w = max(1, round(width * pixel_um / um_per_px))
    tile_h = max(1, round(height * pixel_um / um_per_px))
    rgb = np.zeros((size[1], size[0], 3), np.float32)
    for channel in channels:
        tiles = [
            (f, _shrink(previews[f.frames].max(axis=0), (tile_w, tile_h)))
            for f in fields
            if f.channel == channel
        ]
        if not tiles:
            continue
        # The window comes from the pixels as drawn: small bright nuclei keep their contrast.
        lo, hi = np.percentile(np.stack([t for _, t in tiles]), STRETCH_PERCENTILES)
        layer = np.zeros((size[1], size[0]), np.float32)
        for f, small in tiles:
            norm = np.clip((small - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0)
            box = boxes[f.well]
            left = box.left + round((f.x_um - centres[f.well][0] - half_w - x0) / um_per_px)
            top = box.top + round((f.y_um - centres[f.well][1] - half_h - y0) / um_per_px)
            region = layer[
                top : min(top + tile_h, box.bottom), left : min(left + tile_w, box.right)
            ]
            np.maximum(region, norm[: region.shape[0], : region.shape[1]], out=region)
        rgb += layer[..., None] * (np.array(colours[channel], np.float32) / 255.0)
    pixels = (np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8)
    inside = np.zeros((size[1], size[0]), bool)
    for box in boxes.values():
        inside[box.top : box.bottom, box.left : box.right] = True
    pixels[~inside] = BACKGROUND
    picture = Image.fromarray(pixels, "RGB")

    draw = ImageDraw.Draw(picture)
    labels: dict[str, Box] = {}

    def text(at: tuple[int, int], words: str, anchor: str) -> Box:
        draw.text(at, words, fill=TEXT, font=font, anchor=anchor)
        return Box(*(int(v) for v in draw.textbbox(at, words, font=font, anchor=anchor)))

    for r in plate[0]:
        for c in plate[1]:
            b = cell(r, c)
            draw.rectangle((b.left - 1, b.top - 1, b.right, b.bottom), outline=EMPTY_WELL)
    for c in plate[1]:
        b = cell(rows[0], c)
        labels[str(c + 1)] = text(((b.left + b.right) // 2, HEADER_PX // 2), str(c + 1), "mm")
    for r in plate[0]:
        b = cell(r, columns[0])
        row = row_name(r)
        labels[row] = text((HEADER_PX // 2, (b.top + b.bottom) // 2), row, "mm")
    for w, b in boxes.items():
        labels[w] = text((b.left + 2, b.top - LABEL_PX // 2), w, "lm")

    legend, bar, bar_um = _legend_and_scale(draw, font, channels, colours, size, um_per_px, cell_w)
    layout = OverviewLayout(size, um_per_px, boxes, labels, legend, bar, bar_um)
    return picture, layout


def _shrink(tile: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A field's image resized to ``size`` (width, height) pixels by area averaging."""
    return np.asarray(Image.fromarray(tile).resize(size, Image.Resampling.BOX))


def _legend_and_scale(
    draw: ImageDraw.ImageDraw,
    font: Any,
    channels: list[str],
    colours: dict[str, RGB],
    size: tuple[int, int],
    um_per_px: float,
    cell_w: int,
) -> tuple[dict[str, tuple[Box, RGB]], Box, float]:
    """Draw the channel legend and the scale bar along the bottom of the picture."""
    middle = size[1] - GAP_PX - LEGEND_PX // 2
    legend: dict[str, tuple[Box, RGB]] = {}
    x = HEADER_PX
    for channel in channels:
        swatch = Box(x, middle - 7, x + 14, middle + 7)
        draw.rectangle(
            (swatch.left, swatch.top, swatch.right - 1, swatch.bottom - 1), colours[channel]
        )
        legend[channel] = (swatch, colours[channel])
        draw.text((swatch.right + 5, middle), channel, fill=TEXT, font=font, anchor="lm")
        x += _legend_item_px(channel, font)
    bar_um = _nice_length_um(um_per_px * cell_w / 3)
    bar_px = max(1, round(bar_um / um_per_px))
    label = f"{bar_um:g} um"
    right = size[0] - GAP_PX
    label_px = int(draw.textlength(label, font=font))
    bar = Box(right - label_px - 8 - bar_px, middle - 2, right - label_px - 8, middle + 2)
    draw.rectangle((bar.left, bar.top, bar.right - 1, bar.bottom - 1), fill=TEXT)
    _draw_micrometres(draw, font, (right - label_px, middle), f"{bar_um:g} ")
    return legend, bar, bar_um


def _draw_micrometres(
    draw: ImageDraw.ImageDraw, font: Any, at: tuple[int, int], number: str
) -> None:
    """Write ``<number> µm``; Pillow's own font has no µ, so it is a u with a tail."""
    draw.text(at, f"{number}um", fill=TEXT, font=font, anchor="lm")
    u_left = at[0] + draw.textlength(number, font=font)
    _, _, _, bottom = draw.textbbox(at, "u", font=font, anchor="lm")
    draw.line((u_left + 1, bottom - 2, u_left + 1, bottom + 3), fill=TEXT, width=2)


def _legend_item_px(channel: str, font: Any) -> int:
    return 14 + 5 + int(font.getlength(channel)) + 16


def _nice_length_um(at_most_um: float) -> float:
    """The longest 1, 2 or 5 x 10^k micrometres not above ``at_most_um``."""
    power = 10.0 ** math.floor(math.log10(at_most_um))
    return max(m * power for m in (1.0, 2.0, 5.0) if m * power <= at_most_um)


def _fields(table: dict[str, np.ndarray]) -> list[_Field]:
    """One entry per (well, field of view, channel): its first time point's z planes."""
    wells = table["well"].astype(str)
    fovs = table["fov"].astype(int)
    channels = table["channel"].astype(str)
    times = table["time_index"].astype(int)
    first = times == times.min()
    out: list[_Field] = []
    keys = sorted({(w, int(f), c) for w, f, c in zip(wells, fovs, channels, strict=True)})
    for well, fov, channel in keys:
        rows = np.flatnonzero((wells == well) & (fovs == fov) & (channels == channel) & first)
        if len(rows):
            i = rows[0]
            out.append(
                _Field(well, channel, float(table["x_um"][i]), float(table["y_um"][i]), rows)
            )
    return out


def _well_centres(
    start: dict[str, Any], fields: list[_Field], on_plate: bool
) -> dict[str, tuple[float, float]]:
    """Each well's centre on the stage: the plate calibration, else its fields' middle."""
    plate = (start["microscope"].get("plate_formats") or {}).get(str(start.get("plate_format")))
    positions = (start.get("sequence") or {}).get("stage_positions")
    centres: dict[str, tuple[float, float]] = {}
    for well in {f.well for f in fields}:
        mine = [f for f in fields if f.well == well]
        middle = (
            (min(f.x_um for f in mine) + max(f.x_um for f in mine)) / 2,
            (min(f.y_um for f in mine) + max(f.y_um for f in mine)) / 2,
        )
        if (
            not (on_plate and is_well_name(well))
            or plate is None
            or not {"well_spacing_um", "a1_x_um"} <= set(plate)
        ):
            centres[well] = middle
            continue
        a1 = (plate["a1_x_um"], plate["a1_y_um"])
        if isinstance(positions, dict) and positions.get("a1_center_xy"):
            a1 = tuple(positions["a1_center_xy"])
        row, column = _indices(well)
        spacing = float(plate["well_spacing_um"])
        centres[well] = (float(a1[0]) + column * spacing, float(a1[1]) + row * spacing)
    return centres


def _indices(well: str) -> tuple[int, int]:
    """A well's 0-based (row, column) on the plate."""
    row, column, _ = well_sort_key(well)
    return row - 1, column - 1


def _grid(
    wells: list[str], on_plate: bool
) -> tuple[dict[str, tuple[int, int]], list[int], list[int], tuple[list[int], list[int]]]:
    """Where each well goes: (row, column) cells, the rows and columns drawn, the plate's.

    Plate wells keep their plate row and column, from the first to the last acquired
    one; positions that are no well (a slide, a list of points) follow in a row of
    their own, in acquisition order.
    """
    plate_wells = [w for w in wells if on_plate and is_well_name(w)]
    places = {w: _indices(w) for w in plate_wells}
    plate_rows = sorted({r for r, _ in places.values()})
    plate_columns = sorted({c for _, c in places.values()})
    plate = (
        list(range(plate_rows[0], plate_rows[-1] + 1)) if plate_rows else [],
        list(range(plate_columns[0], plate_columns[-1] + 1)) if plate_columns else [],
    )
    others = [w for w in wells if w not in places]
    row = plate[0][-1] + 1 if plate[0] else 0
    first = plate[1][0] if plate[1] else 0
    for i, w in enumerate(others):
        places[w] = (row, first + i)
    rows = sorted({r for r, _ in places.values()} | set(plate[0]))
    last = max(c for _, c in places.values())
    columns = list(range(min(c for _, c in places.values()), last + 1))
    return places, rows, columns, plate
