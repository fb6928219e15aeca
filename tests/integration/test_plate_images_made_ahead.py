"""The simulated camera makes a plate's images ahead of its exposures, field after field.

The plate plan prepares the camera for each field of view with the next field's frames
too, so the simulated camera renders the next field's images while it takes this
field's. Every image of the run must then be made ahead (none waits to be rendered at
its exposure, the stage still travelling when a field is prepared), each field's first
image before that field is prepared, and the frames must be exactly those of a camera
that renders every image at its exposure.

The run is a real RunEngine on the simulated microscope with realistic rendering
(512 x 512 frames); the renderer and the exposures are wrapped to log what happens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from bluesky.run_engine import RunEngine
from bluesky.utils import Msg

from hcs_devices.camera.field import FieldSequence
from hcs_devices.config import MicroscopeConfig
from hcs_devices.factory import Microscope
from hcs_devices.sim.camera import SimFrameSource
from hcs_plans.acquire import acquire_plate
from hcs_plans.specs import spec_from_data

pytestmark = pytest.mark.slow  # system tests of a second or more each

#: Three fields of view in B2 (its centre with the shipped plate calibration) and one in
#: B3, each 300 um apart: a new well's cells are built ahead too.
B2_X_UM, B2_Y_UM = 23_380.0, 20_240.0
FIELDS_XY_UM = [
    (B2_X_UM - 300.0, B2_Y_UM),
    (B2_X_UM, B2_Y_UM),
    (B2_X_UM + 300.0, B2_Y_UM),
    (B2_X_UM + 9_000.0, B2_Y_UM),
]


def spec(hardware_sequencing: bool) -> Any:
    return spec_from_data(
        {
            "hardware_sequencing": hardware_sequencing,
            "sequence": {
                "stage_positions": [{"x": x, "y": y} for x, y in FIELDS_XY_UM],
                "channels": [
                    {"config": "DAPI", "exposure": 5.0},
                    {"config": "GFP", "exposure": 5.0},
                ],
                "z_plan": {"range": 1.0, "step": 1.0},
            },
        }
    )


class _Log:
    """Images rendered (thread, view centre x, start time) and frames exposed."""

    def __init__(self, source: SimFrameSource) -> None:
        self.renders: list[tuple[str, float, float]] = []
        self.frames: list[np.ndarray] = []
        render, expose = source.renderer.expected, source.expose

        def rendered(*args: Any) -> np.ndarray:
            start = time.monotonic()
            self.renders.append((threading.current_thread().name, args[0].center_x_um, start))
            return render(*args)

        async def exposed(*args: Any) -> np.ndarray:
            frame = await expose(*args)
            self.frames.append(frame.copy())
            return frame

        source.renderer.expected = rendered  # type: ignore[method-assign]
        source.expose = exposed  # type: ignore[method-assign]


def simulated(microscope: Microscope) -> SimFrameSource:
    source = microscope.camera.source
    assert isinstance(source, SimFrameSource)
    return source


@pytest.mark.parametrize("hardware_sequencing", [True, False], ids=["burst", "software"])
def test_plate_images_are_made_ahead_a_field_early_and_are_the_same_frames(
    small_config: MicroscopeConfig,
    make_microscope: Callable[..., Microscope],
    RE: RunEngine,
    hardware_sequencing: bool,
) -> None:
    ahead_scope, plain_scope = make_microscope(small_config), make_microscope(small_config)
    ahead, plain = _Log(simulated(ahead_scope)), _Log(simulated(plain_scope))
    simulated(plain_scope).looks_ahead = lambda: False  # type: ignore[method-assign]
    prepared: list[tuple[float, float]] = []  # (field x, time) of each field's prepare

    def hook(msg: Msg) -> None:
        if msg.command == "prepare" and isinstance(msg.args[0], FieldSequence):
            prepared.append((float(msg.args[0].frames[0].row["x_um"]), time.monotonic()))

    RE.msg_hook = hook
    RE(acquire_plate(ahead_scope, spec(hardware_sequencing)))
    RE.msg_hook = None
    RE(acquire_plate(plain_scope, spec(hardware_sequencing)))

    frames = len(FIELDS_XY_UM) * 2 * 2
    assert len(ahead.frames) == len(plain.frames) == frames
    for i, (a, b) in enumerate(zip(ahead.frames, plain.frames, strict=True)):
        assert np.array_equal(a, b), f"frame {i} differs when its image was made ahead"
    at_exposure = [r for r in ahead.renders if not r[0].startswith("sim-camera-ahead")]
    assert at_exposure == [], f"images rendered at their exposure: {at_exposure}"
    assert len(ahead.renders) == frames, "each image made once"
    assert all(not r[0].startswith("sim-camera-ahead") for r in plain.renders)
    # Each field after the first: its first image was under way before it was prepared.
    assert [x for x, _ in prepared] == [x for x, _ in FIELDS_XY_UM]
    for x, prepared_at in prepared[1:]:
        first = min(start for _, cx, start in ahead.renders if abs(cx - x) < 1.0)
        assert first < prepared_at, f"field at x={x}: its images waited for its prepare"
