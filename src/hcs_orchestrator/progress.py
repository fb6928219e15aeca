"""Progress of a run, from its documents: every update names the run it belongs to."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from hcs_schema import IMAGES_STREAM


@dataclass(frozen=True)
class ProgressUpdate:
    """How far a run is."""

    run_uid: str
    done: int
    total: int
    elapsed_s: float


class RunProgress:
    """A document callback that reports image progress of the current run.

    Images are counted as the run announces them (StreamDatum documents of its
    ``primary`` stream). Documents of other runs (a late one from an earlier run) are
    ignored: progress counts only documents whose descriptor belongs to the run now open.
    """

    def __init__(self, report: Callable[[ProgressUpdate], None]) -> None:
        self._report = report
        self._uid = ""
        self._total = 0
        self._done = 0
        self._start = 0.0
        self._descriptors: set[str] = set()

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        """Follow the documents of the run now open."""
        if name == "start":
            self._uid = doc["uid"]
            self._total = int(doc.get("num_images", 0))
            self._done = 0
            self._start = time.monotonic()
            self._descriptors = set()
        elif (
            name == "descriptor" and doc["run_start"] == self._uid and doc["name"] == IMAGES_STREAM
        ):
            self._descriptors.add(doc["uid"])
        elif name == "stream_datum" and doc["descriptor"] in self._descriptors:
            self._done += doc["indices"]["stop"] - doc["indices"]["start"]
            self._report(
                ProgressUpdate(self._uid, self._done, self._total, time.monotonic() - self._start)
            )


class ProgressBar:
    """Prints a one-line progress bar to a terminal."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.stream = stream
        self.width = width

    def __call__(self, update: ProgressUpdate) -> None:
        """Redraw the bar."""
        total = max(update.total, 1)
        filled = int(self.width * update.done / total)
        bar = "#" * filled + "-" * (self.width - filled)
        rate = update.done / update.elapsed_s if update.elapsed_s > 0 else 0.0
        self.stream.write(
            f"\r[{bar}] {update.done}/{update.total} images  {rate:5.1f}/s  "
            f"run {update.run_uid[:8]}"
        )
        if update.done >= update.total:
            self.stream.write("\n")
        self.stream.flush()
