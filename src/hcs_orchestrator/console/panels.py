"""What the console shows beside the microscope: the lab's queue, MERFISH rounds, the overview.

Each panel reads only: the queue from the lab's RE Manager (:mod:`.lab_queue`), the
MERFISH experiment's progress from its journal and catalog
(:func:`~hcs_orchestrator.merfish.status.experiment_progress`, what ``hcs merfish
status`` prints), the newest plate overview from the catalog (:mod:`.overview`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcs_orchestrator.console.lab_queue import EMBEDDED, LabQueue
from hcs_orchestrator.console.overview import LastOverview
from hcs_orchestrator.merfish.status import experiment_progress, has_experiment


@dataclass
class Panels:
    """The console's read-only panels.

    Attributes:
        data_dir: the data directory (for a MERFISH experiment's journal).
        catalog: a Tiled client on its catalog (the overview, the decoding QC).
        queue: the lab's queue, None in embedded mode.
    """

    data_dir: Path | None = None
    catalog: Any = None
    queue: LabQueue | None = None
    overview: LastOverview | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.catalog is not None:
            self.overview = LastOverview(self.catalog)

    def queue_view(self) -> dict[str, Any]:
        """The lab's queue and history, or the embedded mode's message."""
        return self.queue.snapshot() if self.queue is not None else dict(EMBEDDED)

    def merfish_view(self) -> dict[str, Any]:
        """The MERFISH experiment's rounds and QC lines, or ``experiment: None``."""
        if self.data_dir is None or not has_experiment(self.data_dir):
            return {"experiment": None, "message": "no MERFISH experiment in the data directory"}
        try:
            progress = experiment_progress(self.data_dir, self.catalog)
        except Exception as exc:
            return {"experiment": None, "message": f"{type(exc).__name__}: {exc}"}
        return {"experiment": progress.as_dict()}

    def close(self) -> None:
        """Close the lab client, if any."""
        if self.queue is not None:
            self.queue.close()
