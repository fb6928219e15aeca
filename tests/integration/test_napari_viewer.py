"""The napari viewer of the shared-memory preview, where napari is installed.

napari is an optional dependency (``pip install 'hcs[napari]'``), not in the ``dev``
extra: these tests are skipped where it is missing, or where there is no display for
its OpenGL canvas (Qt's offscreen platform has no OpenGL; run under ``xvfb-run``).
The frames come from a real console session publishing to shared memory.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from console_support import served_console
from preview_support import frames_of

from hcs_devices.config import MicroscopeConfig
from hcs_orchestrator.viewers.napari_viewer import LAYER, main, view

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("napari") is None, reason="napari not installed"),
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="napari needs a display (xvfb-run)"),
    # napari's own warnings on import (its pydantic models, its Qt5 theme detection).
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20"),
    pytest.mark.filterwarnings("ignore:System theme detection requires a Qt6 backend"),
]


def test_napari_shows_the_newest_live_frame_of_the_console_with_its_metadata(
    fast_profile_config: MicroscopeConfig, tmp_path: Path
) -> None:
    with served_console(fast_profile_config, tmp_path, shared_memory=True) as served:
        slot = served.console.slot
        assert slot is not None
        shown = view(slot.name, show=False)
        try:
            viewer = served.console.control.microscope.camera.preview.subscribe()
            served.console.control.start_live(channel="GFP")
            frames_of(viewer, 2)
            served.console.control.stop_live()
            viewer.close()
            assert shown.update()
            layer = shown.viewer.layers[LAYER]
            latest = served.console.control.microscope.camera.preview.latest
            assert latest is not None
            assert np.array_equal(layer.data, latest.pixels)
            assert layer.metadata["channel"] == "GFP"
            assert layer.metadata["seq"] == latest.meta.seq
            assert not shown.update()  # no new frame: nothing to do
        finally:
            shown.close()
            shown.viewer.close()


def test_napari_viewer_says_there_is_no_segment_to_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hcs-preview-nothing-here"]) == 2
    assert "no preview segment 'hcs-preview-nothing-here'" in capsys.readouterr().err
