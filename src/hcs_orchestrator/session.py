"""A session: the RunEngine, the microscope and the catalog, wired together.

This is the one place that knows all the roles: the IPython profile, the command line
and the tests open a session the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bluesky.run_engine import call_in_bluesky_event_loop

from hcs_devices.config import MicroscopeConfig, load_config
from hcs_devices.factory import Microscope, build_microscope
from hcs_orchestrator.engine import MicroscopeRunEngine
from hcs_orchestrator.paths import DEFAULT_CONFIG
from hcs_storage.catalog import open_catalog
from hcs_storage.forwarder import DurableStorage


@dataclass
class Session:
    """Everything an acquisition needs, ready to use.

    Attributes:
        RE: the RunEngine that owns the microscope while it runs a plan.
        microscope: the devices.
        catalog: a Tiled client on the data directory's catalog.
        storage: the durable document path: every document is appended to a local
            spool, which a forwarder drains into the catalog (rule 6).
        data_dir: the data directory.
    """

    RE: MicroscopeRunEngine
    microscope: Microscope
    catalog: Any
    storage: DurableStorage
    data_dir: Path
    _closed: bool = field(default=False, repr=False)

    def flush(self, timeout_s: float | None = 60.0) -> bool:
        """Wait until the catalog holds every document emitted so far."""
        return self.storage.flush(timeout_s)

    def close(self) -> None:
        """Flush storage, put the microscope in its safe state and release it."""
        if self._closed:
            return
        self._closed = True
        self.storage.close(60.0)
        call_in_bluesky_event_loop(self.microscope.safe_state())
        self.microscope.close()


def open_session(
    config: MicroscopeConfig | str | Path | None = None,
    data_dir: str | Path = "hcs-data",
    *,
    catalog: Any | None = None,
    writer_capacity: int = 8,
    forwarder: bool = True,
) -> Session:
    """Build the microscope, connect it, open the catalog and wire the documents.

    Args:
        config: a configuration, or the path of a YAML file (the shipped simulated
            microscope by default).
        data_dir: where the catalog and the frames live.
        catalog: a Tiled client to write to instead of the data directory's
            embedded catalog (e.g. a Tiled server's).
        writer_capacity: frames that may wait in memory for the disk.
        forwarder: run the forwarder in this process (embedded mode); False when a
            forwarder process drains the spool (lab mode: ``python -m
            hcs_storage.forwarder``), and then ``flush`` waits on its progress.
    """
    if not isinstance(config, MicroscopeConfig):
        config = load_config(config or DEFAULT_CONFIG)
    root = Path(data_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    client = catalog if catalog is not None else open_catalog(root)
    microscope = build_microscope(config, data_dir=root, writer_capacity=writer_capacity)
    RE = MicroscopeRunEngine(microscope.owner, safe_state=microscope.safe_state)
    call_in_bluesky_event_loop(microscope.connect())
    storage = DurableStorage(root, client if forwarder else None)
    RE.subscribe_timed(storage, "spool")
    return Session(RE=RE, microscope=microscope, catalog=client, storage=storage, data_dir=root)
