"""Helpers for the live-view and preview tests: a small spec, frame waits, resource counts."""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from typing import Any

from storage_support import A1_XY_UM

from hcs_devices.camera.preview import PreviewSubscription
from hcs_plans import AcquisitionSpec, spec_from_data

#: Centre of well A1 and the well pitch of the 96-well plate (um).
PITCH_UM = 9000.0


def one_well_spec(
    fields_per_side: int = 1, channels: tuple[str, ...] = ("DAPI",), well: tuple[int, int] = (1, 1)
) -> AcquisitionSpec:
    """One well (row, column index from 0), a square grid of fields, channels at 1 ms."""
    return spec_from_data(
        {
            "sequence": {
                "axis_order": "tpgcz",
                "stage_positions": {
                    "plate": 96,
                    "a1_center_xy": list(A1_XY_UM),
                    "selected_wells": [[well[0]], [well[1]]],
                    "well_points_plan": {
                        "rows": fields_per_side,
                        "columns": fields_per_side,
                        "overlap": 0.0,
                    },
                },
                "channels": [{"config": name, "exposure": 1.0} for name in channels],
            }
        }
    )


def well_center_um(row: int, column: int) -> tuple[float, float]:
    """Centre of a well of the 96-well plate (row, column index from 0)."""
    return A1_XY_UM[0] + column * PITCH_UM, A1_XY_UM[1] + row * PITCH_UM


def frames_of(viewer: PreviewSubscription, count: int, timeout_s: float = 30.0) -> list[Any]:
    """The next ``count`` frames a viewer gets (fails if they do not come in time)."""
    frames = []
    deadline = time.monotonic() + timeout_s
    while len(frames) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(frames)} of {count} preview frames came in {timeout_s} s"
        frame = viewer.get(timeout_s=left)
        if frame is not None:
            frames.append(frame)
    return frames


def open_fds() -> int:
    """File descriptors open in this process."""
    return len(os.listdir("/proc/self/fd"))


def thread_kinds() -> list[str]:
    """What each live thread of this process runs (its name without its serial number)."""
    return sorted(re.sub(r"-\d+", "", t.name) for t in threading.enumerate() if t.is_alive())


def threads_settle_to(baseline: list[str], timeout_s: float = 10.0) -> list[str]:
    """The thread kinds running beyond ``baseline``, once none are (or after ``timeout_s``).

    Threads that end on their own (a RunEngine's Ctrl-C watcher, a catalog connection)
    may still be finishing when a run returns; threads of the baseline that ended since
    (an earlier test's) are not counted either way.
    """
    deadline = time.monotonic() + timeout_s
    extra = sorted((Counter(thread_kinds()) - Counter(baseline)).elements())
    while extra and time.monotonic() < deadline:
        threading.Event().wait(0.05)
        extra = sorted((Counter(thread_kinds()) - Counter(baseline)).elements())
    return extra
