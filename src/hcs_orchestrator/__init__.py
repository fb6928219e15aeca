"""Protocols, the durable journal, resume, session wiring and the ``hcs`` command.

The public API is re-exported here::

    from hcs_orchestrator import DEFAULT_CONFIG, open_session

The ``hcs`` command is ``hcs_orchestrator.cli``, and importing it runs this file: so
that ``hcs --help`` and a refused input answer at once, the names that need the
devices, the RunEngine or Tiled are loaded on first use (lazy loading as in Scientific
Python's SPEC 1, with ``lazy_loader``), not to hide an import cycle:
``tests/unit/test_public_api.py`` imports each of them in a fresh interpreter. Only the
packaged file paths are imported here.
"""

from typing import TYPE_CHECKING

import lazy_loader

from hcs_orchestrator.paths import DEFAULT_CONFIG, DEMO_SPEC

if TYPE_CHECKING:
    from hcs_orchestrator.acquisition import AcquisitionSummary, run_acquisition
    from hcs_orchestrator.preflight import CheckedAcquisition, check_acquisition, describe_plan
    from hcs_orchestrator.session import Session, open_session

__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "acquisition": ["AcquisitionSummary", "run_acquisition"],
        "preflight": ["CheckedAcquisition", "check_acquisition", "describe_plan"],
        "session": ["Session", "open_session"],
    },
)

__all__ = [
    "DEFAULT_CONFIG",
    "DEMO_SPEC",
    "AcquisitionSummary",
    "CheckedAcquisition",
    "Session",
    "check_acquisition",
    "describe_plan",
    "open_session",
    "run_acquisition",
]
