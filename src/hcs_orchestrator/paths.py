"""What hcs ships to run: the default microscope and the demo sequence (package data).

The files live in ``hcs_orchestrator/data/`` and are found with
:mod:`importlib.resources`, so they are there in a source checkout and in an
installed wheel alike. They are the one copy: the IPython profile (``profile/``)
loads them from here.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _packaged(*parts: str) -> Path:
    """The path of a file shipped in ``hcs_orchestrator/data/``.

    Raises:
        RuntimeError: hcs is installed somewhere its files are not on the file
            system (a zip archive), where a path cannot be given.
    """
    resource = files("hcs_orchestrator").joinpath("data", *parts)
    if not isinstance(resource, Path):
        raise RuntimeError(f"hcs's packaged {'/'.join(parts)} is not a file on disk")
    return resource


#: The package data directory (the default microscope and example sequences).
DATA_DIR = _packaged()
#: The microscope configuration shipped with hcs (a simulated Squid-like instrument).
DEFAULT_CONFIG = _packaged("microscope.yaml")
#: The demo plate acquisition of ``hcs demo``.
DEMO_SPEC = _packaged("sequences", "demo-96.yaml")

__all__ = ["DATA_DIR", "DEFAULT_CONFIG", "DEMO_SPEC"]
