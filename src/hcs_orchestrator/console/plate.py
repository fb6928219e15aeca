"""The plate the console shows: wells by name, their centres on the stage, and a run's progress.

:class:`RunTracker` follows the RunEngine's documents of acquisitions (runs that say how
many images they will take; a snap or a plate calibration leaves the last acquisition's
progress shown): which wells of the current run have images, the well being imaged,
how many images of how many, and an estimated end.
Every update belongs to the run now open (rule 4): documents of another run are ignored.
"""

from __future__ import annotations

import string
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from hcs_schema import FRAMES_STREAM, IMAGES_STREAM, frame_key


@dataclass(frozen=True)
class PlateMap:
    """A plate's layout on the stage.

    Attributes:
        rows: rows of wells (8 on a 96-well plate).
        columns: columns of wells (12 on a 96-well plate).
        a1_center_um: stage x, y of well A1's centre (the plate calibration).
        pitch_um: distance between neighbouring wells' centres.
    """

    rows: int = 8
    columns: int = 12
    a1_center_um: tuple[float, float] = (14380.0, 11240.0)
    pitch_um: float = 9000.0

    def well_name(self, row: int, column: int) -> str:
        """``"B3"`` for row 1, column 2 (both from 0)."""
        return f"{string.ascii_uppercase[row]}{column + 1}"

    def well_center_um(self, well: str) -> tuple[float, float]:
        """Stage x, y of a well's centre.

        Raises:
            ValueError: naming the well and the plate's rows and columns.
        """
        letter, number = well[:1].upper(), well[1:]
        row = string.ascii_uppercase.find(letter) if letter else -1
        column = int(number) - 1 if number.isdigit() else -1
        if not (0 <= row < self.rows and 0 <= column < self.columns):
            last = self.well_name(self.rows - 1, self.columns - 1)
            raise ValueError(f"well {well!r} is not on the plate (A1 to {last})")
        x0, y0 = self.a1_center_um
        return x0 + column * self.pitch_um, y0 + row * self.pitch_um

    def with_a1(self, a1_center_um: tuple[float, float]) -> PlateMap:
        """The same plate with A1's centre at ``a1_center_um`` (a new calibration)."""
        return replace(self, a1_center_um=(float(a1_center_um[0]), float(a1_center_um[1])))

    def as_dict(self) -> dict[str, Any]:
        """The layout as JSON-able data."""
        return {
            "rows": self.rows,
            "columns": self.columns,
            "a1_center_um": list(self.a1_center_um),
            "pitch_um": self.pitch_um,
        }


class RunTracker:
    """A document callback: the progress of the run now open, for the console."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._uid = ""
        self._total = 0
        self._done = 0
        self._start = 0.0
        self._ended = ""
        self._images: set[str] = set()
        self._frames: set[str] = set()
        self._acquired: list[str] = []
        self._well = ""

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        """Follow the documents of the run now open."""
        with self._lock:
            if name == "start" and "num_images" in doc:  # an acquisition, not a snap
                self._uid, self._total, self._done = doc["uid"], int(doc.get("num_images", 0)), 0
                self._start, self._ended, self._well = time.monotonic(), "", ""
                self._images, self._frames, self._acquired = set(), set(), []
            elif name == "descriptor" and doc["run_start"] == self._uid:
                if doc["name"] == IMAGES_STREAM:
                    self._images.add(doc["uid"])
                elif doc["name"] == FRAMES_STREAM:
                    self._frames.add(doc["uid"])
            elif name == "stream_datum" and doc["descriptor"] in self._images:
                self._done += doc["indices"]["stop"] - doc["indices"]["start"]
            elif name == "event_page" and doc["descriptor"] in self._frames:
                for well in doc["data"].get(frame_key("well"), []):
                    if well not in self._acquired:
                        self._acquired.append(str(well))
                    self._well = str(well)
            elif name == "stop" and doc["run_start"] == self._uid:
                self._ended = doc["exit_status"]

    def snapshot(self) -> dict[str, Any]:
        """The run's progress: uid, images done and total, wells, estimated seconds left."""
        with self._lock:
            elapsed = time.monotonic() - self._start if self._uid else 0.0
            left = None
            if self._done and self._total and not self._ended:
                left = elapsed * (self._total - self._done) / self._done
            return {
                "run_uid": self._uid,
                "images": self._done,
                "total": self._total,
                "acquired_wells": list(self._acquired),
                "current_well": self._well,
                "seconds_left": left,
                "exit_status": self._ended,
            }
