"""Lab mode: a process of its own forwarding a data directory's spool to a Tiled server.

Started by ``hcs forward``. It waits for the server (retrying with backoff), then
drains the spool until SIGTERM or SIGINT. While it still waits for the server (nothing
to finish yet), either signal ends it at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

from hcs_storage.forwarder import BACKOFF_INITIAL_S, BACKOFF_MAX_S, BATCH_DOCS, Forwarder
from hcs_storage.spool import spool_dir

log = logging.getLogger(__name__)


def connect_with_backoff(tiled_uri: str, api_key: str, *, backoff_max_s: float) -> Any:
    """A Tiled client of ``tiled_uri``, retrying with backoff until the server answers."""
    from tiled.client import from_uri

    backoff = BACKOFF_INITIAL_S
    while True:  # the server may not be up yet
        try:
            return from_uri(tiled_uri, api_key=api_key)
        except Exception as exc:
            log.warning(
                "Tiled at %s is not reachable (%s); retrying in %.1f s",
                tiled_uri,
                exc,
                backoff,
            )
            threading.Event().wait(backoff)
            backoff = min(backoff_max_s, backoff * 2)


def forward_until_stopped(
    data_dir: Path,
    tiled_uri: str,
    api_key: str,
    *,
    batch_docs: int = BATCH_DOCS,
    backoff_max_s: float = BACKOFF_MAX_S,
) -> None:
    """Forward ``data_dir``'s spool to ``tiled_uri`` until SIGTERM or SIGINT.

    Args:
        data_dir: the data directory (the spool is ``DATA_DIR/spool``).
        tiled_uri: the Tiled server, e.g. ``http://127.0.0.1:8000``.
        api_key: a key allowed to write to that server.
        batch_docs: documents per batch.
        backoff_max_s: the longest retry delay (seconds).
    """
    forwarder: Forwarder | None = None

    def stop(signum: int, frame: Any) -> None:
        if forwarder is None:  # still connecting (each attempt retries for seconds)
            raise SystemExit(0)
        forwarder.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    client = connect_with_backoff(tiled_uri, api_key, backoff_max_s=backoff_max_s)
    forwarder = Forwarder(
        spool_dir(data_dir), client, batch_docs=batch_docs, backoff_max_s=backoff_max_s
    )
    log.info("forwarding %s to %s", forwarder.directory, tiled_uri)
    forwarder.run_forever()
