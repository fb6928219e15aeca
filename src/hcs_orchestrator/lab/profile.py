"""The session the startup profile opens, at the IPython prompt or in the RE worker.

The startup files (``profile/startup``) serve two hosts. At an IPython prompt the
session is embedded: it writes to the data directory's own catalog. In the queue
server's RE worker (lab mode) it writes its documents to the spool only; the
forwarder process (``hcs forward``) takes them to the Tiled server, which holds the
directory's catalog, so the worker never writes to Tiled itself.

Environment: ``HCS_CONFIG`` (microscope YAML; default: the simulated microscope) and
``HCS_DATA_DIR`` (default: ``./hcs-data``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, cast

from bluesky.utils import PersistentDict

from hcs_orchestrator.lab.layout import WORKER_COMMAND
from hcs_orchestrator.session import Session, open_session

CONFIG_ENV = "HCS_CONFIG"
DATA_DIR_ENV = "HCS_DATA_DIR"
DEFAULT_DATA_DIR = "hcs-data"
#: The RunEngine's metadata (``RE.md``: ``scan_id`` and what the user adds), kept in the
#: data directory, so scan ids go on counting from one session to the next.
RE_METADATA_DIR = "runengine-metadata"


def in_re_worker() -> bool:
    """True when this code runs in bluesky-queueserver's RE worker.

    False when the queue server is not installed (it is the ``lab`` extra).
    """
    try:
        from bluesky_queueserver import is_re_worker_active
    except ImportError:
        return False
    return bool(is_re_worker_active())


def open_profile_session(environ: Mapping[str, str] | None = None) -> Session:
    """Open the session of the startup profile.

    Args:
        environ: where ``HCS_CONFIG`` and ``HCS_DATA_DIR`` are read (this process's
            environment by default).

    Returns:
        An embedded session at the prompt; in the RE worker, a session that spools
        its documents for the forwarder process, opens no catalog, and records MERFISH
        units' runs in the data directory's experiment journal. Either way its
        ``RE.md`` is a bluesky ``PersistentDict`` in ``DATA_DIR/runengine-metadata``
        (one process at a time: the data directory's owner).
    """
    env = os.environ if environ is None else environ
    worker = in_re_worker()
    session = open_session(
        env.get(CONFIG_ENV) or None,
        env.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR,
        forwarder=not worker,
        command=WORKER_COMMAND if worker else None,
    )
    if worker:
        # MERFISH units queued by `hcs merfish run --lab` journal their own runs.
        from hcs_orchestrator.merfish.journal import DataDirJournalRecorder

        session.RE.subscribe(DataDirJournalRecorder(session.data_dir))
    # bluesky types RE.md as a dict; its docs give a PersistentDict for persistence.
    metadata = PersistentDict(str(session.data_dir / RE_METADATA_DIR))
    session.RE.md = cast("dict[str, Any]", metadata)
    return session
