"""Protocols, the durable journal, resume, session wiring and the ``hcs`` command.

The public API is re-exported here::

    from hcs_orchestrator import DEFAULT_CONFIG, open_session

The ``hcs`` command is ``hcs_orchestrator.cli``, and importing it runs this file: so
that ``hcs --help`` and a refused input answer at once, the names that need the
devices, the RunEngine or Tiled are loaded on first use (lazy loading as in Scientific
Python's SPEC 1), not to hide an import cycle: ``tests/unit/test_public_api.py``
imports each of them in a fresh interpreter. Only the packaged file paths are imported
here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hcs_orchestrator.paths import DEFAULT_CONFIG, DEMO_SPEC

if TYPE_CHECKING:
    from hcs_orchestrator.acquisition import AcquisitionSummary, run_acquisition
    from hcs_orchestrator.preflight import CheckedAcquisition, check_acquisition, describe_plan
    from hcs_orchestrator.session import Session, open_session

#: Names loaded on first use -> their module.
_HEAVY = {
    "CheckedAcquisition": "hcs_orchestrator.preflight",
    "check_acquisition": "hcs_orchestrator.preflight",
    "describe_plan": "hcs_orchestrator.preflight",
    "AcquisitionSummary": "hcs_orchestrator.acquisition",
    "run_acquisition": "hcs_orchestrator.acquisition",
    "Session": "hcs_orchestrator.session",
    "open_session": "hcs_orchestrator.session",
}

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


def __getattr__(name: str) -> Any:
    if name in _HEAVY:
        value = getattr(importlib.import_module(_HEAVY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
