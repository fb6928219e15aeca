"""Previewed acquisition frames: the camera and the writer drop nothing for a slow viewer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import bluesky.plan_stubs as bps
import pytest
from bluesky import RunEngine
from preview_support import one_well_spec

from hcs_devices.camera.shared_frame import SharedFrameReader, SharedFrameSlot, leftover_segments
from hcs_devices.factory import Microscope
from hcs_plans import acquire_plate

pytestmark = pytest.mark.slow  # system tests of a second or more each


def test_camera_and_writer_drop_nothing_while_a_slow_viewer_drops_when_previewing(
    RE: RunEngine, microscope: Microscope, run_on_re_loop: Callable[..., Any]
) -> None:
    camera = microscope.camera
    RE(bps.mv(camera.preview_every_n, 1))
    viewer = camera.preview.subscribe()
    slot = SharedFrameSlot(512, 512)
    camera.preview.add_sink(slot)
    reader = SharedFrameReader(slot.name)
    seen: list[dict[str, Any]] = []
    try:
        # The slowest viewer: it reads nothing while the plate is acquired.
        RE(acquire_plate(microscope, one_well_spec(3, ("DAPI", "GFP", "Cy3"))))
        threading.Event().wait(0.2)
        while (got := viewer.get(timeout_s=0.2)) is not None:
            seen.append(got.meta.as_dict())
        shared = reader.read()
    finally:
        reader.close()
        camera.preview.remove_sink(slot)
        slot.close()
        viewer.close()
    images = 9 * 3
    writer = camera.data
    assert run_on_re_loop(writer.frames_written.get_value) == images
    assert camera.preview.offered == images
    # The slow viewer missed frames (dropped at the tap or at the viewer), nothing else did.
    missed = viewer.dropped + camera.preview.dropped
    assert missed >= images - 2 and 1 <= viewer.delivered <= 2
    assert viewer.delivered + missed in (images - 1, images)  # the last may still be held
    assert {m["mode"] for m in seen} == {"acquisition"}
    assert {m["channel"] for m in seen} <= {"DAPI", "GFP", "Cy3"}
    assert shared is not None and shared[1].seq == images
    assert leftover_segments() == []


def test_acquisition_previews_one_frame_in_every_n_when_decimated(
    RE: RunEngine, microscope: Microscope, run_on_re_loop: Callable[..., Any]
) -> None:
    camera = microscope.camera
    RE(bps.mv(camera.preview_every_n, 4))
    viewer = camera.preview.subscribe()
    try:
        RE(acquire_plate(microscope, one_well_spec(2, ("DAPI", "GFP"))))
    finally:
        viewer.close()
    assert run_on_re_loop(camera.data.frames_written.get_value) == 8
    assert camera.preview.offered == 2  # frames 1 and 5 of 8
