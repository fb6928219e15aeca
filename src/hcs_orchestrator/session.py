"""A session: the RunEngine, the microscope and the catalog, wired together.

This is the one place that knows all the roles: the IPython profile, the command line
and the tests open a session the same way.

A session owns its data directory (:mod:`hcs_storage.owner`): a second session on the
same directory, in this process or another, is refused at once, before anything moves
or is written. Opening a session also closes the runs that a crashed process left open
(exit status ``"fail"``), and :meth:`Session.close` releases everything the session
started: the RunEngine's thread and event loop, the catalog's in-process server, the
forwarder and spool threads, the devices' threads, and the directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bluesky.run_engine import get_bluesky_event_loop, set_bluesky_event_loop

from hcs_devices.config import MicroscopeConfig, load_config
from hcs_devices.factory import Microscope, build_microscope
from hcs_orchestrator.engine import MicroscopeRunEngine
from hcs_orchestrator.paths import DEFAULT_CONFIG
from hcs_storage.catalog import close_catalog, hold_event_tables, open_catalog
from hcs_storage.durable_storage import DurableStorage
from hcs_storage.owner import DataDirOwner
from hcs_storage.spool import close_crashed_runs

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Longest wait for one step of closing a session on the RunEngine's loop (seconds).
CLOSE_STEP_TIMEOUT_S = 60.0


@dataclass
class Session:
    """Everything an acquisition needs, ready to use.

    Attributes:
        RE: the RunEngine that owns the microscope while it runs a plan.
        microscope: the devices.
        catalog: a Tiled client on the data directory's catalog (None in lab mode,
            where a Tiled server has it).
        storage: the durable document path: every document is appended to a local
            spool, which a forwarder drains into the catalog (rule 6).
        data_dir: the data directory.
        owner: the data directory's owner lock, held until :meth:`close`.
        closed_crashed_runs: uids of the runs a crashed process had left open, closed
            (exit status ``"fail"``) when this session opened.
        leftover_tasks: what was still running on the RunEngine's loop at close
            (cancelled there); empty when everything ended in order.
    """

    RE: MicroscopeRunEngine
    microscope: Microscope
    catalog: Any
    storage: DurableStorage
    data_dir: Path
    owner: DataDirOwner | None = None
    closed_crashed_runs: list[str] = field(default_factory=list)
    leftover_tasks: list[str] = field(default_factory=list)
    _owns_catalog: bool = field(default=False, repr=False)
    _closed: bool = field(default=False, repr=False)

    def flush(self, timeout_s: float | None = 60.0) -> bool:
        """Wait until the catalog holds every document emitted so far."""
        return self.storage.flush(timeout_s)

    def close(self) -> None:
        """Flush storage, put the microscope in its safe state and release everything.

        In order: a running plan is halted; storage is flushed (up to 60 s) and its
        threads stopped; the microscope is put in its safe state and its backends
        closed; the RunEngine's event loop is stopped and its thread joined; the catalog
        opened by :func:`open_session` is closed; the data directory is released. A
        step that fails is logged and the others still run; safe to call twice.
        """
        if self._closed:
            return
        self._closed = True
        loop = self.RE.loop
        try:
            if self.RE.state not in ("idle", "panicked"):
                with contextlib.suppress(Exception):  # it may end on its own meanwhile
                    self.RE.halt()
            with _logged("closing the document storage"):
                self.storage.close(60.0)
            if not loop.is_closed() and loop.is_running():
                with _logged("restoring the microscope's safe state"):
                    _on_loop(loop, self.microscope.safe_state())
                with _logged("closing the microscope"):
                    _on_loop(loop, self.microscope.aclose())
                with _logged("stopping the RunEngine's event loop"):
                    self.leftover_tasks = _stop_loop(self.RE)
        finally:
            if self._owns_catalog:
                with _logged("closing the catalog"):
                    close_catalog(self.catalog)
            if self.owner is not None:
                self.owner.release()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextlib.contextmanager
def _logged(step: str) -> Any:
    """Log (and swallow) an exception of one closing step, so the next steps still run."""
    try:
        yield
    except Exception:
        log.exception("%s failed while closing the session", step)


def _on_loop(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on ``loop`` (running in another thread) and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coro, loop).result(CLOSE_STEP_TIMEOUT_S)


def _stop_loop(RE: MicroscopeRunEngine) -> list[str]:
    """Cancel what is left on the RunEngine's loop, stop the loop, join its thread.

    Returns:
        A description of each task that was still running (and was cancelled).
    """
    loop = RE.loop

    async def cancel_leftovers() -> list[str]:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await loop.shutdown_default_executor()
        return [repr(t) for t in tasks]

    leftovers = _on_loop(loop, cancel_leftovers())
    if leftovers:
        log.warning("tasks left running on the RunEngine's loop were cancelled: %s", leftovers)
    loop.call_soon_threadsafe(loop.stop)
    RE._th.join(CLOSE_STEP_TIMEOUT_S)  # pyright: ignore[reportPrivateUsage]
    if not RE._th.is_alive():  # pyright: ignore[reportPrivateUsage]
        loop.close()
    if get_bluesky_event_loop() is loop:
        set_bluesky_event_loop(None)
    return leftovers


def open_session(
    config: MicroscopeConfig | str | Path | None = None,
    data_dir: str | Path = "hcs-data",
    *,
    catalog: Any | None = None,
    writer_capacity: int = 8,
    forwarder: bool = True,
    command: str | None = None,
) -> Session:
    """Take the data directory, build the microscope, connect it, open the catalog.

    The data directory is taken first (:class:`~hcs_storage.owner.DataDirOwner`), before
    anything moves or is written; then the runs a crashed process left open in its spool
    are closed with exit status ``"fail"`` (the forwarder takes them to the catalog).
    Close the session (:meth:`Session.close`, or use it as a context manager) to give
    everything back.

    Args:
        config: a configuration, or the path of a YAML file (the shipped simulated
            microscope by default).
        data_dir: where the catalog and the frames live.
        catalog: a Tiled client to write to instead of the data directory's
            embedded catalog (e.g. a Tiled server's); the caller closes it. With
            ``forwarder=False`` and no catalog, no catalog is opened at all
            (``Session.catalog`` is None): lab mode, where a Tiled server has the
            directory's catalog and the spool is the session's only output.
        writer_capacity: frames that may wait in memory for the disk.
        forwarder: run the forwarder in this process (embedded mode); False when a
            forwarder process drains the spool (lab mode: ``hcs
            forward``), and then ``flush`` waits on its progress.
        command: how the owner lock describes this session to a second one (this
            process's command line by default).

    Raises:
        hcs_storage.owner.DataDirInUseError: another session owns the data directory
            (the message names its process, command and start time).
        hcs_storage.catalog.EventTablesBusyError: another process (e.g. ``hcs serve``)
            has the directory's DuckDB event tables open, which the embedded catalog
            needs (the message names that process).
    """
    if not isinstance(config, MicroscopeConfig):
        config = load_config(config or DEFAULT_CONFIG)
    root = Path(data_dir).resolve()
    owner = DataDirOwner(root, command=command).acquire()
    client: Any = catalog
    RE: MicroscopeRunEngine | None = None
    microscope: Microscope | None = None
    try:
        closed = close_crashed_runs(root)
        if catalog is None and forwarder:
            client = open_catalog(root)
            hold_event_tables(root)
        microscope = build_microscope(config, data_dir=root, writer_capacity=writer_capacity)
        RE = MicroscopeRunEngine(microscope.owner, safe_state=microscope.safe_state)
        _on_loop(RE.loop, microscope.connect())
        storage = DurableStorage(root, client if forwarder else None)
    except BaseException:
        _abandon(RE, microscope)
        if catalog is None and client is not None:  # the embedded catalog opened here
            close_catalog(client)
        owner.release()
        raise
    RE.subscribe_timed(storage, "spool")
    return Session(
        RE=RE,
        microscope=microscope,
        catalog=client,
        storage=storage,
        data_dir=root,
        owner=owner,
        closed_crashed_runs=closed,
        _owns_catalog=catalog is None and client is not None,
    )


def _abandon(RE: MicroscopeRunEngine | None, microscope: Microscope | None) -> None:
    """Release what a session that failed to open had started."""
    if RE is None:
        if microscope is not None:
            with _logged("closing the microscope"):
                asyncio.run(microscope.aclose())
        return
    if microscope is not None:
        with _logged("closing the microscope"):
            _on_loop(RE.loop, microscope.aclose())
    with _logged("stopping the RunEngine's event loop"):
        _stop_loop(RE)
