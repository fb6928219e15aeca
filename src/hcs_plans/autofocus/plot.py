"""The focus-curve figure of a contrast autofocus run, drawn from its documents.

matplotlib is not a dependency, so the figure is drawn with Pillow: the focus measure
against z for each attempt, the planes sampled (coarse and fine), and the focus found
(a vertical line). :func:`focus_curves` reads the curves back from any run's
documents (the ``focus_curve`` stream).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from hcs_plans.autofocus.result import FOCUS_CURVE_STREAM

#: Line colours of successive attempts.
COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14))


def focus_curves(
    documents: Iterable[tuple[str, Mapping[str, Any]]], stream: str = FOCUS_CURVE_STREAM
) -> dict[int, list[tuple[float, float]]]:
    """The focus curves in a run's documents: attempt -> [(z um, measure), ...] in order."""
    descriptors: set[str] = set()
    curves: dict[int, list[tuple[float, float]]] = {}
    for name, doc in documents:
        if name == "descriptor" and doc.get("name") == stream:
            descriptors.add(doc["uid"])
        elif name == "event" and doc["descriptor"] in descriptors:
            data = doc["data"]
            z = next(v for k, v in data.items() if k.endswith("-z_um"))
            measure = next(v for k, v in data.items() if k.endswith("-measure"))
            attempt = int(next(v for k, v in data.items() if k.endswith("-attempt")))
            curves.setdefault(attempt, []).append((float(z), float(measure)))
    return curves


def plot_focus_curve(
    curve: list[tuple[float, float]],
    path: str | Path,
    *,
    focus_z_um: float | None = None,
    true_z_um: float | None = None,
    title: str = "contrast autofocus: focus measure against z",
    size_px: tuple[int, int] = (720, 420),
) -> Path:
    """Draw one focus curve as a PNG and return its path.

    Args:
        curve: (z um, measure) in acquisition order (coarse sweep, then fine).
        path: where to write the PNG.
        focus_z_um: the focus found (a solid vertical line).
        true_z_um: the true focal plane, if known (a dashed vertical line).
        title: the figure title.
        size_px: width and height.
    """
    width, height = size_px
    left, right, top, bottom = 70, 20, 40, 50
    image = Image.new("RGB", size_px, "white")
    draw = ImageDraw.Draw(image)
    zs = [z for z, _ in curve]
    ms = [m for _, m in curve]
    z0, z1 = min(zs), max(zs)
    m0, m1 = 0.0, max(ms) * 1.1 or 1.0
    span_z = (z1 - z0) or 1.0

    def px(z: float, m: float) -> tuple[float, float]:
        x = left + (z - z0) / span_z * (width - left - right)
        y = height - bottom - (m - m0) / (m1 - m0) * (height - top - bottom)
        return x, y

    draw.rectangle((left, top, width - right, height - bottom), outline="black")
    for i in range(6):
        z = z0 + i * span_z / 5
        x, _ = px(z, m0)
        draw.line((x, height - bottom, x, height - bottom + 5), fill="black")
        draw.text((x - 18, height - bottom + 8), f"{z - z0:.0f}", fill="black")
        m = m0 + i * (m1 - m0) / 5
        _, y = px(z0, m)
        draw.line((left - 5, y, left, y), fill="black")
        draw.text((5, y - 6), f"{m:.3g}", fill="black")
    draw.text((width // 2 - 80, height - 20), f"z - {z0:.1f} um", fill="black")
    draw.text((left, 10), title, fill="black")
    ordered = sorted(curve)
    draw.line([px(z, m) for z, m in ordered], fill=COLOURS[0], width=2)
    for i, (z, m) in enumerate(curve):
        x, y = px(z, m)
        colour = (0, 0, 0) if i < len(curve) - 3 else COLOURS[1]
        draw.ellipse((x - 4, y - 4, x + 4, y + 4), outline=colour, width=2)
    if true_z_um is not None and z0 <= true_z_um <= z1:
        x, _ = px(true_z_um, m0)
        for y in range(top, height - bottom, 10):
            draw.line((x, y, x, y + 5), fill=COLOURS[2], width=2)
    if focus_z_um is not None and z0 <= focus_z_um <= z1:
        x, _ = px(focus_z_um, m0)
        draw.line((x, top, x, height - bottom), fill=COLOURS[1], width=1)
    legend = "o coarse sweep   o fine (red)   | focus found (red)"
    if true_z_um is not None:
        legend += "   : true focal plane (green)"
    draw.text((left + 10, top + 8), legend, fill="black")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, format="PNG")
    return out
