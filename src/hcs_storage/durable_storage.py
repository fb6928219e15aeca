"""The RunEngine's durable storage: a spool it appends to, and a forwarder draining it."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from hcs_storage.forwarder import Forwarder
from hcs_storage.spool import ACK_SUFFIX, Document, SpoolWriter, read_ack, spool_dir


class DurableStorage:
    """The RunEngine's storage: a spool it appends to, and a forwarder draining it.

    Subscribe :attr:`spool` to the RunEngine. With ``client`` given, a forwarder thread
    feeds that catalog (embedded mode); without, a forwarder process does (lab mode)
    and :meth:`flush` waits on the acknowledgement files it writes.

    Args:
        data_dir: the data directory (the spool is ``DATA_DIR/spool``).
        client: the catalog to forward to in this process, or None.
        forwarder_options: passed to :class:`Forwarder`.
    """

    def __init__(self, data_dir: str | Path, client: Any | None = None, **forwarder_options: Any):
        self.directory = spool_dir(data_dir)
        self.forwarder: Forwarder | None = None
        if client is not None:
            self.forwarder = Forwarder(self.directory, client, **forwarder_options)
        notify = self.forwarder.notify if self.forwarder is not None else None
        self.spool = SpoolWriter(self.directory, on_append=notify)
        if self.forwarder is not None:
            self.forwarder.start()
        self._closed = False

    def __call__(self, name: str, doc: Document) -> None:
        """Spool one document (the RunEngine callback)."""
        self.spool(name, doc)

    def _acked(self, uid: str) -> int:
        if self.forwarder is not None:
            return self.forwarder.acked(uid)
        return read_ack((self.directory / uid).with_suffix(ACK_SUFFIX))["seq"]

    @property
    def backlog(self) -> int:
        """Documents spooled by this session that the catalog does not hold yet."""
        return sum(max(0, seq - self._acked(uid)) for uid, seq in list(self.spool.written.items()))

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until the catalog holds every document spooled so far; False on timeout."""
        targets = dict(self.spool.written)
        if self.forwarder is not None:
            return self.forwarder.wait_for(targets, timeout_s)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not all(self._acked(uid) >= seq for uid, seq in targets.items()):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            threading.Event().wait(0.05)
        return True

    def close(self, timeout_s: float | None = None) -> bool:
        """Give the forwarder up to ``timeout_s`` to catch up, then stop it.

        What it has not forwarded stays in the spool, for the next forwarder. In lab
        mode (no forwarder in this process) nothing is waited for.

        Returns:
            True when the catalog held everything at close.
        """
        if self._closed:
            return True
        self._closed = True
        # Lab mode: the forwarder process drains the spool whenever it can; no need to
        # wait for it here (the spool is durable).
        caught_up = self.flush(timeout_s if self.forwarder is not None else 0.0)
        self.spool.close()
        if self.forwarder is not None:
            self.forwarder.stop(timeout_s)
        return caught_up
