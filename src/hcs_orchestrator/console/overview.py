"""The plate overview of the newest finished acquisition, as a PNG for the console.

The picture is :func:`hcs_storage.overview.render_overview`'s (the one ``hcs acquire
--overview`` writes). The newest run of ``acquire_plate`` that has ended and recorded
images is drawn once and kept until a newer one ends; while an acquisition runs
nothing new is drawn, so the console never competes with it for the processor.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Any

from hcs_storage.overview import render_overview
from hcs_storage.query import find_runs, has_images

#: The longer side of a well's drawing on the console (pixels).
WELL_PX = 128
#: Newest acquisitions looked at for one that ended with images.
LOOK_BACK = 5


@dataclass(frozen=True)
class Overview:
    """A run's overview picture.

    Attributes:
        run_uid: the run drawn.
        exit_status: how it ended.
        png: the picture.
    """

    run_uid: str
    exit_status: str
    png: bytes


class LastOverview:
    """The overview of a catalog's newest finished plate acquisition.

    Args:
        catalog: a Tiled client on the catalog.
        well_px: the longer side of a well's drawing (pixels).
    """

    def __init__(self, catalog: Any, well_px: int = WELL_PX) -> None:
        self._catalog = catalog
        self._well_px = well_px
        self._lock = threading.Lock()
        self._kept: Overview | None = None

    def newest_run(self) -> Any | None:
        """The newest ``acquire_plate`` run that has ended and recorded images, or None."""
        runs = find_runs(self._catalog, plan_name="acquire_plate").sort(("start.time", -1))
        for run in runs.values().head(LOOK_BACK):
            if (run.metadata.get("stop") or {}).get("exit_status") and has_images(run):
                return run
        return None

    def latest(self, *, refresh: bool = True) -> Overview | None:
        """The newest finished acquisition's overview (drawn now if it is new), or None.

        Args:
            refresh: look for a newer run and draw it; False while an acquisition runs,
                so that the console neither reads the catalog nor draws (drawing reads
                every image of the run) beside it: the picture kept is returned.
        """
        with self._lock:
            if not refresh:
                return self._kept
            run = self.newest_run()
            if run is None:
                return None
            uid = str(run.metadata["start"]["uid"])
            if self._kept is None or self._kept.run_uid != uid:
                picture, _ = render_overview(run, self._well_px)
                buffer = io.BytesIO()
                picture.save(buffer, format="PNG")
                status = str(run.metadata["stop"]["exit_status"])
                self._kept = Overview(uid, status, buffer.getvalue())
            return self._kept
