"""useq sequences that together use every field of ``useq.MDASequence``.

:data:`SUPPORTED` holds those hcs carries out (with the spec fields each needs),
:data:`REFUSED` those it refuses (with the field the refusal names). useq's own
iteration of a sequence, in hcs's coordinates, is :func:`useq_images`.
"""

from __future__ import annotations

from typing import Any

import useq

A1 = [14380.0, 11240.0]
FOCUS_Z_UM = 3000.0
FOV = {"fov_width": 400.0, "fov_height": 300.0}
HERE = {"x": 20000.0, "y": 20000.0}

Image = tuple[float, float, float, str, int, float]

#: Sequences hcs carries out, each with the spec fields it needs.
SUPPORTED: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "positions with their own z, a grid, a z range and channel overrides": (
        {
            "stage_positions": [
                {"x": 20000.0, "y": 21000.0, "z": 2990.0, "name": "left"},
                {"x": 30000.0, "y": 21500.0, "z": 3010.0},
            ],
            "grid_plan": {"rows": 2, "columns": 3, "overlap": [10.0, 5.0], **FOV},
            "z_plan": {"range": 2.0, "step": 1.0},
            "channels": [
                {"config": "DAPI", "exposure": 12.0},
                {"config": "GFP", "z_offset": 0.5, "do_stack": False},
            ],
            "axis_order": "tpgcz",
            "metadata": {"operator": "A. N. Other"},
        },
        {"z_reference": "stage"},
    ),
    "a plate with a grid in each well": (
        {
            "stage_positions": {
                "plate": 96,
                "a1_center_xy": A1,
                "selected_wells": [[0, 1, 2], [0, 4, 7]],
                "well_points_plan": {"rows": 2, "columns": 2, "overlap": 0, **FOV},
            },
            "channels": ["DAPI", "Cy5"],
        },
        {},
    ),
    "a rotated plate, one offset point per well": (
        {
            "stage_positions": {
                "plate": 96,
                "a1_center_xy": A1,
                "rotation": 1.5,
                "selected_wells": [[0, 3, 7], [0, 5, 11]],
                "well_points_plan": {"x": 150.0, "y": -80.0},
            },
            "channels": ["BF"],
        },
        {},
    ),
    "z above and below, a channel only in the middle plane of an even stack": (
        {
            "stage_positions": [HERE],
            "z_plan": {"above": 1.5, "below": 1.5, "step": 1.0},
            "channels": ["DAPI", {"config": "GFP", "do_stack": False}],
            "axis_order": "tpgzc",
        },
        {},
    ),
    "absolute z from top to bottom": (
        {
            "stage_positions": [HERE],
            "z_plan": {"top": 3004.0, "bottom": 2998.0, "step": 2.0},
            "channels": ["DAPI"],
        },
        {},
    ),
    "relative z positions": (
        {
            "stage_positions": [HERE],
            "z_plan": {"relative": [-2.0, 0.0, 3.0]},
            "channels": ["Cy3", "Cy5"],
            "axis_order": "tpgzc",
        },
        {},
    ),
    "absolute z positions": (
        {
            "stage_positions": [HERE],
            "z_plan": {"absolute": [2999.0, 3001.5]},
            "channels": ["GFP"],
        },
        {},
    ),
    "interval and loops, a channel every other time point": (
        {
            "stage_positions": [HERE],
            "time_plan": {"interval": 2.0, "loops": 4},
            "channels": ["DAPI", {"config": "GFP", "acquire_every": 2}],
        },
        {},
    ),
    "duration and loops": (
        {"stage_positions": [HERE], "time_plan": {"duration": 6.0, "loops": 4}, "channels": ["BF"]},
        {},
    ),
    "interval and duration": (
        {
            "stage_positions": [HERE],
            "time_plan": {"interval": 1.5, "duration": 4.5},
            "channels": ["BF"],
        },
        {},
    ),
    "a multi-phase time plan": (
        {
            "stage_positions": [HERE],
            "time_plan": {"phases": [{"interval": 1.0, "loops": 3}, {"interval": 5.0, "loops": 2}]},
            "channels": ["DAPI", {"config": "Cy3", "acquire_every": 3}],
        },
        {},
    ),
}

#: Sequences hcs refuses, each with the field the refusal names.
REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "a sequence of its own at a position": (
        {
            "stage_positions": [{**HERE, "sequence": {"grid_plan": {"rows": 2, "columns": 2}}}],
            "channels": ["DAPI"],
        },
        "stage_positions[0].sequence",
    ),
    "random points in each well": (
        {
            "stage_positions": {
                "plate": 96,
                "a1_center_xy": A1,
                "selected_wells": [[0], [0]],
                "well_points_plan": {"num_points": 5, "max_width": 1000, "max_height": 1000},
            },
            "channels": ["DAPI"],
        },
        "well_points_plan",
    ),
    "random points around a position": (
        {
            "stage_positions": [HERE],
            "grid_plan": {"num_points": 4, "max_width": 500, "max_height": 500},
            "channels": ["DAPI"],
        },
        "grid_plan",
    ),
    "a grid from edges": (
        {
            "stage_positions": [HERE],
            "grid_plan": {"top": 0, "left": 0, "bottom": 500, "right": 500, **FOV},
            "channels": ["DAPI"],
        },
        "grid_plan",
    ),
    "a grid of a width and height": (
        {
            "stage_positions": [HERE],
            "grid_plan": {"width": 800, "height": 600, **FOV},
            "channels": ["DAPI"],
        },
        "grid_plan",
    ),
    "a useq autofocus plan": (
        {
            "stage_positions": [HERE],
            "channels": ["DAPI"],
            "autofocus_plan": {"autofocus_motor_offset": 10.0, "axes": ["p"]},
        },
        "autofocus_plan",
    ),
    "a setup event": (
        {"stage_positions": [HERE], "channels": ["DAPI"], "setup": {"exposure": 50.0}},
        "setup",
    ),
    "the shutter kept open": (
        {"stage_positions": [HERE], "channels": ["DAPI"], "keep_shutter_open_across": ["z"]},
        "keep_shutter_open_across",
    ),
}


def useq_images(sequence: dict[str, Any]) -> list[Image]:
    """Every event useq iterates, in hcs's coordinates (y mirrored about its reference)."""
    seq = useq.MDASequence.model_validate(sequence)
    positions = seq.stage_positions
    images: list[Image] = []
    for event in seq:
        if isinstance(positions, useq.WellPlatePlan):
            reference_y = float(positions.a1_center_xy[1])
        else:
            reference_y = float(positions[event.index.get("p", 0)].y or 0.0)
        assert event.x_pos is not None and event.y_pos is not None and event.channel is not None
        images.append(
            image(
                event.x_pos,
                2 * reference_y - event.y_pos,
                event.z_pos or 0.0,
                event.channel.config,
                event.index.get("t", 0),
                event.min_start_time or 0.0,
            )
        )
    return images


def image(x: float, y: float, z: float, channel: str, t: int, start_s: float) -> Image:
    return (round(x, 2), round(y, 2), round(z, 3), channel, t, round(start_s, 3))
